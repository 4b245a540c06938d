//! The audit log and the counters on PostgreSQL: a page of events, and the reservation and
//! outbox counts (the slotted counters summed).

use inventory_shared::outbox::{EventFilter, StoredEvent};
use sqlx::PgConnection;

use crate::domain::{ReservationStatus, StoreId};
use crate::ops::OpResult;
use crate::ops::reservations::counts_by_status;

/// Up to `limit` events after the filter's `after_seq`, in `seq` order
/// (`inventory_shared::outbox::list_events`): payloads are the stored text, byte for byte.
pub async fn events(
    db: &mut PgConnection,
    filter: &EventFilter,
    limit: i64,
) -> OpResult<Vec<StoredEvent>> {
    Ok(inventory_shared::outbox::postgres::list_events(db, filter, limit).await?)
}

/// Reservations per status, in one store or all, statuses with none left out, in status order
/// (`ops::reservations::stats`): the slotted counters summed.
pub async fn reservation_stats(
    db: &mut PgConnection,
    store_id: Option<&StoreId>,
) -> OpResult<Vec<(ReservationStatus, i64)>> {
    let rows: Vec<(String, i64)> = match store_id {
        Some(store_id) => {
            sqlx::query_as(
                "SELECT status, SUM(n)::bigint FROM reservation_counts WHERE store_id = $1 \
                 GROUP BY status HAVING SUM(n) > 0 ORDER BY status COLLATE \"C\"",
            )
            .bind(store_id.as_str())
            .fetch_all(db)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT status, SUM(n)::bigint FROM reservation_counts \
                 GROUP BY status HAVING SUM(n) > 0 ORDER BY status COLLATE \"C\"",
            )
            .fetch_all(db)
            .await?
        }
    };
    counts_by_status(rows)
}

/// The outbox counters (`inventory_shared::outbox::outbox_stats`).
pub async fn outbox_stats(
    db: &mut PgConnection,
) -> OpResult<inventory_shared::outbox::OutboxStats> {
    Ok(inventory_shared::outbox::postgres::outbox_stats(db).await?)
}
