//! Where a publish step reads its batches of pending events ([`crate::step`]).

use std::path::PathBuf;
use std::sync::Arc;

use inventory_shared::db;
use inventory_shared::outbox;

use crate::pg_session::PgSession;

/// Reads batches of pending events: on SQLite a read-only `rusqlite` connection in a blocking
/// task (see [`db::open_reader`] for why), opened on first use; on PostgreSQL the leader's
/// session.
pub(crate) enum PendingReader {
    Sqlite {
        path: PathBuf,
        conn: Arc<std::sync::Mutex<Option<rusqlite::Connection>>>,
    },
    Postgres(PgSession),
}

impl PendingReader {
    /// The batch, and whether the visibility fence cut it short (never on SQLite).
    pub(crate) async fn fetch(
        &self,
        after: i64,
        limit: i64,
    ) -> anyhow::Result<(Vec<outbox::StoredEvent>, bool)> {
        match self {
            Self::Sqlite { path, conn } => {
                let conn = conn.clone();
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    let mut guard = conn
                        .lock()
                        .map_err(|_| anyhow::anyhow!("pending reader poisoned"))?;
                    let conn = match guard.take() {
                        Some(conn) => conn,
                        None => db::open_reader(&path)?,
                    };
                    let result = outbox::fetch_pending_after(&conn, after, limit);
                    if result.is_ok() {
                        *guard = Some(conn);
                    }
                    Ok((result?, false))
                })
                .await?
            }
            Self::Postgres(session) => {
                session
                    .run("reading pending events", async move |conn| {
                        outbox::postgres::fetch_pending_after(conn, after, limit).await
                    })
                    .await
            }
        }
    }
}
