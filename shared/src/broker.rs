//! Where the events are and how to reach them: the Redis, Kafka and NATS settings that the
//! relay (which publishes) and the consumer (which reads) both take, under the same variable
//! names, so that one `.env` configures both ends of the pipe.
//!
//! Each struct is a `clap` argument group that the binaries flatten into their settings; the
//! relay puts its publisher-only knobs beside it (`REDIS_STREAM_MAXLEN`, `KAFKA_TIMEOUT`,
//! `NATS_DUPLICATE_WINDOW`). Their `Debug` never prints a secret (a password or token shows
//! as `<redacted>`, a password inside a URL as `***`), so settings may be logged whole: this is
//! the one definition because two copies had drifted, one redacting and one not.

use std::fmt;
use std::time::Duration;

use clap::Args;

use crate::config::parse_duration;

/// What a password or token prints as.
pub const REDACTED: &str = "<redacted>";

/// `Some("<redacted>")` for a secret that is set, `None` for one that is not: `Debug` still
/// tells whether it was given.
fn redacted(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| REDACTED)
}

/// Replaces the password of a URL (`scheme://user:password@host/...`) with `***`, so the URL can
/// be logged; for NATS (`nats://`, `tls://`, `ws://`, `wss://`) a lone user part is a token
/// (`nats://TOKEN@host`) and is masked too. URLs without a password come back unchanged.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{path}"),
        None if matches!(
            scheme.to_ascii_lowercase().as_str(),
            "nats" | "tls" | "ws" | "wss"
        ) =>
        {
            format!("{scheme}://***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Redis: the server and the stream (`MESSAGE_BROKER=redis`).
#[derive(Clone, Args)]
pub struct RedisConnection {
    /// Full Redis URL (`redis://[:password@]host:port[/db]`, `rediss://` not supported);
    /// overrides REDIS_HOST and REDIS_PORT.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Redis host, used when REDIS_URL is not set.
    #[arg(long, env = "REDIS_HOST", default_value = "127.0.0.1")]
    pub redis_host: String,

    /// Redis port, used when REDIS_URL is not set.
    #[arg(long, env = "REDIS_PORT", default_value_t = 6379)]
    pub redis_port: u16,

    /// The stream the relay appends the events to and the consumer reads.
    #[arg(long, env = "REDIS_STREAM", default_value = "inventory-events")]
    pub redis_stream: String,

    /// Connect and reply timeout; a slower answer counts as the broker being down.
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub redis_timeout: Duration,
}

impl RedisConnection {
    /// The URL to connect to. It may hold a password: log [`Self::url_for_logs`] instead.
    pub fn url(&self) -> String {
        match &self.redis_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_owned(),
            _ => format!("redis://{}:{}", self.redis_host, self.redis_port),
        }
    }

    /// [`Self::url`] with its password masked.
    pub fn url_for_logs(&self) -> String {
        mask_url_password(&self.url())
    }
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field(
                "redis_url",
                &self.redis_url.as_deref().map(mask_url_password),
            )
            .field("redis_host", &self.redis_host)
            .field("redis_port", &self.redis_port)
            .field("redis_stream", &self.redis_stream)
            .field("redis_timeout", &self.redis_timeout)
            .finish()
    }
}

/// Kafka (any Kafka-protocol broker): the brokers, the topic and how to log in
/// (`MESSAGE_BROKER=kafka`).
#[derive(Clone, Args)]
pub struct KafkaConnection {
    /// Bootstrap brokers, comma-separated `host:port`.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    pub kafka_brokers: String,

    /// Topic the relay writes the events to and the consumer reads. It must exist (or the
    /// broker must auto-create it).
    #[arg(long, env = "KAFKA_TOPIC", default_value = "inventory-events")]
    pub kafka_topic: String,

    /// `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` [default: plaintext].
    #[arg(long, env = "KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,

    /// `sasl.mechanism`, e.g. `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    #[arg(long, env = "KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,

    /// SASL user name.
    #[arg(long, env = "KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,

    /// SASL password (never logged).
    #[arg(long, env = "KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,

    /// CA certificate file (PEM) to verify the brokers' TLS certificates.
    #[arg(long, env = "KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<String>,
}

impl KafkaConnection {
    /// Brokers and topic as given, no TLS, no SASL.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            kafka_brokers: brokers.into(),
            kafka_topic: topic.into(),
            kafka_security_protocol: None,
            kafka_sasl_mechanism: None,
            kafka_sasl_username: None,
            kafka_sasl_password: None,
            kafka_ssl_ca_location: None,
        }
    }

    /// The librdkafka properties these settings make: `bootstrap.servers`, then each optional
    /// one that is set and not blank (trimmed). Producer and consumer add their own on top.
    pub fn client_properties(&self) -> Vec<(&'static str, &str)> {
        let optional = [
            ("security.protocol", &self.kafka_security_protocol),
            ("sasl.mechanism", &self.kafka_sasl_mechanism),
            ("sasl.username", &self.kafka_sasl_username),
            ("sasl.password", &self.kafka_sasl_password),
            ("ssl.ca.location", &self.kafka_ssl_ca_location),
        ];
        let set = optional.into_iter().filter_map(|(key, value)| {
            let value = value.as_deref().map(str::trim)?;
            (!value.is_empty()).then_some((key, value))
        });
        std::iter::once(("bootstrap.servers", self.kafka_brokers.as_str()))
            .chain(set)
            .collect()
    }
}

