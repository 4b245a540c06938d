//! [`Relay`]: build it from settings (opens the database, binds the HTTP port, builds the
//! publisher without connecting), then run it until a shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use inventory_shared::config::Engine;
use poem::listener::TcpAcceptor;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{BrokerKind, Settings};
use crate::http::{self, HttpState};
use crate::leader::{self, Elector};
use crate::metrics::Metrics;
use crate::publisher::{Publisher, kafka, nats, none, redis};
use crate::pump::{self, LoopSettings};
use crate::status::Status;
use crate::step::{PublishStep, StepSettings};
use crate::storage::Storage;

/// How often buffered histogram samples are folded into buckets when nobody scrapes.
const METRICS_UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A built relay, ready to run.
pub struct Relay {
    settings: Settings,
    /// The database connections (`DATABASE_URL` picks SQLite or PostgreSQL), closed after
    /// every task stopped.
    storage: Storage,
    step: PublishStep,
    /// Elects the one relay that publishes this database; the others wait as standbys.
    elector: Elector,
    metrics: Metrics,
    status: Arc<Status>,
    acceptor: TcpAcceptor,
    http_addr: SocketAddr,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("broker", &self.status.broker())
            .field("http_addr", &self.http_addr)
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// Opens the database `DATABASE_URL` names, SQLite or PostgreSQL (applying migrations:
    /// the relay may start before the API), binds
    /// `RELAY_HTTP_ADDR` and builds the publisher `MESSAGE_BROKER` names. Does not need the
    /// broker to be up.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let publisher = build_publisher(&settings)?;
        Self::build_with_publisher(settings, publisher).await
    }

    /// Like [`Relay::build`] with a given publisher (tests use doubles).
    pub async fn build_with_publisher(
        settings: Settings,
        publisher: Box<dyn Publisher>,
    ) -> anyhow::Result<Self> {
        let storage = Storage::open(&settings.database).await?;
        let listener = tokio::net::TcpListener::bind(settings.relay_http_addr)
            .await
            .with_context(|| {
                format!(
                    "RELAY_HTTP_ADDR: cannot listen on {}",
                    settings.relay_http_addr
                )
            })?;
        let http_addr = listener
            .local_addr()
            .context("reading the HTTP listener's address")?;
        let acceptor = TcpAcceptor::from_tokio(listener).context("setting up the HTTP listener")?;
        let metrics = Metrics::new()?;
        let status = Arc::new(Status::new(publisher.name()));
        let step_settings = StepSettings {
            batch_size: settings.relay_batch_size,
            max_attempts: settings.relay_max_attempts,
        };
        let (step, mut elector) = match &storage {
            Storage::Sqlite { marker, .. } => (
                PublishStep::new(
                    &settings.database.path(),
                    marker.clone(),
                    publisher,
                    step_settings,
                    metrics.clone(),
                    status.clone(),
                )
                .lingering_marks(),
                Elector::for_database(&settings.database),
            ),
            Storage::Postgres { session, .. } => (
                PublishStep::on_postgres(
                    session.clone(),
                    publisher,
                    step_settings,
                    metrics.clone(),
                    status.clone(),
                ),
                Elector::Postgres(session.clone()),
            ),
        };
        // The first election happens here, before `/health` can be asked: a lone relay never
        // shows as a standby, even for the first request. A lock file that cannot be opened
        // (a read-only folder) stops the start: such a relay could never mark anything either;
        // so does a PostgreSQL server that refuses the leadership session.
        if elector.try_acquire().await? {
            leader::became_leader(&metrics, &status);
        }
        Ok(Self {
            settings,
            storage,
            step,
            elector,
            metrics,
            status,
            acceptor,
            http_addr,
        })
    }

    /// The address `/metrics`, `/livez` and `/health` are served on (the real port when
    /// `RELAY_HTTP_ADDR` asked for port 0).
    pub fn local_http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Runs until `shutdown` is cancelled, then finishes the batch in flight and stops every
    /// task within `RELAY_SHUTDOWN_TIMEOUT`. Returns an error when a task failed or shutdown
    /// took too long.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            settings,
            storage,
            step,
            elector,
            metrics,
            status,
            acceptor,
            http_addr,
        } = self;
        tracing::info!(
            broker = settings.message_broker.as_str(),
            target = settings.broker_target(),
            database = %describe(&settings.database.engine()),
            http_addr = %http_addr,
            poll_interval = ?settings.relay_poll_interval,
            watch_interval = ?settings.relay_watch_interval,
            batch_size = settings.relay_batch_size,
            max_attempts = settings.relay_max_attempts,
            backoff_initial = ?settings.relay_backoff_initial,
            backoff_max = ?settings.relay_backoff_max,
            shutdown_timeout = ?settings.relay_shutdown_timeout,
            stuck_after = ?settings.relay_stuck_after,
            "relay starting"
        );
        // Our own token: a task that fails stops the others without touching the caller's.
        let token = shutdown.child_token();
        let wake = Arc::new(Notify::new());
        let mut tasks: Vec<(&'static str, JoinHandle<anyhow::Result<()>>)> = Vec::new();

        let watcher = match &storage {
            Storage::Sqlite { .. } => tokio::spawn(crate::watch::watch_commits(
                settings.database.clone(),
                settings.relay_watch_interval,
                wake.clone(),
                token.clone(),
            )),
            Storage::Postgres { pool, .. } => tokio::spawn(crate::watch::listen(
                pool.clone(),
                wake.clone(),
                token.clone(),
            )),
        };
        tasks.push(("watcher", watcher));
        let loop_settings = LoopSettings {
            poll_interval: settings.relay_poll_interval,
            backoff: settings.backoff(),
        };
        let (m, s, t) = (metrics.clone(), status.clone(), token.clone());
        tasks.push((
            "publisher",
            tokio::spawn(async move {
                // A standby waits here; the step it then runs starts by reconciling with the
                // broker, exactly like a restarted relay's.
                let Some(elector) = leader::lead(elector, &m, &s, &t).await else {
                    return Ok(());
                };
                pump::run(step, loop_settings, wake, elector, m, s, t).await;
                Ok(())
            }),
        ));
        let app = http::routes(HttpState {
            reader: storage.reader(),
            metrics: metrics.clone(),
            status,
            stuck_after: settings.relay_stuck_after,
        });
        let t = token.clone();
        tasks.push((
            "http",
            tokio::spawn(async move {
                poem::Server::new_with_acceptor(acceptor)
                    .run_with_graceful_shutdown(
                        app,
                        t.cancelled_owned(),
                        Some(Duration::from_secs(1)),
                    )
                    .await
                    .context("serving HTTP")
            }),
        ));
        let (m, t) = (metrics, token.clone());
        tasks.push((
            "metrics-upkeep",
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(METRICS_UPKEEP_INTERVAL);
                loop {
                    tokio::select! {
                        () = t.cancelled() => return Ok(()),
                        _ = ticker.tick() => m.run_upkeep(),
                    }
                }
            }),
        ));

        // Until shutdown, or until a task ends on its own (which only happens on failure).
        let early_exit = {
            let finished = futures::future::select_all(tasks.iter_mut().map(|(_, h)| h));
            tokio::select! {
                // Shutdown first: once the token fires, tasks end normally and race this select.
                biased;
                () = token.cancelled() => None,
                (result, index, _) = finished => Some((index, result)),
            }
        };
        token.cancel();
        let mut failure = None;
        if let Some((index, result)) = early_exit {
            let (name, _) = tasks.remove(index);
            failure = report(name, result);
            // A task that ended cleanly because shutdown was requested meanwhile is no failure.
            if failure.is_none() && !shutdown.is_cancelled() {
                failure = Some(anyhow::anyhow!("the {name} task stopped unexpectedly"));
            }
        }
        let deadline = tokio::time::Instant::now() + settings.relay_shutdown_timeout;
        for (name, mut handle) in tasks {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(result) => {
                    if let Some(e) = report(name, result) {
                        failure.get_or_insert(e);
                    }
                }
                Err(_) => {
                    handle.abort();
                    tracing::error!(
                        task = name,
                        "task did not stop within RELAY_SHUTDOWN_TIMEOUT; aborted"
                    );
                    failure.get_or_insert_with(|| {
                        anyhow::anyhow!("shutdown timed out waiting for the {name} task")
                    });
                }
            }
        }
        storage.close().await;
        match failure {
            None => {
                tracing::info!("relay stopped");
                Ok(())
            }
            Some(e) => Err(e),
        }
    }
}

