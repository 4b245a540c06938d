//! Connecting to NATS (in the background, reconnecting forever) and making sure the stream
//! exists before the first publish.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};

use super::settings::server_addrs;
use super::{ACK_WINDOW, NatsPublisher, SUBJECT_PREFIX};
use crate::publisher::PublishError;

impl NatsPublisher {
    pub(super) async fn context(&mut self) -> Result<jetstream::Context, PublishError> {
        if let Some(context) = &self.context {
            return Ok(context.clone());
        }
        let s = &self.settings.connection;
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
    pub(super) async fn ensure_stream(&mut self) -> Result<jetstream::Context, PublishError> {
        let context = self.context().await?;
        if self.stream_ready {
            return Ok(context);
        }
        let config = StreamConfig {
            name: self.settings.connection.nats_stream.clone(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            storage: StorageType::File,
            duplicate_window: self.settings.nats_duplicate_window,
            ..Default::default()
        };
        context.get_or_create_stream(config).await.map_err(|e| {
            PublishError::Transient(format!(
                "getting or creating stream {}: {e}",
                self.settings.connection.nats_stream
            ))
        })?;
        self.stream_ready = true;
        Ok(context)
    }
}
