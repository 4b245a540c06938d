//! The reservation lists on PostgreSQL (`ops::reservation_lists` on SQLite).

use inventory_shared::time::{self, Timestamp};
use sqlx::PgConnection;
use sqlx::postgres::PgRow;

use super::positions::{after_instant, before_instant};
use crate::domain::{ProductId, ReservationRow, ReservationStatus, StoreId};
use crate::ops::OpResult;
use crate::ops::page::{AfterInstant, Page, fetch_count};
use crate::store::postgres::rows::{reservation_row, select_reservation};

/// A page of a store's PENDING reservations not yet due, soonest deadline first, ties by id
/// (`ops::reservation_lists::pending_in_store`): a next page starts after the previous one's
/// last (deadline, id) while that deadline is still ahead, else at "not yet due".
pub async fn pending_in_store(
    db: &mut PgConnection,
    store_id: &StoreId,
    at: &Timestamp,
    after: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    let now = time::to_db(at);
    let query = match after.filter(|a| a.at > now) {
        Some(after) => {
            let (instant, id) = after_instant(after)?;
            sqlx::query(concat!(
                select_reservation!(),
                " WHERE store_id = $1 AND status = 'PENDING' AND (expires_at, id) > ($2, $3) \
                  ORDER BY reservations.expires_at, reservations.id LIMIT $4"
            ))
            .bind(store_id.as_str())
            .bind(instant)
            .bind(id)
        }
        None => sqlx::query(concat!(
            select_reservation!(),
            " WHERE store_id = $1 AND status = 'PENDING' AND expires_at > $2 \
              ORDER BY reservations.expires_at, reservations.id LIMIT $3"
        ))
        .bind(store_id.as_str())
        .bind(*at),
    };
    let rows = query
        .bind(fetch_count(limit))
        .try_map(|row: PgRow| reservation_row(&row))
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, limit, |r: &ReservationRow| {
        AfterInstant {
            at: r.expires_at.clone(),
            id: r.id.as_str().to_owned(),
        }
    }))
}

/// A page of one product's reservations in one store, newest first, ties by id descending,
/// optionally of one status (`ops::reservation_lists::of_product_in_store`).
pub async fn of_product_in_store(
    db: &mut PgConnection,
    product_id: &ProductId,
    store_id: &StoreId,
    status: Option<ReservationStatus>,
    before: Option<&AfterInstant>,
    limit: i64,
) -> OpResult<Page<ReservationRow, AfterInstant>> {
    let (product_id, store_id) = (product_id.as_str(), store_id.as_str());
    let before = before.map(before_instant).transpose()?;
    let query = match (status.map(ReservationStatus::as_str), before) {
        (None, None) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 \
              ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $3"
        ))
        .bind(product_id)
        .bind(store_id),
        (None, Some((instant, id))) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 AND (created_at, id) < ($3, $4) \
              ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $5"
        ))
        .bind(product_id)
        .bind(store_id)
        .bind(instant)
        .bind(id),
        (Some(status), None) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 AND status = $3 \
              ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $4"
        ))
        .bind(product_id)
        .bind(store_id)
        .bind(status),
        (Some(status), Some((instant, id))) => sqlx::query(concat!(
            select_reservation!(),
            " WHERE product_id = $1::uuid AND store_id = $2 AND status = $3 \
              AND (created_at, id) < ($4, $5) ORDER BY reservations.created_at DESC, reservations.id DESC LIMIT $6"
        ))
        .bind(product_id)
        .bind(store_id)
        .bind(status)
        .bind(instant)
        .bind(id),
    };
    let rows = query
        .bind(fetch_count(limit))
        .try_map(|row: PgRow| reservation_row(&row))
        .fetch_all(db)
        .await?;
    Ok(Page::from_rows(rows, limit, |r: &ReservationRow| {
        AfterInstant {
            at: r.created_at.clone(),
            id: r.id.as_str().to_owned(),
        }
    }))
}
