//! `MESSAGE_BROKER=nats`: NATS JetStream through `async-nats`.
//!
//! - Subject `inventory.events.<event_type>`, value = the DESIGN §5 envelope JSON, headers
//!   `Nats-Msg-Id` = event id (the server drops a re-publish of the same id inside the stream's
//!   duplicate window), `seq` and `event_type`.
//! - The stream (`NATS_STREAM`, subjects `inventory.events.>`, file storage) is created when
//!   missing, before the first publish.
//! - A batch is pipelined: publishes are sent back to back and their acknowledgements awaited in
//!   order (at most [`ACK_WINDOW`] outstanding); an event counts as published only once the
//!   stream acknowledged it.
//! - The client connects in the background (`retry_on_initial_connect`) and reconnects forever,
//!   so the relay starts and backs off while NATS is down.
//! - Crash recovery, two layers: [`Publisher::already_published`] reads the stream's tail and
//!   returns exactly the pending events whose `seq` header it finds there (so they are marked,
//!   not resent, however old the crash); and anything resent anyway inside the duplicate window
//!   is dropped by the server thanks to `Nats-Msg-Id`.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};
use async_nats::jetstream::{self, ErrorCode};
use bytes::Bytes;
use clap::Args;
use futures::future::BoxFuture;
use inventory_shared::config::parse_duration;
use inventory_shared::outbox::StoredEvent;

use super::{BatchFailure, PublishError, Publisher};

/// Subject prefix of every event; the stream captures `inventory.events.>`.
pub const SUBJECT_PREFIX: &str = "inventory.events";

/// Most publishes awaiting their acknowledgement at once inside a batch.
pub const ACK_WINDOW: usize = 2048;

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

/// The subject an event is published on: `inventory.events.<event_type>`.
pub fn subject_for(event: &StoredEvent) -> String {
    format!("{SUBJECT_PREFIX}.{}", event.event_type)
}

/// Publishes to a JetStream stream.
pub struct NatsPublisher {
    settings: NatsSettings,
    /// Set on first use; the client then keeps (re)connecting by itself.
    context: Option<jetstream::Context>,
    /// Whether the stream is known to exist (checked or created once, again after a
    /// "no stream" answer).
    stream_ready: bool,
}

impl fmt::Debug for NatsPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsPublisher")
            .field("settings", &self.settings)
            .field("connected", &self.context.is_some())
            .field("stream_ready", &self.stream_ready)
            .finish()
    }
}

