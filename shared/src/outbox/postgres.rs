//! The `events` table on PostgreSQL (`migrations/postgres/`): the same operations as the
//! SQLite side of [`crate::outbox`], on sqlx's PostgreSQL driver, returning the same
//! [`StoredEvent`] rows.
//!
//! **Appending.** [`append_events`] inserts a batch in one set-based statement (`unnest`) on
//! the caller's connection, inside its transaction, and `NOTIFY`s [`CHANNEL`] in the same
//! statement: PostgreSQL delivers the notification at commit (never for a rollback), and
//! folds the notifications of one transaction into one. The relay `LISTEN`s to wake early;
//! it still polls, because a listener that was disconnected misses notifications for good.
//! Counting is the triggers' job here (`event_counts`, slotted), not the caller's.
//!
//! **Reading behind the visibility fence.** A `seq` is drawn at INSERT and becomes visible at
//! COMMIT, so transactions make their `seq`s visible out of order: a reader that publishes
//! `seq` 101 and moves on can miss `seq` 100 committed a moment later (watermill #311). Each
//! row records its transaction's id (`xid`, `pg_current_xact_id()`); [`fetch_pending_after`]
//! returns only rows whose transaction is older than `pg_snapshot_xmin(pg_current_snapshot())`,
//! the oldest transaction still running anywhere in the cluster: every transaction below it
//! has ended, so no row of theirs can still appear. It returns them in `seq` order, and stops
//! at the first pending row that is visible but not yet behind the fence, so a later `seq`
//! never overtakes an earlier one that is already committed.
//!
//! Why `seq` order keeps each product's events in order: the API draws its events' `seq`s
//! under the outbox's `seq` lock, a transaction-level advisory lock taken after every other
//! write of its batch and held until its commit is visible (`docs/postgres.md`), so one
//! transaction at a time draws `seq`s and commits: `seq` order is the commit order of the
//! whole database, so of each product too. Any other writer beside the API must take the
//! same lock. Writers that never write beside the API (the relay's tests) may instead all
//! lock the product rows their events are about before drawing their `seq`s, and hold them
//! to their commit: then of two events of one product the smaller `seq` belongs to the
//! transaction that committed first, and only per product. When the later one is behind the
//! fence, the earlier one is committed and visible; it is then either already synced, or
//! pending and read first (a row not yet behind the fence stops the batch before anything
//! after it). Across products such a writer's `seq` order is not commit order, and a row can
//! appear below a `seq` already published; it is read by the next batch (each read starts at
//! the oldest pending row), never lost. `(xid, seq)` order would not help: a transaction
//! that got its xid early and then waited on a row lock commits after the lock's holder but
//! sorts before it (see the migration's header).
//!
//! The fence is cluster-wide: one long transaction that holds an xid (in any database of the
//! cluster, or a prepared transaction) holds every event back. [`fence_age`] measures how
//! long; the relay exports it and an alert watches it (`docs/relay.md`).

use serde_json::value::RawValue;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use super::{EventFilter, OutboxStats, PendingSummary, StoredEvent, truncate};
use crate::events::NewEvent;
use crate::time::Timestamp;

/// The channel [`append_events`] notifies at commit and the relay listens to.
pub const CHANNEL: &str = "inventory_events";

/// `SELECT <every column of StoredEvent>`, as one literal.
macro_rules! select_columns {
    () => {
        "SELECT seq, id::text AS id, event_type, aggregate_type, aggregate_id, store_id, \
         partition_key, payload, created_at, synced_at, attempts, last_error, dead_at"
    };
}

/// `SELECT <every column of StoredEvent> FROM events <rest>`, as one literal.
macro_rules! select_events {
    ($rest:literal) => {
        concat!(select_columns!(), " FROM events ", $rest)
    };
}

impl StoredEvent {
    /// Maps a PostgreSQL row selected with this module's column list.
    fn from_pg_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        let payload: String = row.try_get("payload")?;
        Ok(Self {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            event_type: row.try_get("event_type")?,
            aggregate_type: row.try_get("aggregate_type")?,
            aggregate_id: row.try_get("aggregate_id")?,
            store_id: row.try_get("store_id")?,
            partition_key: row.try_get("partition_key")?,
            payload: RawValue::from_string(payload).map_err(|e| sqlx::Error::ColumnDecode {
                index: "payload".to_owned(),
                source: Box::new(e),
            })?,
            created_at: row.try_get("created_at")?,
            synced_at: row.try_get("synced_at")?,
            attempts: row.try_get("attempts")?,
            last_error: row.try_get("last_error")?,
            dead_at: row.try_get("dead_at")?,
        })
    }
}

