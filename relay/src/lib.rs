//! The outbox relay: the only component that talks to a message broker.
//!
//! It reads the `events` table (`synced_at IS NULL AND dead_at IS NULL`, in `seq` order; on
//! PostgreSQL only behind the `xid` visibility fence), publishes batches to the configured
//! broker and marks them synced once acknowledged. `DATABASE_URL` picks SQLite or PostgreSQL.
//!
//! Module map:
//! - [`config`]: settings from env / flags, and the `dead` subcommands.
//! - [`publisher`]: the `Publisher` trait and one module per broker (`redis`, `kafka`, `nats`,
//!   `none`).
//! - [`step`]: one publish step (read a batch, publish it in one round trip, mark it) and what
//!   it reports: `Published(n)`, `Empty`, `Rejected`, `BrokerDown`.
//! - `pending` (private): where the step reads its batches (a read-only SQLite connection, or
//!   the leader's PostgreSQL session behind the visibility fence).
//! - `marks` (private): how the step hands acknowledged batches to the ledger (overlapping
//!   and lingering marks on SQLite, in line on PostgreSQL).
//! - `ledger` (private): the step's database side: marks, rejections, and the metrics and
//!   status that follow them.
//! - [`leader`]: the election of the one relay that publishes a database (a lock file beside
//!   SQLite, a session advisory lock on PostgreSQL); the others wait as standbys.
//! - [`pg_session`]: the relay's dedicated PostgreSQL session: it holds the leadership lock
//!   and carries every read and mark of the leader (the fence).
//! - [`storage`]: the connections each engine needs, and the reads `/health` and `/metrics`
//!   make on either.
//! - [`pump`]: the loop around the step: waking on commits, polling, backoff, shutdown.
//! - [`watch`]: the commit watcher (`PRAGMA data_version`, or `LISTEN` on PostgreSQL) that
//!   wakes the loop early.
//! - [`backoff`]: exponential backoff with full jitter.
//! - [`metrics`]: the Prometheus metrics, one private recorder per relay.
//! - [`status`]: the broker state and leadership shared between the loop and `/health`.
//! - [`http`]: `/metrics`, `/livez`, `/health`.
//! - [`app`]: [`Relay`]: build from settings, run until a shutdown token fires.
//! - [`dead`]: `inventory-relay dead list|retry`, the operator path for parked events.
//!
//! Imports point one way: `app` → `config` → `publisher` → `inventory_shared::broker`
//! (the broker connections the consumer shares); `app` → `storage`, `leader` → `pg_session`;
//! `pump` → `leader`, `step`; `step` → `marks`, `ledger`, `pending`, `publisher`,
//! `pg_session`; `marks` → `ledger`; `ledger`, `pending` → `pg_session`; nothing under
//! `publisher` reads the relay's configuration. How the relay fits with the API:
//! `docs/architecture.md`.

pub mod app;
pub mod backoff;
pub mod config;
pub mod dead;
pub mod http;
pub mod leader;
mod ledger;
mod marks;
pub mod metrics;
mod pending;
pub mod pg_session;
pub mod publisher;
pub mod pump;
pub mod status;
pub mod step;
pub mod storage;
pub mod watch;

pub use app::Relay;
pub use config::Settings;
pub use step::{PublishStep, StepOutcome};