/// Builds the publisher named by `MESSAGE_BROKER`. Never fails because the broker is down:
/// connecting happens lazily inside `publish`, so the relay starts and backs off instead.
pub fn build_publisher(settings: &Settings) -> anyhow::Result<Box<dyn Publisher>> {
    Ok(match settings.message_broker {
        BrokerKind::Redis => Box::new(redis::RedisPublisher::new(&settings.redis)?),
        BrokerKind::Kafka => Box::new(kafka::KafkaPublisher::new(&settings.kafka)?),
        BrokerKind::Nats => Box::new(nats::NatsPublisher::new(&settings.nats)?),
        BrokerKind::None => Box::new(none::NonePublisher),
    })
}

/// The database, for the start-up log line (a PostgreSQL URL without its password).
fn describe(engine: &Engine) -> String {
    match engine {
        Engine::Sqlite(path) => path.display().to_string(),
        Engine::Postgres(url) => url.to_string(),
    }
}

/// Logs how a task ended; returns its error, if any.
fn report(
    name: &'static str,
    result: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> Option<anyhow::Error> {
    match result {
        Ok(Ok(())) => {
            tracing::debug!(task = name, "task stopped");
            None
        }
        Ok(Err(e)) => {
            tracing::error!(task = name, error = format!("{e:#}"), "task failed");
            Some(e)
        }
        Err(e) => {
            tracing::error!(task = name, error = %e, "task panicked or was cancelled");
            Some(anyhow::anyhow!("the {name} task panicked: {e}"))
        }
    }
}
