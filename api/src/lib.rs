//! The inventory HTTP API.
//!
//! Module map, from the top layer down (every import points down; `tests/layering.rs` holds
//! the order and `docs/architecture.md` draws it):
//! - [`http`]: routes (one module per resource), the request-body checker, auth, the spec, and
//!   [`http::error`], the one place an error becomes an RFC 9457 problem response.
//! - Background tasks and one-off jobs: [`expiry`] (expires due reservations), [`key_purge`]
//!   (purges expired idempotency keys), [`retention`] (deletes, and archives, rows past their
//!   retention period and returns their space), [`demo`] (`--seed-demo` sample data),
//!   [`backup`] (`inventory-api backup PATH`, an online copy of the database).
//! - [`tasks`]: the ticker loop the background tasks share.
//! - [`state`]: [`state::AppState`], the handles every part shares.
//! - [`writer`]: the one writer connection and its group commit, on either backend
//!   ([`writer::Writer`]); [`reads`]: every read, on either backend ([`reads::Reads`]).
//! - [`metrics`]: Prometheus metrics.
//! - [`ops`]: the inventory operations: the rules, every write written against [`store::Tx`]
//!   (no SQL), each appending its event in the same transaction, and their domain error
//!   [`ops::OpError`]; the lists and stats are still sqlx statements on SQLite. Nothing under
//!   `ops` knows HTTP.
//! - [`store`]: the storage seam: [`store::Tx`], what a rule needs from a write transaction,
//!   with one implementation per backend: [`store::sqlite::SqliteTx`] (today's statements) and
//!   [`store::postgres::PgTx`] (a batch's unit of work). Below `ops`, which uses the trait;
//!   above `domain`, whose types the trait takes and returns.
//! - [`config`]: settings from env / flags / `.env`; [`keys`]: the API keys it parses.
//! - [`domain`]: the parsed values the operations take and the typed rows they return (ids,
//!   quantities, statuses); it knows neither HTTP nor a database driver (the spec's schemas of
//!   these types are in `http::types`, their row mapping with their statements in `store::sqlite`
//!   or `ops`).
//!
//! [`Application::build`] opens the database `DATABASE_URL` names (its scheme picks SQLite or
//! PostgreSQL, once) and binds the listener; [`Application::run`]
//! serves until the shutdown token is cancelled, then stops the background tasks (expiry,
//! retention, key purge) and the writer.

pub mod backup;
pub mod config;
pub mod demo;
pub mod domain;
pub mod expiry;
pub mod http;
pub mod key_purge;
pub mod keys;
pub mod metrics;
pub mod ops;
pub mod reads;
pub mod retention;
pub mod state;
pub mod store;
pub mod tasks;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use inventory_shared::db;
use poem::Server;
use poem::listener::{Acceptor, Listener, TcpListener};
use tokio_util::sync::CancellationToken;

use inventory_shared::config::Engine;
use sqlx::Connection;

use crate::config::Settings;
use crate::reads::Reads;
use crate::state::AppState;
use crate::writer::{PgWriter, SqliteWriter, Writer, WriterThread};

/// A built API: database open, migrations applied, listener bound.
pub struct Application {
    settings: Settings,
    state: AppState,
    keys: Arc<keys::ApiKeys>,
    acceptor: poem::listener::TcpAcceptor,
    local_addr: SocketAddr,
    writer_thread: WriterThread,
    retention: retention::Retention,
}

impl Application {
    /// Migrates the database, opens its connections (the read pool, the writer thread, the
    /// point reader), seeds demo data when asked, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let keys = Arc::new(settings.keys()?);
        let retention = retention::Retention::build(retention::Policy::from_settings(&settings)?)?;
        let (reads, writer, writer_thread) = open_database(&settings).await?;
        let state = AppState {
            reads,
            writer,
            reservation_ttl: chrono::Duration::from_std(settings.reservation_ttl)
                .context("RESERVATION_TTL out of range")?,
            reservation_max_lifetime: chrono::Duration::from_std(settings.reservation_max_lifetime)
                .context("RESERVATION_MAX_LIFETIME out of range")?,
            idempotency_ttl: chrono::Duration::from_std(settings.idempotency_key_ttl)
                .context("IDEMPOTENCY_KEY_TTL out of range")?,
        };
        if settings.seed_demo {
            let seeded = demo::seed(&state)
                .await
                .map_err(|e| anyhow::anyhow!("seeding demo data: {e}"))?;
            tracing::info!(
                products = seeded.products,
                stock_rows = seeded.stock_rows,
                "demo data loaded"
            );
        }
        let acceptor = TcpListener::bind(settings.listen_addr())
            .into_acceptor()
            .await
            .with_context(|| {
                format!(
                    "binding {} (SERVER_HOST/SERVER_PORT)",
                    settings.listen_addr()
                )
            })?;
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("reading the bound address")?;
        Ok(Self {
            settings,
            state,
            keys,
            acceptor,
            local_addr,
            writer_thread,
            retention,
        })
    }

    /// The address the listener is bound to (tests bind port 0 and read it here).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state (tests use it to reach the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then drains requests in flight (up to
    /// `SHUTDOWN_TIMEOUT`), stops the background tasks (expiry, retention, key
    /// purge, metrics upkeep) and the writer, and closes the read pool.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self {
            settings,
            state,
            keys,
            acceptor,
            local_addr,
            writer_thread,
            retention,
        } = self;
        tracing::info!(
            addr = %local_addr,
            database = %settings.database.engine(),
            synchronous = ?settings.database.sqlite_synchronous,
            reservation_ttl_s = settings.reservation_ttl.as_secs(),
            events_retention = ?settings.events_retention,
            reservations_retention = ?settings.reservations_retention,
            api_keys = ?keys.names(),
            "inventory API listening"
        );
        // Built before any task is spawned: a failure here leaves nothing running.
        let app = http::routes(&state, keys)?;
        let expiry = tokio::spawn(expiry::run(
            state.clone(),
            settings.reservation_expiry_interval,
            shutdown.child_token(),
        ));
        let retention = tokio::spawn(retention.run(state.clone(), shutdown.child_token()));
        let key_purge = tokio::spawn(key_purge::run(
            state.clone(),
            settings.idempotency_purge_interval,
            shutdown.child_token(),
        ));
        let metrics_upkeep = tokio::spawn(metrics::run_upkeep(
            metrics::UPKEEP_INTERVAL,
            shutdown.child_token(),
        ));
        let stop = shutdown.clone();
        let served = Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(
                app,
                async move { stop.cancelled().await },
                Some(settings.shutdown_timeout),
            )
            .await;
        shutdown.cancel();
        // Each stops at its next wait; a retention pass stops between batches, after the batch
        // in flight.
        let tasks = [
            ("expiry", expiry),
            ("retention", retention),
            ("idempotency key purge", key_purge),
            ("metrics upkeep", metrics_upkeep),
        ];
        for (task, handle) in tasks {
            match tokio::time::timeout(Duration::from_secs(5), handle).await {
                Ok(Ok(())) => tracing::debug!(task, "task ended"),
                Ok(Err(e)) => tracing::error!(task, error = %e, "task panicked"),
                Err(_) => tracing::warn!(task, "task did not stop in 5 s"),
            }
        }
        if tokio::time::timeout(settings.shutdown_timeout, writer_thread.stop())
            .await
            .is_err()
        {
            tracing::warn!("writer did not stop in time");
        }
        state.reads.close().await;
        served.context("HTTP server failed")
    }
}