impl NatsPublisher {
    /// Builds the publisher; connects lazily (and in the background), so NATS being down does
    /// not stop the relay from starting.
    pub fn new(settings: &NatsSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !settings.nats_stream.trim().is_empty()
                && !settings.nats_stream.contains(['.', ' ', '*', '>']),
            "NATS_STREAM must be a non-empty name without `.`, spaces, `*` or `>`"
        );
        server_addrs(&settings.nats_url).map_err(anyhow::Error::msg)?;
        tracing::info!(
            url = %crate::config::mask_url_password(&settings.nats_url),
            stream = %settings.nats_stream,
            subjects = %format!("{SUBJECT_PREFIX}.>"),
            "NATS JetStream publisher ready; connects in the background"
        );
        Ok(Self {
            settings: settings.clone(),
            context: None,
            stream_ready: false,
        })
    }

    async fn context(&mut self) -> Result<jetstream::Context, PublishError> {
        if let Some(context) = &self.context {
            return Ok(context.clone());
        }
        let s = &self.settings;
        let mut options = async_nats::ConnectOptions::new()
            .name("inventory-relay")
            .retry_on_initial_connect()
            .max_reconnects(None)
            // The default grows to several seconds; after a broker restart the relay should
            // resume within about a second.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64).saturating_mul(100).min(1_000))
            })
            .connection_timeout(s.nats_timeout)
            .request_timeout(Some(s.nats_timeout));
        if let Some(path) = s.nats_creds_file.as_deref().filter(|p| !p.is_empty()) {
            options = options.credentials_file(path).await.map_err(|e| {
                PublishError::Transient(format!("reading NATS_CREDS_FILE {path}: {e}"))
            })?;
        }
        if let Some(token) = s.nats_token.clone().filter(|t| !t.is_empty()) {
            options = options.token(token);
        }
        if let (Some(user), Some(password)) = (s.nats_user.clone(), s.nats_password.clone()) {
            options = options.user_and_password(user, password);
        }
        let client = options
            .connect(server_addrs(&s.nats_url).map_err(PublishError::Transient)?)
            .await
            .map_err(|e| PublishError::Transient(format!("connecting to NATS: {e}")))?;
        let context = jetstream::ContextBuilder::new()
            .timeout(s.nats_timeout)
            .max_ack_inflight(ACK_WINDOW * 2)
            .build(client);
        self.context = Some(context.clone());
        Ok(context)
    }

    /// Creates the stream when missing (once; again after the server said it has none).
    async fn ensure_stream(&mut self) -> Result<jetstream::Context, PublishError> {
        let context = self.context().await?;
        if self.stream_ready {
            return Ok(context);
        }
        let config = StreamConfig {
            name: self.settings.nats_stream.clone(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            storage: StorageType::File,
            duplicate_window: self.settings.nats_duplicate_window,
            ..Default::default()
        };
        context.get_or_create_stream(config).await.map_err(|e| {
            PublishError::Transient(format!(
                "getting or creating stream {}: {e}",
                self.settings.nats_stream
            ))
        })?;
        self.stream_ready = true;
        Ok(context)
    }

    async fn publish_batch(&mut self, events: &[StoredEvent]) -> Result<(), BatchFailure> {
        if events.is_empty() {
            return Ok(());
        }
        let context = self.ensure_stream().await.map_err(|error| BatchFailure {
            published: 0,
            error,
        })?;

        let mut inflight: VecDeque<PublishAckFuture> =
            VecDeque::with_capacity(ACK_WINDOW.min(events.len()));
        // The acknowledged prefix; the first failure ends it. Events acknowledged after a
        // failure are resent with the failed one and dropped by the server as duplicates (same
        // Nats-Msg-Id).
        let mut acked = 0;
        let mut failure: Option<(usize, PublishError)> = None;
        let mut send_error = None;
        for event in events {
            if inflight.len() >= ACK_WINDOW
                && let Some(ack) = inflight.pop_front()
            {
                match ack.await {
                    Ok(_) => acked += 1,
                    Err(error) => {
                        failure = Some((acked, classify(&error)));
                        break;
                    }
                }
            }
            let message = jetstream::message::PublishMessage::build()
                .payload(Bytes::from(event.envelope_json()))
                .message_id(&event.id)
                .header("seq", event.seq.to_string().as_str())
                .header("event_type", event.event_type.as_str());
            match context.send_publish(subject_for(event), message).await {
                Ok(ack) => inflight.push_back(ack),
                Err(error) => {
                    send_error = Some(classify(&error));
                    break;
                }
            }
        }
        // Await what is still in flight, in order, until the first failure. Each ack's timeout
        // starts when it is awaited, so after a failure (typically a lost connection) the rest
        // are dropped, not awaited one timeout after another; whichever of them were stored are
        // found by `already_published` or dropped by the server as duplicates on the retry.
        for ack in inflight {
            if failure.is_some() {
                break;
            }
            match ack.await {
                Ok(_) => acked += 1,
                Err(error) => failure = Some((acked, classify(&error))),
            }
        }
        // Everything sent was acknowledged, but the next event could not even be sent.
        if failure.is_none()
            && let Some(error) = send_error
        {
            failure = Some((acked, error));
        }
        match failure {
            None => Ok(()),
            Some((published, error)) => {
                if error_means_no_stream(&error) {
                    self.stream_ready = false;
                }
                tracing::warn!(published, error = %error, "NATS batch not fully acknowledged");
                Err(BatchFailure { published, error })
            }
        }
    }

    async fn find_already_published(
        &mut self,
        pending: &[StoredEvent],
    ) -> Result<Vec<i64>, PublishError> {
        let Some(first) = pending.first() else {
            return Ok(Vec::new());
        };
        let min_seq = first.seq;
        let wanted: HashSet<i64> = pending.iter().map(|e| e.seq).collect();
        let context = self.ensure_stream().await?;
        let mut stream = context
            .get_stream(&self.settings.nats_stream)
            .await
            .map_err(|e| {
                PublishError::Transient(format!(
                    "reading stream {}: {e}",
                    self.settings.nats_stream
                ))
            })?;
        let info = stream
            .info()
            .await
            .map_err(|e| PublishError::Transient(format!("reading stream info: {e}")))?;
        let (first_stream_seq, mut stream_seq) =
            (info.state.first_sequence, info.state.last_sequence);

        // Walk back from the newest message while it holds events at or after the oldest
        // pending one. The relay publishes in `seq` order, so the pending events the stream
        // holds are all in its tail. Bounded, in case foreign messages share the subjects.
        let limit = pending.len() * 2 + 100;
        let mut found = Vec::new();
        let mut scanned = 0;
        while stream_seq >= first_stream_seq.max(1) && scanned < limit {
            scanned += 1;
            let message = match stream.get_raw_message(stream_seq).await {
                Ok(message) => message,
                Err(e)
                    if matches!(
                        e.kind(),
                        async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound
                    ) =>
                {
                    stream_seq -= 1;
                    continue;
                }
                Err(e) => {
                    return Err(PublishError::Transient(format!(
                        "reading stream message {stream_seq}: {e}"
                    )));
                }
            };
            stream_seq -= 1;
            let Some(seq) = message
                .headers
                .get("seq")
                .and_then(|v| v.as_str().parse::<i64>().ok())
            else {
                continue;
            };
            if seq < min_seq {
                break;
            }
            if wanted.contains(&seq) {
                found.push(seq);
            }
        }
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            tracing::info!(
                count = found.len(),
                "events already in the NATS stream (published before a restart)"
            );
        }
        Ok(found)
    }
}

