//! [`AppState`]: the handles every part of the service shares (the reads and the writer, on
//! the backend `DATABASE_URL` chose) and the TTLs from the settings.
//!
//! Not an HTTP concept: the background tasks (expiry, key purge, retention) and the demo seed
//! use it as the routes do, so it sits below both.

use crate::reads::Reads;
use crate::writer::Writer;

/// What every handler needs: the two ways to the database, and the TTLs.
#[derive(Clone)]
pub struct AppState {
    /// Every read (point reads, lists, stats, `/health`'s ping), each under
    /// `DB_READ_TIMEOUT`.
    pub reads: Reads,
    /// The one writer: every write of the process, group-committed.
    pub writer: Writer,
    /// Default reservation time to live.
    pub reservation_ttl: chrono::Duration,
    /// Longest a reservation or hold may live from its creation (`RESERVATION_MAX_LIFETIME`).
    pub reservation_max_lifetime: chrono::Duration,
    /// How long an `Idempotency-Key`'s answer is kept (`IDEMPOTENCY_KEY_TTL`).
    pub idempotency_ttl: chrono::Duration,
}