/// Opens the database `DATABASE_URL` names: applies its migrations (on PostgreSQL under
/// sqlx's migration lock, so replicas starting together apply each once), then opens the
/// reads (the read pool, `/health`'s connection, SQLite's point reader) and starts the writer.
async fn open_database(settings: &Settings) -> anyhow::Result<(Reads, Writer, WriterThread)> {
    let max_batch = settings.write_batch_max as usize;
    match settings.database.engine() {
        Engine::Sqlite(_) => {
            db::migrate(&settings.database).await?;
            let pool = db::open_budgeted_read_pool(
                &settings.database,
                settings.db_read_connections,
                settings.read_budget(),
            )
            .await?;
            let health = db::open_health(&settings.database).await?;
            let (writer, thread) = SqliteWriter::start(&settings.database, max_batch)?;
            let reads = Reads::Sqlite {
                point: reads::PointReader::new(&settings.database, settings.read_budget()),
                pool,
                health,
            };
            Ok((reads, Writer::Sqlite(writer), WriterThread::Sqlite(thread)))
        }
        Engine::Postgres(url) => {
            // On a connection of its own: the read pool's `statement_timeout` (the read
            // budget) must not cut a migration short.
            let options = url
                .expose()
                .parse::<sqlx::postgres::PgConnectOptions>()
                .with_context(|| format!("reading the PostgreSQL URL ({url})"))?;
            let mut migrating = store::postgres::connect::connect(&options)
                .await
                .with_context(|| format!("connecting to PostgreSQL ({url})"))?;
            inventory_shared::postgres::MIGRATOR
                .run(&mut migrating)
                .await
                .context("applying the PostgreSQL migrations")?;
            let _ = migrating.close().await;
            let pool = reads::postgres::open_read_pool(
                url.expose(),
                settings.db_read_connections,
                settings.read_budget(),
            )
            .await
            .with_context(|| format!("connecting to PostgreSQL ({url})"))?;
            let health = reads::postgres::open_health(url.expose()).await?;
            // The writer connects before it returns: off the async workers.
            let connect = url.expose().to_owned();
            let gather = settings.write_gather;
            let (writer, thread) = tokio::task::spawn_blocking(move || {
                PgWriter::start_gathering(&connect, max_batch, gather)
            })
            .await
            .context("starting the PostgreSQL writer")??;
            let reads = Reads::Postgres { pool, health };
            Ok((
                reads,
                Writer::Postgres(writer),
                WriterThread::Postgres(thread),
            ))
        }
    }
}

/// The spec as YAML (what `openapi.yaml` holds), built without opening a database.
pub async fn openapi_yaml() -> anyhow::Result<String> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(":memory:");
    let state = AppState {
        reads: reads::Reads::Sqlite {
            point: reads::PointReader::new(
                &inventory_shared::config::DatabaseSettings::at(":memory:"),
                db::ReadBudget(Duration::from_secs(3)),
            ),
            pool: sqlx::sqlite::SqlitePoolOptions::new().connect_lazy_with(options.clone()),
            health: sqlx::sqlite::SqlitePoolOptions::new().connect_lazy_with(options),
        },
        writer: Writer::detached(),
        reservation_ttl: chrono::Duration::seconds(600),
        reservation_max_lifetime: chrono::Duration::hours(24),
        idempotency_ttl: chrono::Duration::hours(24),
    };
    let (_, yaml) = http::spec::finish(&http::openapi_service(&state).spec())?;
    Ok(yaml)
}
