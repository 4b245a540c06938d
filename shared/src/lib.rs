//! Pieces shared by the inventory API and the outbox relay.
//!
//! Module map:
//! - [`db`]: the SQLite file, its connection settings (WAL, busy timeout, `synchronous`),
//!   the one-writer / many-readers pools and the embedded migrations.
//! - [`time`]: the one timestamp format we store (sortable RFC 3339, UTC, `Z`).
//! - [`events`]: event types, their payloads and the envelope the relay publishes.
//! - [`outbox`]: the `events` table: append inside the caller's transaction, read pending,
//!   mark published, record failures and park poison events.
//! - [`config`]: configuration pieces both binaries use (database, logging, durations).
//! - [`telemetry`]: `tracing` subscriber set-up (JSON or text).

pub mod config;
pub mod db;
pub mod events;
pub mod outbox;
pub mod telemetry;
pub mod time;