/// An event made ready to insert: its columns, owned, and its time. A writer that collects
/// a whole batch's events before it inserts them (the API's unit of work on PostgreSQL,
/// `docs/postgres.md`) keeps these, so each event keeps the time of its own change.
#[derive(Debug, Clone)]
pub struct EventRow {
    id: Uuid,
    event_type: &'static str,
    aggregate_type: &'static str,
    aggregate_id: String,
    store_id: String,
    partition_key: String,
    payload: String,
    created_at: Timestamp,
}

impl EventRow {
    /// The columns of `event`, created at `at`.
    pub fn new(event: &NewEvent, at: &Timestamp) -> Self {
        Self {
            id: Uuid::now_v7(),
            event_type: event.event_type().as_str(),
            aggregate_type: event.event_type().aggregate_type(),
            aggregate_id: event.aggregate_id().to_owned(),
            store_id: event.store_id().to_owned(),
            partition_key: event.partition_key().to_owned(),
            payload: event.payload_json(),
            created_at: *at,
        }
    }

    /// The event's id (a UUIDv7, minted when the row was made).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The key that orders the event among its product's (the product id).
    pub fn partition_key(&self) -> &str {
        &self.partition_key
    }
}

/// Appends `events` to the outbox on the caller's connection (inside its transaction), in
/// one statement, and notifies [`CHANNEL`] (delivered at commit). Returns their `seq`s in
/// the order given: rows are inserted in the order of the list, each drawing the next value.
///
/// The caller orders its `seq`s: under the outbox's `seq` lock, as the API's writer does
/// (see the module documentation for writers that never write beside the API).
pub async fn append_events(
    conn: &mut PgConnection,
    events: &[NewEvent],
    at: &Timestamp,
) -> Result<Vec<i64>, sqlx::Error> {
    let rows: Vec<EventRow> = events.iter().map(|e| EventRow::new(e, at)).collect();
    append_rows(conn, &rows).await
}

/// [`append_events`] for events made ready earlier, each with its own time.
pub async fn append_rows(
    conn: &mut PgConnection,
    events: &[EventRow],
) -> Result<Vec<i64>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = PgArguments::default();
    bind_rows(&mut args, events)?;
    args.add(CHANNEL).map_err(sqlx::Error::Encode)?;
    let statement = format!(
        "WITH inserted AS ({}) \
         SELECT seq FROM inserted CROSS JOIN (SELECT pg_notify($9, '')) AS woken",
        insert_rows_sql("")
    );
    let mut seqs: Vec<i64> = sqlx::query_scalar_with(&statement, args)
        .fetch_all(&mut *conn)
        .await?;
    // RETURNING's order is not promised; the values are.
    seqs.sort_unstable();
    Ok(seqs)
}

/// The `INSERT` that appends rows to the outbox, `RETURNING seq`, with its parameters `$1` to
/// `$8` (bound by [`bind_rows`]), for [`append_rows`] and for a caller that writes the
/// events inside a statement of its own (the API's writer, which takes its locks in the
/// same statement). `joined` is added to the rows' `FROM` (e.g. `" CROSS JOIN locks"`): a
/// relation read before the first row is inserted, so before the first `seq` is drawn. Rows
/// are inserted in the order given (`ORDER BY` the list's ordinal), each drawing the next
/// `seq`.
pub fn insert_rows_sql(joined: &str) -> String {
    format!(
        "INSERT INTO events (id, event_type, aggregate_type, aggregate_id, store_id, \
                             partition_key, payload, created_at) \
         SELECT e.id, e.event_type, e.aggregate_type, e.aggregate_id, e.store_id, \
                e.partition_key, e.payload, e.created_at \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::text[], $7::text[], $8::timestamptz[]) WITH ORDINALITY \
              AS e (id, event_type, aggregate_type, aggregate_id, store_id, \
                    partition_key, payload, created_at, ord){joined} \
         ORDER BY e.ord \
         RETURNING seq"
    )
}

