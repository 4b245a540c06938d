//! Pieces shared by the inventory API and the outbox relay (how they fit together:
//! `docs/architecture.md`).
//!
//! Module map:
//! - [`db`]: the SQLite file: one function per kind of connection (migration, the API's
//!   writer, read-only readers, read pools, the relay's marker and watcher), their settings
//!   (WAL, busy timeout, `synchronous`) and the embedded migrations.
//! - [`postgres`]: the PostgreSQL schema's embedded migrations (the API's backend is under way;
//!   the relay serves PostgreSQL).
//! - [`time`]: the one timestamp format we store (sortable RFC 3339, UTC, `Z`).
//! - [`events`]: event types, their payloads and the envelope the relay publishes.
//! - [`outbox`]: every statement on the `events` table: append inside the caller's
//!   transaction, read pending, mark synced, record rejections and park poison events, page
//!   the audit log, count the outbox; `outbox::postgres` does the same on PostgreSQL
//!   (set-based append with `NOTIFY`, reads behind the `xid` visibility fence).
//! - [`retention`]: deleting synced events and finished reservations past their retention
//!   period, and the incremental vacuum that returns their space.
//! - [`config`]: configuration pieces both binaries use (the database settings, logging,
//!   durations); `config/database_url.rs`, the engine `DATABASE_URL` picks.
//! - [`broker`]: the Redis, Kafka and NATS settings the relay and the consumer share, whose
//!   `Debug` prints no secret.
//! - [`shutdown`]: cancelling a token on SIGINT or SIGTERM (every binary's `main`).
//! - [`telemetry`]: `tracing` subscriber set-up (JSON or text).
//! - `test_support` (feature `test-support`, tests only): a private PostgreSQL server per test.

pub mod broker;
pub mod config;
pub mod db;
pub mod events;
pub mod outbox;
pub mod postgres;
pub mod retention;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod time;
