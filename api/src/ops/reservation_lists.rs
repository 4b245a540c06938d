//! The reservation lists, a keyset page at a time (see [`super::page`]): a store's live
//! reservations by deadline, and a product's reservations in a store, newest first. Each page is
//! one range scan of an index whose columns are the list's order
//! (`migrations/20261203000005_paging.sql`); the first page and the next ones are two fixed
//! statements.

use inventory_shared::time::{self, Timestamp};
use sqlx::SqliteConnection;

use super::OpResult;
use super::page::{AfterInstant, Page, fetch_count};
use super::reservations::ReservationRow;
use crate::domain::{ProductId, ReservationStatus, StoreId};

/// A store's pending reservations due after a time (the first page: after now).
pub const PENDING_FIRST_PAGE: &str = "SELECT * FROM reservations WHERE store_id = ? \
     AND status = 'PENDING' AND expires_at > ? ORDER BY expires_at, id LIMIT ?";

/// A store's pending reservations after (deadline, id).
pub const PENDING_NEXT_PAGE: &str = "SELECT * FROM reservations WHERE store_id = ? \
     AND status = 'PENDING' AND (expires_at, id) > (?, ?) ORDER BY expires_at, id LIMIT ?";

/// A product's newest reservations in a store.
pub const NEWEST_FIRST_PAGE: &str = "SELECT * FROM reservations WHERE product_id = ? \
     AND store_id = ? ORDER BY created_at DESC, id DESC LIMIT ?";

/// A product's reservations in a store older than (created, id).
pub const NEWEST_NEXT_PAGE: &str = "SELECT * FROM reservations WHERE product_id = ? \
     AND store_id = ? AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?";

/// [`NEWEST_FIRST_PAGE`] of one status.
pub const NEWEST_OF_STATUS_FIRST_PAGE: &str = "SELECT * FROM reservations WHERE product_id = ? \
     AND store_id = ? AND status = ? ORDER BY created_at DESC, id DESC LIMIT ?";

/// [`NEWEST_NEXT_PAGE`] of one status.
pub const NEWEST_OF_STATUS_NEXT_PAGE: &str = "SELECT * FROM reservations \
     WHERE product_id = ? AND store_id = ? AND status = ? AND (created_at, id) < (?, ?) \
     ORDER BY created_at DESC, id DESC LIMIT ?";

/// A page of a store's PENDING reservations that are not yet due, soonest deadline first (ties
/// by id).
///
/// A next page starts after the previous one's last deadline when that is still in the future;
/// once it has passed, everything up to it is due and the page starts at "not yet due" instead.
/// Either way the scan starts at its first row, never re-reads the rows before it.
pub async fn pending_in_store(
    db: &mut SqliteConnection,
    store_id: &StoreId,
    at: &Timestamp,
    after: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    let now = time::to_db(at);
    let query = match after.filter(|a| a.at > now) {
        Some(after) => sqlx::query_as(PENDING_NEXT_PAGE)
            .bind(store_id.as_str())
            .bind(after.at.as_str())
            .bind(after.id.as_str()),
        None => sqlx::query_as(PENDING_FIRST_PAGE)
            .bind(store_id.as_str())
            .bind(now.as_str()),
    };
    let rows = query.bind(fetch_count(limit)).fetch_all(db).await?;
    Ok(Page::from_rows(rows, limit, |r: &ReservationRow| {
        AfterInstant {
            at: r.expires_at.clone(),
            id: r.id.as_str().to_owned(),
        }
    }))
}

/// A page of one product's reservations in one store, newest first (ties by id, descending),
/// optionally of one status.
///
/// With a status the same index is walked and the other statuses are skipped, so the walk is
/// bounded by that product's reservations in that store (what `RESERVATIONS_RETENTION` keeps),
/// not by the table: a second index with the status would cost every reservation write.
pub async fn of_product_in_store(
    db: &mut SqliteConnection,
    product_id: &ProductId,
    store_id: &StoreId,
    status: Option<ReservationStatus>,
    before: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    let (product_id, store_id) = (product_id.as_str(), store_id.as_str());
    let query = match (status.map(ReservationStatus::as_str), before) {
        (None, None) => sqlx::query_as(NEWEST_FIRST_PAGE)
            .bind(product_id)
            .bind(store_id),
        (None, Some(before)) => sqlx::query_as(NEWEST_NEXT_PAGE)
            .bind(product_id)
            .bind(store_id)
            .bind(before.at.as_str())
            .bind(before.id.as_str()),
        (Some(status), None) => sqlx::query_as(NEWEST_OF_STATUS_FIRST_PAGE)
            .bind(product_id)
            .bind(store_id)
            .bind(status),
        (Some(status), Some(before)) => sqlx::query_as(NEWEST_OF_STATUS_NEXT_PAGE)
            .bind(product_id)
            .bind(store_id)
            .bind(status)
            .bind(before.at.as_str())
            .bind(before.id.as_str()),
    };
    let rows = query.bind(fetch_count(limit)).fetch_all(db).await?;
    Ok(Page::from_rows(rows, limit, |r: &ReservationRow| {
        AfterInstant {
            at: r.created_at.clone(),
            id: r.id.as_str().to_owned(),
        }
    }))
}