/// Binds the eight parameters of [`insert_rows_sql`] for `events`, after those `args`
/// already holds.
pub fn bind_rows(args: &mut PgArguments, events: &[EventRow]) -> Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let aggregate_types: Vec<&str> = events.iter().map(|e| e.aggregate_type).collect();
    let aggregate_ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    let stores: Vec<&str> = events.iter().map(|e| e.store_id.as_str()).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.partition_key.as_str()).collect();
    let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
    let times: Vec<Timestamp> = events.iter().map(|e| e.created_at).collect();
    (|| {
        args.add(&ids)?;
        args.add(&types)?;
        args.add(&aggregate_types)?;
        args.add(&aggregate_ids)?;
        args.add(&stores)?;
        args.add(&keys)?;
        args.add(&payloads)?;
        args.add(&times)
    })()
    .map_err(sqlx::Error::Encode)
}

/// Up to `limit` pending events with a `seq` above `after`, in `seq` order, behind the
/// visibility fence: the batch ends before the first pending row whose transaction is not
/// yet older than every running one (module documentation). The second value says whether
/// such a row cut the batch short (the relay then looks again soon instead of idling).
pub async fn fetch_pending_after(
    db: impl PgExecutor<'_>,
    after: i64,
    limit: i64,
) -> Result<(Vec<StoredEvent>, bool), sqlx::Error> {
    // One snapshot: the fence and the rows are read together. The rows past the cut come
    // back too (at most `limit`), which is cheaper than a second pass over the window.
    let rows = sqlx::query(concat!(
        select_columns!(),
        ", xid < pg_snapshot_xmin(pg_current_snapshot()) AS settled FROM events \
         WHERE synced_at IS NULL AND dead_at IS NULL AND seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for row in &rows {
        if !row.try_get::<bool, _>("settled")? {
            return Ok((events, true));
        }
        events.push(StoredEvent::from_pg_row(row)?);
    }
    Ok((events, false))
}

/// The audit log: up to `limit` events after `filter.after_seq`, in `seq` order, with the
/// filters given: the same rows as the SQLite [`super::list_events`]. One statement per
/// combination of filters, binding only what it uses (`$1` after_seq, then the filters in
/// the order type, aggregate, store, then the limit), so each plans on its own index
/// (`events_by_type`, `events_by_aggregate`, `events_by_store`, `events_by_store_type`, or the
/// primary key). A negative `limit` reads every row, as SQLite's `LIMIT -1` does.
pub async fn list_events(
    db: impl PgExecutor<'_>,
    filter: &EventFilter,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    let sql = list_events_statement(filter);
    let mut query = sqlx::query(sql.as_str()).bind(filter.after_seq);
    for value in [&filter.event_type, &filter.aggregate_id, &filter.store_id]
        .into_iter()
        .flatten()
    {
        query = query.bind(value.as_str());
    }
    query
        .bind((limit >= 0).then_some(limit))
        .fetch_all(db)
        .await?
        .iter()
        .map(StoredEvent::from_pg_row)
        .collect()
}

/// The statement [`list_events`] runs for `filter`.
pub fn list_events_statement(filter: &EventFilter) -> String {
    let mut sql = select_events!("WHERE seq > $1").to_owned();
    let mut n = 1;
    for (given, column) in [
        (filter.event_type.is_some(), "event_type"),
        (filter.aggregate_id.is_some(), "aggregate_id"),
        (filter.store_id.is_some(), "store_id"),
    ] {
        if given {
            n += 1;
            sql.push_str(&format!(" AND {column} = ${n}"));
        }
    }
    sql.push_str(&format!(" ORDER BY seq LIMIT ${}", n + 1));
    sql
}

/// The parked events, oldest first.
pub async fn list_dead(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query(select_events!(
        "WHERE dead_at IS NOT NULL AND synced_at IS NULL ORDER BY seq LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await?
    .iter()
    .map(StoredEvent::from_pg_row)
    .collect()
}

/// Marks the given events synced at `at`. One statement.
pub async fn mark_synced(
    db: impl PgExecutor<'_>,
    seqs: &[i64],
    at: &Timestamp,
) -> Result<u64, sqlx::Error> {
    if seqs.is_empty() {
        return Ok(0);
    }
    let done =
        sqlx::query("UPDATE events SET synced_at = $1 WHERE seq = ANY($2) AND synced_at IS NULL")
            .bind(at)
            .bind(seqs)
            .execute(db)
            .await?;
    Ok(done.rows_affected())
}

/// Records that the broker rejected event `seq` for itself; parks it (`dead_at`) once it
/// reached `max_attempts`. Returns whether it is now parked.
pub async fn record_rejection(
    db: impl PgExecutor<'_>,
    seq: i64,
    error: &str,
    max_attempts: i64,
    at: &Timestamp,
) -> Result<bool, sqlx::Error> {
    let parked: Option<bool> = sqlx::query_scalar(
        "UPDATE events SET attempts = attempts + 1, last_error = $1, \
         dead_at = CASE WHEN attempts + 1 >= $2 THEN $3 ELSE NULL END \
         WHERE seq = $4 AND synced_at IS NULL RETURNING dead_at IS NOT NULL",
    )
    .bind(truncate(error, 1000))
    .bind(max_attempts)
    .bind(at)
    .bind(seq)
    .fetch_optional(db)
    .await?;
    Ok(parked.unwrap_or(false))
}

/// Un-parks dead events (all, or the one with `seq`) with zero attempts, and notifies
/// [`CHANNEL`] so a running relay publishes them at once. Returns how many were revived.
pub async fn revive_dead(db: impl PgExecutor<'_>, seq: Option<i64>) -> Result<u64, sqlx::Error> {
    let revived: i64 = sqlx::query_scalar(
        "WITH revived AS ( \
             UPDATE events SET dead_at = NULL, attempts = 0 \
             WHERE ($1::bigint IS NULL OR seq = $1) AND dead_at IS NOT NULL \
               AND synced_at IS NULL \
             RETURNING seq) \
         SELECT count(*) FROM revived CROSS JOIN (SELECT pg_notify($2, '')) AS woken",
    )
    .bind(seq)
    .bind(CHANNEL)
    .fetch_one(db)
    .await?;
    Ok(u64::try_from(revived).unwrap_or(0))
}

/// The pending count (the slotted counters' sum) and the oldest pending event's `created_at`
/// (the time the API gave it in its transaction, not its commit time), from one snapshot.
pub async fn pending_summary(db: impl PgExecutor<'_>) -> Result<PendingSummary, sqlx::Error> {
    let (count, oldest): (i64, Option<Timestamp>) = sqlx::query_as(
        "SELECT COALESCE(SUM(n), 0)::bigint, (SELECT created_at FROM events \
         WHERE synced_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT 1) \
         FROM event_counts WHERE state = 'pending'",
    )
    .fetch_one(db)
    .await?;
    Ok(PendingSummary { count, oldest })
}

/// Counts the outbox by state and type (the slotted counters, summed).
pub async fn outbox_stats(db: impl PgExecutor<'_>) -> Result<OutboxStats, sqlx::Error> {
    let rows: Vec<(String, String, i64, Option<Timestamp>)> = sqlx::query_as(
        "SELECT event_type, state, SUM(n)::bigint, (SELECT created_at FROM events \
         WHERE synced_at IS NULL AND dead_at IS NULL ORDER BY seq LIMIT 1) \
         FROM event_counts GROUP BY event_type, state HAVING SUM(n) > 0",
    )
    .fetch_all(db)
    .await?;
    let mut stats = OutboxStats {
        oldest_pending: rows.first().and_then(|(.., oldest)| *oldest),
        ..OutboxStats::default()
    };
    for (event_type, state, n, _) in rows {
        stats.total += n;
        match state.as_str() {
            "pending" => {
                stats.pending += n;
                stats.pending_by_type.insert(event_type, n);
            }
            "synced" => stats.synced += n,
            _ => stats.dead += n,
        }
    }
    Ok(stats)
}

/// How long (seconds) the oldest transaction that holds the fence has been running: the
/// oldest running transaction with an xid in the whole cluster, or prepared transaction; 0
/// when none. Every event written after it started waits at least that long. Needs the
/// `pg_read_all_stats` role to see other users' sessions (else it reports only the relay's
/// own user's).
pub async fn fence_age(db: impl PgExecutor<'_>) -> Result<f64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COALESCE(EXTRACT(EPOCH FROM clock_timestamp() - min(started)), 0)::float8 \
         FROM (SELECT xact_start AS started FROM pg_stat_activity \
               WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
               UNION ALL SELECT prepared FROM pg_prepared_xacts) AS holders",
    )
    .fetch_one(db)
    .await
}
