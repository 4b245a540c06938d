//! The relay's one PostgreSQL session for leading: a dedicated connection (never from a pool)
//! that holds the leadership lock and does all of the leader's outbox work, reads and marks.
//!
//! **Why a session advisory lock** (and not a lease row): PostgreSQL releases a session lock
//! the moment the session ends, however it ends: a `kill -9`ed relay's socket is closed by its
//! kernel, the server ends the backend, and a standby's next `pg_try_advisory_lock` (every
//! [`crate::leader::STANDBY_RETRY`]) wins. There is no lease to expire, no clock to trust, no
//! row written every few seconds. A lease would have to run several times longer than its
//! renewal period to ride out a slow commit, and the standby would wait that long.
//!
//! **Fencing.** The lock lives as long as this connection, and every mark goes through this
//! same connection: a relay whose session ended (deposed) cannot mark anything, because the
//! connection that would carry the mark is the one that ended. sqlx never reconnects a
//! `PgConnection` behind our back; once an operation fails to reach the server the session is
//! dropped and [`PgSession::leading`] refuses until this relay wins an election again (which
//! a restarted relay process does, not this one: the publish loop stops when it is deposed).
//!
//! **Waits are SQL errors, not lost sessions.** On connect the session sets `lock_timeout`
//! 1 s and `statement_timeout` 1.5 s ([`WAIT_LIMITS`]): a mark that waits on a row lock (the
//! `event_counts` trigger's counter slot, held by a long API transaction) or a slow read
//! comes back as an ordinary SQL error, which the publish loop retries with backoff on the
//! same session. The session is dropped (and leadership given up)
//! only when the connection itself fails (I/O, protocol) or a statement outlives the client
//! backstop [`SESSION_TIMEOUT`], just above the server's limit, which only a server or network
//! that stopped answering reaches.
//!
//! **A severed network.** The server only notices a client that vanished without closing its
//! socket through TCP keepalives: the session asks for probes after 2 s idle, every 1 s, 2
//! tries, and `tcp_user_timeout` 4 s for unacknowledged data, so a partitioned leader's lock
//! is released after about 4 s. The leader gives up first: every operation on the session
//! has the [`SESSION_TIMEOUT`] backstop (2 s), after which the publish loop treats the
//! session as lost and stops, before a standby can take over.
//!
//! **Poolers.** A session lock needs a session: through PgBouncer in transaction mode, the lock
//! would stay on a server connection other clients then use. Point the relay at PostgreSQL
//! directly (`docs/relay.md`): through a session-mode pool the keepalives above watch the
//! pooler, not the server, and the pooler's own server connection keeps the lock.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use inventory_shared::config::PostgresUrl;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// The advisory lock key every relay on one database competes for (advisory locks are per
/// database: relays of two databases on one cluster do not compete). Below 2^31, so `pg_locks`
/// shows it as `classid 0, objid KEY, objsubid 1`.
pub const LOCK_KEY: i64 = 0x696e_7652; // "invR"

/// The client's backstop for any one statement on the session (lock, check, read, mark):
/// just above the server's `statement_timeout` ([`WAIT_LIMITS`]), so only a server or network
/// that stopped answering reaches it; the session is then dropped.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(2);

/// The dedicated session; cheap to clone (the elector, the step's reader and its marks share
/// it).
#[derive(Clone)]
pub struct PgSession(Arc<Shared>);

struct Shared {
    options: PgConnectOptions,
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Option<PgConnection>,
    /// Whether `conn` holds the lock.
    leads: bool,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession").finish_non_exhaustive()
    }
}

/// Connection options for the relay's PostgreSQL connections: the URL as written (the
/// parse error never repeats it: it may carry a password), the relay's application name and
/// TCP keepalives (see the module documentation).
pub fn connect_options(url: &PostgresUrl) -> anyhow::Result<PgConnectOptions> {
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|_| anyhow::anyhow!("DATABASE_URL ({url}) is not a valid PostgreSQL URL"))?;
    Ok(options.application_name("inventory-relay").options([
        ("tcp_keepalives_idle", "2"),
        ("tcp_keepalives_interval", "1"),
        ("tcp_keepalives_count", "2"),
        ("tcp_user_timeout", "4000"),
    ]))
}

impl PgSession {
    /// A session for `options`; connects on first use.
    pub fn new(options: PgConnectOptions) -> Self {
        Self(Arc::new(Shared {
            options,
            inner: Mutex::new(Inner {
                conn: None,
                leads: false,
            }),
        }))
    }

