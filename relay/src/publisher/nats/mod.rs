//! `MESSAGE_BROKER=nats`: NATS JetStream through `async-nats`.
//!
//! - Subject `inventory.events.<event_type>`, value = the envelope JSON (`docs/architecture.md`, "Event schema"), headers
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
//!   returns the `seq` headers at or above the oldest pending event it finds there (so those
//!   events are marked, not resent, however old the crash); and anything resent anyway inside the duplicate window
//!   is dropped by the server thanks to `Nats-Msg-Id`.
//!
//! Files: [`settings`] (`NATS_*`: the shared connection and `NATS_DUPLICATE_WINDOW`), `stream` (connecting, creating the stream), `publish` (a
//! pipelined batch), `tail` (crash recovery), `errors` (transient or rejected).

use std::fmt;
use std::time::Duration;

use async_nats::jetstream;
use futures::future::BoxFuture;
use inventory_shared::outbox::StoredEvent;

use super::{BatchFailure, PublishError, Publisher};

mod errors;
mod publish;
pub mod settings;
mod stream;
mod tail;

pub use settings::NatsSettings;

/// Subject prefix of every event; the stream captures `inventory.events.>`.
pub const SUBJECT_PREFIX: &str = "inventory.events";

/// Most publishes awaiting their acknowledgement at once inside a batch.
pub const ACK_WINDOW: usize = 2048;

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
        let connection = &settings.connection;
        anyhow::ensure!(
            !connection.nats_stream.trim().is_empty()
                && !connection.nats_stream.contains(['.', ' ', '*', '>']),
            "NATS_STREAM must be a non-empty name without `.`, spaces, `*` or `>`"
        );
        settings::server_addrs(&connection.nats_url).map_err(anyhow::Error::msg)?;
        tracing::info!(
            url = %connection.url_for_logs(),
            stream = %connection.nats_stream,
            subjects = %format!("{SUBJECT_PREFIX}.>"),
            "NATS JetStream publisher ready; connects in the background"
        );
        Ok(Self {
            settings: settings.clone(),
            context: None,
            stream_ready: false,
        })
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

    fn already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>> {
        Box::pin(self.find_already_published(oldest, window))
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async {
            // A stream info request: answers only when the server, JetStream and the stream
            // are all there (the stream is created on the first call if missing).
            let timeout = self
                .settings
                .connection
                .nats_timeout
                .min(Duration::from_secs(2));
            let context = tokio::time::timeout(timeout, self.ensure_stream())
                .await
                .map_err(|_| PublishError::Transient("NATS did not answer in time".into()))??;
            match tokio::time::timeout(
                timeout,
                context.get_stream(&self.settings.connection.nats_stream),
            )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_with_dots_are_refused_at_start() {
        assert!(NatsPublisher::new(&NatsSettings::new("nats://x:4222", "a.b")).is_err());
        assert!(
            NatsPublisher::new(&NatsSettings::new("nats://x:4222", "INVENTORY_EVENTS")).is_ok()
        );
    }
}
