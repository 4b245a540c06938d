//! The NATS publisher's settings (the shared `NATS_*` connection plus `NATS_DUPLICATE_WINDOW`),
//! and parsing `NATS_URL`.

use std::time::Duration;

use clap::Args;
use inventory_shared::broker::NatsConnection;
use inventory_shared::config::parse_duration;

/// NATS settings of the relay: where to publish, and the duplicate window of a stream it creates.
#[derive(Debug, Clone, Args)]
pub struct NatsSettings {
    /// Servers, stream and credentials (the same variables the consumer reads).
    #[command(flatten)]
    pub connection: NatsConnection,

    /// Duplicate window of a stream the relay creates: a re-publish of an event id within it is
    /// dropped by the server.
    #[arg(long, env = "NATS_DUPLICATE_WINDOW", default_value = "2m", value_parser = parse_duration)]
    pub nats_duplicate_window: Duration,
}

impl NatsSettings {
    /// Settings for `url` and `stream`, everything else at its default.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            connection: NatsConnection::new(url, stream),
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
            u.parse::<async_nats::ServerAddr>().map_err(|e| {
                let shown = inventory_shared::broker::mask_url_password(u);
                format!("NATS_URL: `{shown}` is not a NATS URL: {e}")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if addrs.is_empty() {
        return Err("NATS_URL must name at least one server".to_owned());
    }
    Ok(addrs)
}