    /// Tries once to take the lock (connecting first when needed). `Ok(true)`: this session
    /// holds it (also when it already did).
    pub async fn try_lock(&self) -> anyhow::Result<bool> {
        let mut inner = self.0.inner.lock().await;
        if inner.leads {
            return Ok(true);
        }
        let result = tokio::time::timeout(SESSION_TIMEOUT, async {
            if inner.conn.is_none() {
                let mut conn = PgConnection::connect_with(&self.0.options)
                    .await
                    .context("connecting the leadership session")?;
                sqlx::query(WAIT_LIMITS)
                    .execute(&mut conn)
                    .await
                    .context("setting the session's wait limits")?;
                inner.conn = Some(conn);
            }
            let conn = inner.conn.as_mut().context("no session")?;
            sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(conn)
                .await
                .context("asking for the leadership lock")
        })
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the leadership session timed out")));
        match result {
            Ok(won) => {
                inner.leads = won;
                Ok(won)
            }
            Err(e) => {
                inner.conn = None;
                Err(e)
            }
        }
    }

    /// Whether this session still holds the lock, asked of the server (`pg_locks`). A session
    /// that does not answer within [`SESSION_TIMEOUT`] is dropped and counts as lost.
    pub async fn still_leads(&self) -> anyhow::Result<bool> {
        let mut inner = self.0.inner.lock().await;
        if !inner.leads {
            return Ok(false);
        }
        let Some(conn) = inner.conn.as_mut() else {
            inner.leads = false;
            return Ok(false);
        };
        let answer = tokio::time::timeout(
            SESSION_TIMEOUT,
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
                 AND pid = pg_backend_pid() AND classid = 0 AND objid::bigint = $1 \
                 AND objsubid = 1 AND granted)",
            )
            .bind(LOCK_KEY)
            .fetch_one(conn),
        )
        .await;
        match answer {
            Ok(Ok(true)) => Ok(true),
            Ok(Ok(false)) => {
                inner.leads = false;
                Ok(false)
            }
            Ok(Err(e)) => {
                Self::lose(&mut inner);
                Err(e).context("checking the leadership lock")
            }
            Err(_) => {
                Self::lose(&mut inner);
                anyhow::bail!("the leadership session did not answer within {SESSION_TIMEOUT:?}")
            }
        }
    }

    /// The session's connection, only while it holds the lock: every read and mark of the
    /// leader goes through it (the fence). Hold the guard only for one operation.
    pub async fn leading(&self) -> anyhow::Result<MappedMutexGuard<'_, PgConnection>> {
        let inner = self.0.inner.lock().await;
        MutexGuard::try_map(inner, |inner| match (inner.leads, inner.conn.as_mut()) {
            (true, Some(conn)) => Some(conn),
            _ => None,
        })
        .map_err(|_| anyhow::anyhow!("this relay no longer leads: nothing is read or marked"))
    }

    /// Runs `op` on the leading connection within [`SESSION_TIMEOUT`]. An SQL error (a lock
    /// or statement timeout included) keeps the session; a broken connection or the backstop
    /// drops it (a statement cut off mid-way leaves the connection unusable).
    pub async fn run<T>(
        &self,
        what: &'static str,
        op: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> anyhow::Result<T> {
        let mut conn = self.leading().await?;
        match tokio::time::timeout(SESSION_TIMEOUT, op(&mut conn)).await {
            Ok(Err(error)) if connection_broken(&error) => {
                drop(conn);
                Self::lose(&mut *self.0.inner.lock().await);
                Err(error).context(what)
            }
            Ok(result) => result.context(what),
            Err(_) => {
                drop(conn);
                Self::lose(&mut *self.0.inner.lock().await);
                anyhow::bail!("{what}: no answer within {SESSION_TIMEOUT:?}; leadership given up")
            }
        }
    }

    /// Gives the lock up by closing the session (the server releases the lock with it).
    fn lose(inner: &mut Inner) {
        inner.leads = false;
        inner.conn = None;
    }
}

/// Sent once on connect: the server ends a statement that waits on a lock for 1 s or runs for
/// 1.5 s with an SQL error, which the loop retries on the same session.
pub const WAIT_LIMITS: &str = "SELECT set_config('lock_timeout', '1s', false), \
     set_config('statement_timeout', '1500ms', false)";

/// Whether `error` means the connection itself failed (rather than one statement).
fn connection_broken(error: &sqlx::Error) -> bool {
    matches!(
        error,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::Tls(_)
    )
}