impl Publisher for NatsPublisher {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn publish<'a>(
        &'a mut self,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(self.publish_batch(events))
    }

    fn already_published<'a>(
        &'a mut self,
        pending: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<Vec<i64>, PublishError>> {
        Box::pin(self.find_already_published(pending))
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async {
            // A stream info request: answers only when the server, JetStream and the stream
            // are all there (the stream is created on the first call if missing).
            let timeout = self.settings.nats_timeout.min(Duration::from_secs(2));
            let context = tokio::time::timeout(timeout, self.ensure_stream())
                .await
                .map_err(|_| PublishError::Transient("NATS did not answer in time".into()))??;
            match tokio::time::timeout(timeout, context.get_stream(&self.settings.nats_stream))
                .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => {
                    self.stream_ready = false;
                    Err(PublishError::Transient(format!(
                        "JetStream did not answer: {e}"
                    )))
                }
                Err(_) => Err(PublishError::Transient(
                    "NATS did not answer in time".into(),
                )),
            }
        })
    }
}

/// Parses `NATS_URL` (one URL or a comma-separated list).
fn server_addrs(urls: &str) -> Result<Vec<async_nats::ServerAddr>, String> {
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

/// JetStream answers that say nothing about the message itself: retried, never parked.
const TRANSIENT_CODES: [ErrorCode; 12] = [
    ErrorCode::ACCOUNT_RESOURCES_EXCEEDED,
    ErrorCode::INSUFFICIENT_RESOURCES,
    ErrorCode::MEMORY_RESOURCES_EXCEEDED,
    ErrorCode::STORAGE_RESOURCES_EXCEEDED,
    ErrorCode::STREAM_STORE_FAILED,
    ErrorCode::CLUSTER_NOT_AVAILABLE,
    ErrorCode::CLUSTER_NO_PEERS,
    ErrorCode::CLUSTER_NOT_LEADER,
    ErrorCode::CLUSTER_NOT_ACTIVE,
    ErrorCode::JETSTREAM_NOT_ENABLED,
    ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT,
    ErrorCode::STREAM_NOT_FOUND,
];

/// Rejected: the message is over the server's payload limit, or the stream answered with an
/// error about this message (e.g. larger than the stream's `max_msg_size`). Timeouts, "no
/// responders", lost connections and capacity problems are transient.
fn classify(error: &jetstream::context::PublishError) -> PublishError {
    let text = error.to_string();
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => PublishError::Rejected(text),
        PublishErrorKind::Other => {
            let server_error =
                std::error::Error::source(error).and_then(|s| s.downcast_ref::<jetstream::Error>());
            match server_error {
                Some(e) if !TRANSIENT_CODES.contains(&e.error_code()) => {
                    PublishError::Rejected(text)
                }
                _ => PublishError::Transient(text),
            }
        }
        PublishErrorKind::StreamNotFound => {
            PublishError::Transient(format!("no stream for the subject ({text})"))
        }
        _ => PublishError::Transient(text),
    }
}

fn error_means_no_stream(error: &PublishError) -> bool {
    matches!(error, PublishError::Transient(text) if text.starts_with("no stream"))
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

    #[test]
    fn timeouts_are_transient_and_oversized_messages_rejected() {
        let timed_out = jetstream::context::PublishError::new(PublishErrorKind::TimedOut);
        assert!(matches!(classify(&timed_out), PublishError::Transient(_)));
        let too_big = jetstream::context::PublishError::new(PublishErrorKind::MaxPayloadExceeded);
        assert!(matches!(classify(&too_big), PublishError::Rejected(_)));
        let no_stream = jetstream::context::PublishError::new(PublishErrorKind::StreamNotFound);
        assert!(error_means_no_stream(&classify(&no_stream)));
    }

    #[test]
    fn stream_names_with_dots_are_refused_at_start() {
        assert!(NatsPublisher::new(&NatsSettings::new("nats://x:4222", "a.b")).is_err());
        assert!(
            NatsPublisher::new(&NatsSettings::new("nats://x:4222", "INVENTORY_EVENTS")).is_ok()
        );
    }
}
