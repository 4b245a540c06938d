//! NATS JetStream through a durable pull consumer (`CONSUMER_GROUP` is its name) with
//! explicit acknowledgements, on the relay's stream (`NATS_STREAM`, subjects
//! `inventory.events.>`). Several processes bound to one durable share its messages.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, consumer::AckPolicy, consumer::DeliverPolicy, consumer::pull};
use futures::StreamExt;
use futures::future::BoxFuture;
use inventory_shared::broker::NatsConnection;

use super::{AckToken, Delivery, Source};
use crate::event::Incoming;

/// How long one pull waits for messages.
const EXPIRES: Duration = Duration::from_millis(1000);

/// Un-acknowledged messages are redelivered after this long.
const ACK_WAIT: Duration = Duration::from_secs(30);

/// A JetStream durable consumer.
pub struct NatsSource {
    settings: NatsConnection,
    durable: String,
    member: String,
    consumer: Option<jetstream::consumer::Consumer<pull::Config>>,
}

impl NatsSource {
    /// Builds the source; connects on first use.
    pub fn new(settings: &NatsConnection, durable: &str, member: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !durable.is_empty() && !durable.contains(['.', ' ', '*', '>']),
            "CONSUMER_GROUP must be a NATS consumer name (no `.`, spaces, `*` or `>`) with MESSAGE_BROKER=nats"
        );
        Ok(Self {
            settings: settings.clone(),
            durable: durable.to_owned(),
            member: member.to_owned(),
            consumer: None,
        })
    }

    async fn consumer(&mut self) -> anyhow::Result<jetstream::consumer::Consumer<pull::Config>> {
        if let Some(c) = &self.consumer {
            return Ok(c.clone());
        }
        let s = &self.settings;
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("inventory-consumer-{}", self.member))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(s.nats_timeout)
            .request_timeout(Some(s.nats_timeout));
        if let Some(path) = s.nats_creds_file.as_deref().filter(|p| !p.is_empty()) {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("reading NATS_CREDS_FILE {path}"))?;
        }
        if let Some(token) = s.nats_token.clone().filter(|t| !t.is_empty()) {
            options = options.token(token);
        }
        if let (Some(user), Some(password)) = (s.nats_user.clone(), s.nats_password.clone()) {
            options = options.user_and_password(user, password);
        }
        let servers: Vec<String> = s.nats_url.split(',').map(|u| u.trim().to_owned()).collect();
        let client = options
            .connect(servers)
            .await
            .context("connecting to NATS")?;
        let context = jetstream::new(client);
        let stream = context.get_stream(&s.nats_stream).await.with_context(|| {
            format!(
                "getting the stream {} (the relay creates it)",
                s.nats_stream
            )
        })?;
        let consumer = stream
            .get_or_create_consumer(
                &self.durable,
                pull::Config {
                    durable_name: Some(self.durable.clone()),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy: DeliverPolicy::All,
                    ack_wait: ACK_WAIT,
                    max_ack_pending: 20_000,
                    ..Default::default()
                },
            )
            .await
            .context("creating the durable consumer")?;
        self.consumer = Some(consumer.clone());
        Ok(consumer)
    }
}

impl Source for NatsSource {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, anyhow::Result<Vec<Delivery>>> {
        Box::pin(async move {
            let consumer = self.consumer().await?;
            let mut messages = consumer
                .batch()
                .max_messages(max)
                .expires(EXPIRES)
                .messages()
                .await
                .context("pulling from JetStream")?;
            let mut batch = Vec::new();
            while let Some(message) = messages.next().await {
                let message = message.map_err(|e| anyhow::anyhow!("JetStream message: {e}"))?;
                batch.push(Delivery {
                    event: Incoming::from_json(&message.payload),
                    ack: AckToken::Nats(Box::new(message)),
                });
            }
            Ok(batch)
        })
    }

    fn ack(&mut self, tokens: Vec<AckToken>) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            for token in tokens {
                if let AckToken::Nats(message) = token {
                    message
                        .ack()
                        .await
                        .map_err(|e| anyhow::anyhow!("acknowledging a JetStream message: {e}"))?;
                }
            }
            Ok(())
        })
    }
}
