//! `NATS_*` settings of the NATS publisher, and parsing `NATS_URL`.

use std::fmt;
use std::time::Duration;

use clap::Args;
use inventory_shared::config::parse_duration;

/// NATS connection settings.
#[derive(Clone, Args)]
pub struct NatsSettings {
    /// Server URL(s), comma-separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// JetStream stream the events are stored in; created (subjects `inventory.events.>`) when missing.
    #[arg(long, env = "NATS_STREAM", default_value = "INVENTORY_EVENTS")]
    pub nats_stream: String,

    /// Credentials file (`.creds`, JWT + NKey seed).
    #[arg(long, env = "NATS_CREDS_FILE")]
    pub nats_creds_file: Option<String>,

    /// Authentication token (never logged).
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,

    /// User name (with `NATS_PASSWORD`).
    #[arg(long, env = "NATS_USER")]
    pub nats_user: Option<String>,

    /// Password (never logged).
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true)]
    pub nats_password: Option<String>,

    /// How long a publish waits for the stream's acknowledgement before the batch fails and is
    /// retried with backoff.
    #[arg(long, env = "NATS_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub nats_timeout: Duration,

    /// Duplicate window of a stream the relay creates: a re-publish of an event id within it is
    /// dropped by the server.
    #[arg(long, env = "NATS_DUPLICATE_WINDOW", default_value = "2m", value_parser = parse_duration)]
    pub nats_duplicate_window: Duration,
}

impl fmt::Debug for NatsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("NatsSettings")
            .field("nats_url", &self.nats_url)
            .field("nats_stream", &self.nats_stream)
            .field("nats_creds_file", &self.nats_creds_file)
            .field("nats_token", &redacted(&self.nats_token))
            .field("nats_user", &self.nats_user)
            .field("nats_password", &redacted(&self.nats_password))
            .field("nats_timeout", &self.nats_timeout)
            .field("nats_duplicate_window", &self.nats_duplicate_window)
            .finish()
    }
}

impl NatsSettings {
    /// Settings for `url` and `stream`, everything else at its default.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            nats_url: url.into(),
            nats_stream: stream.into(),
            nats_creds_file: None,
            nats_token: None,
            nats_user: None,
            nats_password: None,
            nats_timeout: Duration::from_secs(5),
            nats_duplicate_window: Duration::from_secs(120),
        }
    }
}

/// Parses `NATS_URL` (one URL or a comma-separated list).
pub(super) fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
    let addrs = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .map_err(|e| format!("NATS_URL: `{u}` is not a NATS URL: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err("NATS_URL must name at least one server".to_owned());
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let mut settings = NatsSettings::new("nats://x:4222", "S");
        settings.nats_token = Some("tok-secret".into());
        settings.nats_password = Some("pw-secret".into());
        let printed = format!("{settings:?}");
        assert!(
            !printed.contains("tok-secret") && !printed.contains("pw-secret"),
            "{printed}"
        );
    }
}
