//! [`AppState`]: the handles every part of the service shares (the read pool, the health
//! connection, the writer, the point reader) and the TTLs from the settings.
//!
//! Not an HTTP concept: the background tasks (expiry, key purge, retention) and the demo seed
//! use it as the routes do, so it sits below both.

use crate::reads::PointReader;
use crate::writer::Writer;

/// What every handler needs: the three ways to the database, each for one kind of work.
#[derive(Clone)]
pub struct AppState {
    /// sqlx read pool (`DB_READ_CONNECTIONS`), every read under `DB_READ_TIMEOUT`: lists and
    /// stats.
    pub reader: sqlx::SqlitePool,
    /// `/health`'s own connection, so the ping never waits behind lists.
    pub health: sqlx::SqlitePool,
    /// The one writer: every write of the process, group-committed.
    pub writer: Writer,
    /// Point reads (one row by key) and audit-log pages on read-only `rusqlite` connections.
    pub point: PointReader,
    /// Default reservation time to live.
    pub reservation_ttl: chrono::Duration,
    /// Longest a reservation or hold may live from its creation (`RESERVATION_MAX_LIFETIME`).
    pub reservation_max_lifetime: chrono::Duration,
    /// How long an `Idempotency-Key`'s answer is kept (`IDEMPOTENCY_KEY_TTL`).
    pub idempotency_ttl: chrono::Duration,
}
