//! The reference event consumer: an availability read model fed by the inventory event
//! stream (Redis Streams, Kafka or NATS JetStream), served over HTTP.
//!
//! Module map:
//! - [`config`]: settings from env / flags / `.env` (the relay's broker variable names).
//! - [`event`]: parsing a received message (stream entry, envelope JSON, audit-log row).
//! - [`projection`]: the consumer's SQLite file: the read model, the inbox, the apply rules
//!   (exactly-once effect, per-row version order, gap detection).
//! - [`source`]: one broker subscription per kind, acknowledging after the local commit.
//! - [`audit`]: the API's audit log client and the catch-up that repairs gaps.
//! - [`pipeline`]: one step (receive, apply, repair, acknowledge) and the loop around it.
//! - [`http`]: `/availability`, `/health`, `/metrics`.
//! - [`metrics`]: Prometheus metrics, registered at start.
//! - [`rebuild`]: `inventory-consumer rebuild`, optionally from the API's events archive
//!   first ([`archive`] reads it).
//! - [`asyncapi`]: the AsyncAPI 3.0 document generated from the event types.
//!
//! [`Consumer::build`] opens the projection, the broker subscription and the listener;
//! [`Consumer::run`] consumes and serves until the shutdown token is cancelled.

pub mod archive;
pub mod asyncapi;
pub mod audit;
pub mod config;
pub mod event;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod projection;
pub mod rebuild;
pub mod source;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use tokio_util::sync::CancellationToken;

use crate::config::{BrokerKind, Settings};
use crate::pipeline::{Pipeline, Status};
use crate::projection::{Projection, Reader};
use crate::source::Source;

/// A built consumer: projection open, subscription configured, listener bound.
pub struct Consumer {
    settings: Settings,
    pipeline: Pipeline,
    state: http::HttpState,
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
}

impl Consumer {
    /// Opens the projection, builds the broker source and binds the HTTP listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let path = settings.database_path();
        let projection = Projection::open(&path)?;
        let last_seq = projection.last_seq()?;
        let reader = Reader::open(&path)?;
        let member = settings.member_name();
        let group = settings.consumer_group.clone();
        let source: Box<dyn Source> = match settings.message_broker {
            BrokerKind::Redis => Box::new(source::redis::RedisSource::new(
                &settings.redis,
                &group,
                &member,
                settings.consumer_claim_idle,
            )?),
            BrokerKind::Kafka => Box::new(source::kafka::KafkaSource::new(
                &settings.kafka,
                &group,
                &member,
            )?),
            BrokerKind::Nats => Box::new(source::nats::NatsSource::new(
                &settings.nats,
                &group,
                &member,
            )?),
        };
        let status = Arc::new(Status {
            broker: settings.message_broker.as_str(),
            broker_up: AtomicBool::new(false),
            last_seq: AtomicI64::new(last_seq),
            lag_us: AtomicI64::new(0),
        });
        let metrics = metrics::Metrics::new();
        metrics.last_seq.set(last_seq as f64);
        let audit = audit::AuditLog::new(&settings.api)?;
        let pipeline = Pipeline::new(
            source,
            Arc::new(Mutex::new(projection)),
            audit,
            metrics.clone(),
            status.clone(),
            settings.consumer_batch_size as usize,
        );
        let acceptor = TcpListener::bind(settings.consumer_http_addr)
            .into_acceptor()
            .await
            .with_context(|| {
                format!("binding CONSUMER_HTTP_ADDR {}", settings.consumer_http_addr)
            })?;
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("reading the bound address")?;
        tracing::info!(
            broker = settings.message_broker.as_str(),
            group = %group,
            member = %member,
            projection = %path.display(),
            last_seq,
            http = %local_addr,
            "consumer built"
        );
        Ok(Self {
            state: http::HttpState {
                reader: Arc::new(Mutex::new(reader)),
                status,
                metrics,
            },
            settings,
            pipeline,
            acceptor,
            local_addr,
        })
    }

    /// The address the HTTP server listens on (the real port when bound to 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Consumes and serves until `shutdown`; then stops both, waiting at most
    /// `CONSUMER_SHUTDOWN_TIMEOUT` for the HTTP server.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let consuming = tokio::spawn(self.pipeline.run(shutdown.child_token()));
        let server = poem::Server::new_with_acceptor(self.acceptor).run_with_graceful_shutdown(
            http::routes(self.state),
            shutdown.clone().cancelled_owned(),
            Some(self.settings.consumer_shutdown_timeout),
        );
        let served = tokio::spawn(server);
        let consumed = consuming.await;
        let served = served.await;
        tracing::info!(
            consumer = if consumed.is_ok() {
                "stopped"
            } else {
                "panicked"
            },
            http = match &served {
                Ok(Ok(())) => "stopped",
                Ok(Err(_)) => "failed",
                Err(_) => "panicked",
            },
            "consumer stopped"
        );
        consumed.context("consumer task")?;
        served.context("HTTP task")?.context("HTTP server")?;
        Ok(())
    }
}
