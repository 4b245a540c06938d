//! Finding out whether a batch sent as one statement ([`super::PgTx::begin_unlocked`])
//! committed when its connection was lost before the answer came. The statement commits on
//! its own and is all or nothing, so one of its rows says which: its first event's id (every
//! change a batch from the cache makes appends one). On a new connection the old session is
//! ended first, if it still runs (a broken network, not a dead server, can leave it executing
//! the statement), and waited for; then the event is looked up. Found: the batch committed
//! and its callers are answered with what its jobs said. Not found: nothing was applied and
//! the batch runs again, locked. Without an answer (the server unreachable), the outcome
//! stays unknown.

use std::time::Duration;

use sqlx::PgConnection;
use uuid::Uuid;

/// A server session: its backend's process id and start time (the pair is never reused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pid: i32,
    started: String,
}

/// A batch whose statement was lost with its connection.
#[derive(Debug, Clone)]
pub struct Lost {
    /// The session it was sent on.
    pub session: Session,
    /// Its first event's id; `None` when it appended none.
    pub witness: Option<Uuid>,
    /// Whether it changed anything at all (all its jobs may have refused).
    pub wrote: bool,
}

/// What became of a lost batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// It committed.
    Committed,
    /// Nothing of it was applied.
    NotApplied,
}

/// How long the old session may take to end.
const SESSION_END: Duration = Duration::from_secs(5);

/// The session `conn` runs on.
pub async fn session(conn: &mut PgConnection) -> sqlx::Result<Session> {
    let (pid, started): (i32, String) = sqlx::query_as(
        "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()",
    )
    .fetch_one(conn)
    .await?;
    Ok(Session { pid, started })
}

/// Settles `lost` on the new connection `conn`: see the module documentation. An error
/// (including an old session that would not end) leaves the outcome unknown.
pub async fn settle(conn: &mut PgConnection, lost: &Lost) -> sqlx::Result<Settled> {
    const OLD: &str = "pid = $1 AND backend_start::text = $2";
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {OLD}"
    ))
    .bind(lost.session.pid)
    .bind(&lost.session.started)
    .execute(&mut *conn)
    .await?;
    let deadline = tokio::time::Instant::now() + SESSION_END;
    loop {
        let running: bool = sqlx::query_scalar(&format!(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE {OLD})"
        ))
        .bind(lost.session.pid)
        .bind(&lost.session.started)
        .fetch_one(&mut *conn)
        .await?;
        if !running {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(sqlx::Error::InvalidArgument(
                "the session of the lost statement did not end".to_owned(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if !lost.wrote {
        return Ok(Settled::NotApplied);
    }
    let Some(witness) = lost.witness else {
        return Err(sqlx::Error::InvalidArgument(
            "a lost statement that wrote rows without an event cannot be settled".to_owned(),
        ));
    };
    let committed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)")
        .bind(witness)
        .fetch_one(&mut *conn)
        .await?;
    Ok(if committed {
        Settled::Committed
    } else {
        Settled::NotApplied
    })
}