impl fmt::Debug for KafkaConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConnection")
            .field("kafka_brokers", &self.kafka_brokers)
            .field("kafka_topic", &self.kafka_topic)
            .field("kafka_security_protocol", &self.kafka_security_protocol)
            .field("kafka_sasl_mechanism", &self.kafka_sasl_mechanism)
            .field("kafka_sasl_username", &self.kafka_sasl_username)
            .field("kafka_sasl_password", &redacted(&self.kafka_sasl_password))
            .field("kafka_ssl_ca_location", &self.kafka_ssl_ca_location)
            .finish()
    }
}

/// NATS JetStream: the servers, the stream and how to log in (`MESSAGE_BROKER=nats`).
#[derive(Clone, Args)]
pub struct NatsConnection {
    /// Server URL(s), comma-separated.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,

    /// JetStream stream holding the events (subjects `inventory.events.>`); the relay creates
    /// it when missing.
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

    /// Connect and request timeout: how long a publish's acknowledgement or a JetStream API
    /// answer may take before it counts as failed.
    #[arg(long, env = "NATS_TIMEOUT", default_value = "5s", value_parser = parse_duration)]
    pub nats_timeout: Duration,
}

impl NatsConnection {
    /// URL(s) and stream as given, no credentials, the default timeout.
    pub fn new(url: impl Into<String>, stream: impl Into<String>) -> Self {
        Self {
            nats_url: url.into(),
            nats_stream: stream.into(),
            nats_creds_file: None,
            nats_token: None,
            nats_user: None,
            nats_password: None,
            nats_timeout: Duration::from_secs(5),
        }
    }

    /// `NATS_URL` with any password in it masked.
    pub fn url_for_logs(&self) -> String {
        self.nats_url
            .split(',')
            .map(mask_url_password)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl fmt::Debug for NatsConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsConnection")
            .field("nats_url", &self.url_for_logs())
            .field("nats_stream", &self.nats_stream)
            .field("nats_creds_file", &self.nats_creds_file)
            .field("nats_token", &redacted(&self.nats_token))
            .field("nats_user", &self.nats_user)
            .field("nats_password", &redacted(&self.nats_password))
            .field("nats_timeout", &self.nats_timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The three groups flattened as the binaries flatten them.
    #[derive(Debug, Parser)]
    struct All {
        #[command(flatten)]
        redis: RedisConnection,
        #[command(flatten)]
        kafka: KafkaConnection,
        #[command(flatten)]
        nats: NatsConnection,
    }

    fn parse(args: &[&str]) -> All {
        All::try_parse_from(std::iter::once("test").chain(args.iter().copied())).expect("parses")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let all = parse(&[]);
        assert_eq!(all.redis.url(), "redis://127.0.0.1:6379");
        assert_eq!(all.redis.redis_stream, "inventory-events");
        assert_eq!(all.redis.redis_timeout, Duration::from_secs(5));
        assert_eq!(all.kafka.kafka_brokers, "localhost:9092");
        assert_eq!(all.kafka.kafka_topic, "inventory-events");
        assert_eq!(all.nats.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(all.nats.nats_stream, "INVENTORY_EVENTS");
        assert_eq!(all.nats.nats_timeout, Duration::from_secs(5));
    }

    #[test]
    fn no_secret_is_printed_and_the_rest_is() {
        let all = parse(&[
            "--redis-url",
            "redis://app:redis-pw@cache:6380/2",
            "--kafka-sasl-username",
            "relay",
            "--kafka-sasl-password",
            "kafka-pw",
            "--nats-url",
            "nats://a:4222,nats://u:nats-url-pw@b:4222",
            "--nats-token",
            "nats-token",
            "--nats-password",
            "nats-pw",
        ]);
        let printed = format!("{all:?}");
        for secret in [
            "redis-pw",
            "kafka-pw",
            "nats-url-pw",
            "nats-token",
            "nats-pw",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        for shown in [
            "redis://app:***@cache:6380/2",
            "nats://a:4222,nats://u:***@b:4222",
            "relay",
            REDACTED,
        ] {
            assert!(printed.contains(shown), "{shown} not in {printed}");
        }
    }

    #[test]
    fn kafka_properties_skip_what_is_unset_or_blank() {
        let mut kafka = KafkaConnection::new("b:9092", "t");
        kafka.kafka_sasl_mechanism = Some(" PLAIN ".into());
        kafka.kafka_sasl_password = Some("  ".into());
        assert_eq!(
            kafka.client_properties(),
            [("bootstrap.servers", "b:9092"), ("sasl.mechanism", "PLAIN")]
        );
    }

    #[test]
    fn passwords_are_masked_and_nothing_else_changes() {
        assert_eq!(
            mask_url_password("redis://:s3cret@cache:6380/2"),
            "redis://:***@cache:6380/2"
        );
        assert_eq!(
            mask_url_password("rediss://app:p@ss@cache/0"),
            "rediss://app:***@cache/0"
        );
        assert_eq!(
            mask_url_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(mask_url_password("redis://user@host"), "redis://user@host");
        assert_eq!(
            mask_url_password("nats://s3cr3t-token@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(mask_url_password("not a url"), "not a url");
    }
}
