//! `/api/v1/reservations`: units held for a customer for a limited time.

use inventory_shared::time;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::ApiKeyAuth;
use super::body::JsonBody;
use super::cursor::{self, List};
use super::idempotency::{Idempotency, Replayable};
use super::models::{
    CancelBody, CreateReservationBody, ExtendBody, ProductStoreReservations, Reservation,
    ReservationStats, ReservationStatus, StorePending,
};
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use super::types::{ProductId, ReservationId, StoreId, TtlSeconds, UuidText};
use crate::ops::OpError;
use crate::ops::extend::{self, ExtendOutcome};
use crate::ops::reservations::{self, ConfirmOutcome, ReserveInput};
use crate::state::AppState;
use crate::store::Declared;

/// Reservation routes.
pub struct ReservationsApi(pub AppState);

#[derive(ApiResponse)]
enum Created {
    /// The PENDING reservation.
    #[oai(status = 201)]
    Created(Json<Reservation>, #[oai(header = "Location")] String),
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Reservations")]
impl ReservationsApi {
    /// Reserve units for a customer
    #[oai(
        path = "/reservations",
        method = "post",
        operation_id = "create_reservation"
    )]
    async fn create(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<CreateReservationBody>,
    ) -> Answer<Replayable<Created>, statuses::WriteBody> {
        // `reserve` refuses (404, 409) before its first change: no savepoint needed.
        let write = idempotency
            .with_body(&auth, &body.0)
            .refusing_before_writing()
            .counted_as("create");
        let b = body.0;
        let ttl = b
            .ttl_seconds
            .map(TtlSeconds::duration)
            .unwrap_or(self.0.reservation_ttl);
        let input = ReserveInput {
            product_id: b.product_id,
            store_id: b.store_id,
            customer_id: b.customer_id,
            quantity: b.quantity,
            ttl,
            hold_id: None,
        };
        let declared = Declared {
            pairs: vec![(input.product_id.clone(), input.store_id.clone())],
            ..Declared::default()
        };
        let answer = write.write(
            &self.0,
            declared,
            move |tx| reservations::reserve(tx, &input, &time::now()),
            |result| {
                let row = result?;
                let location = format!("/api/v1/reservations/{}", row.id);
                Ok(Created::Created(Json(row.into()), location))
            },
        );
        Ok(answer.await?)
    }

    /// Reservation counts per state
    #[oai(
        path = "/reservations/stats",
        method = "get",
        operation_id = "reservation_stats"
    )]
    async fn stats(
        &self,
        _auth: ApiKeyAuth,
        /// Only this store.
        store_id: Query<Option<StoreId>>,
    ) -> Answer<Json<ReservationStats>, statuses::ReadParams> {
        let mut stats = ReservationStats::default();
        for (status, n) in self.0.reads.reservation_stats(store_id.0.as_ref()).await? {
            match status {
                ReservationStatus::Pending => stats.pending = n,
                ReservationStatus::Confirmed => stats.confirmed = n,
                ReservationStatus::Cancelled => stats.cancelled = n,
                ReservationStatus::Expired => stats.expired = n,
            }
            stats.total += n;
        }
        Ok(Json(stats))
    }

    /// Get a reservation
    #[oai(
        path = "/reservations/:id",
        method = "get",
        operation_id = "get_reservation"
    )]
    async fn get(
        &self,
        _auth: ApiKeyAuth,
        id: Path<ReservationId>,
    ) -> Answer<Json<Reservation>, statuses::ReadParamsOne> {
        Ok(Json(self.0.reads.reservation(&id.0).await?.into()))
    }

    /// Confirm a reservation (the sale): the units leave the shelf
    #[oai(
        path = "/reservations/:id/confirm",
        method = "post",
        operation_id = "confirm_reservation"
    )]
    async fn confirm(
        &self,
        auth: ApiKeyAuth,
        id: Path<ReservationId>,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
    ) -> Answer<Replayable<Json<Reservation>>, statuses::WriteNoBody> {
        let id = id.0;
        let answer = idempotency.without_body(&auth).counted_as("confirm").write(
            &self.0,
            reservation(&id),
            move |tx| reservations::confirm(tx, &id, &time::now()),
            |result| {
                // A confirm past the deadline commits the expiry and answers 409.
                let result = result.and_then(|outcome| match outcome {
                    ConfirmOutcome::Confirmed(row) => Ok(row),
                    ConfirmOutcome::Expired(row) => Err(OpError::ReservationExpired {
                        id: row.id.into_inner(),
                        expires_at: row.expires_at,
                    }),
                });
                Ok(Json(Reservation::from(result?)))
            },
        );
        Ok(answer.await?)
    }

    /// Cancel a reservation: the units become available again
    #[oai(
        path = "/reservations/:id/cancel",
        method = "post",
        operation_id = "cancel_reservation"
    )]
    async fn cancel(
        &self,
        auth: ApiKeyAuth,
        id: Path<ReservationId>,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<CancelBody>,
    ) -> Answer<Replayable<Json<Reservation>>, statuses::WriteBody> {
        let write = idempotency.with_body(&auth, &body.0).counted_as("cancel");
        let id = id.0;
        let reason = body.0.reason;
        let answer = write.write(
            &self.0,
            reservation(&id),
            move |tx| reservations::cancel(tx, &id, reason.as_deref(), &time::now()),
            |result| Ok(Json(Reservation::from(result?))),
        );
        Ok(answer.await?)
    }

    /// Move a pending reservation's deadline to now + `ttl_seconds`
    ///
    /// At most `RESERVATION_MAX_LIFETIME` after its creation (409
    /// `RESERVATION_LIFETIME_EXCEEDED`); event `reservation.extended`. Past its deadline it is
    /// expired instead: 409 `RESERVATION_EXPIRED`. A line of a hold is extended with its hold
    /// (409 `RESERVATION_IN_HOLD`).
    #[oai(
        path = "/reservations/:id/extend",
        method = "post",
        operation_id = "extend_reservation"
    )]
    async fn extend(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        id: Path<ReservationId>,
        body: JsonBody<ExtendBody>,
    ) -> Answer<Replayable<Json<Reservation>>, statuses::WriteBody> {
        let write = idempotency.with_body(&auth, &body.0).counted_as("extend");
        let id = id.0;
        let ttl = body.0.ttl_seconds.duration();
        let max_lifetime = self.0.reservation_max_lifetime;
        let answer = write.write(
            &self.0,
            reservation(&id),
            move |tx| extend::extend(tx, &id, ttl, max_lifetime, &time::now()),
            |result| {
                // An extend past the deadline commits the expiry and answers 409.
                let result = result.and_then(|outcome| match outcome {
                    ExtendOutcome::Extended(row) => Ok(row),
                    ExtendOutcome::Expired(row) => Err(OpError::ReservationExpired {
                        id: row.id.into_inner(),
                        expires_at: row.expires_at,
                    }),
                });
                Ok(Json(Reservation::from(result?)))
            },
        );
        Ok(answer.await?)
    }

    /// A store's pending, not yet due reservations, soonest deadline first, a page at a time
    #[oai(
        path = "/reservations/store/:store_id/pending",
        method = "get",
        operation_id = "pending_reservations"
    )]
    async fn pending(
        &self,
        _auth: ApiKeyAuth,
        store_id: Path<StoreId>,
        /// Reservations per page, 1–1000.
        #[oai(
            default = "cursor::default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
        /// The previous page's `next_cursor`; leave it out for the first page.
        #[oai(example = "cursor::example")]
        cursor: Query<Option<String>>,
    ) -> Answer<Json<StorePending>, statuses::ReadParams> {
        let after = cursor::decode(List::PendingReservations, cursor.0.as_deref())?;
        let page = self
            .0
            .reads
            .pending_in_store(&store_id.0, &time::now(), after.as_ref(), limit.0)
            .await?;
        Ok(Json(StorePending {
            store_id: store_id.0.into_inner(),
            count: page.rows.len() as i64,
            next_cursor: cursor::next(List::PendingReservations, page.next.as_ref()),
            reservations: page.rows.into_iter().map(Reservation::from).collect(),
        }))
    }

    /// Reservations of a product in a store, newest first, a page at a time
    #[oai(
        path = "/reservations/product/:product_id/store/:store_id",
        method = "get",
        operation_id = "product_store_reservations"
    )]
    async fn of_product_in_store(
        &self,
        _auth: ApiKeyAuth,
        product_id: Path<ProductId>,
        store_id: Path<StoreId>,
        /// Only this state.
        status: Query<Option<ReservationStatus>>,
        /// Reservations per page, 1–1000.
        #[oai(
            default = "cursor::default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
        /// The previous page's `next_cursor`; leave it out for the first page.
        #[oai(example = "cursor::example")]
        cursor: Query<Option<String>>,
    ) -> Answer<Json<ProductStoreReservations>, statuses::ReadParams> {
        let before = cursor::decode(List::ProductStoreReservations, cursor.0.as_deref())?;
        let page = self
            .0
            .reads
            .of_product_in_store(
                &product_id.0,
                &store_id.0,
                status.0,
                before.as_ref(),
                limit.0,
            )
            .await?;
        Ok(Json(ProductStoreReservations {
            product_id: UuidText::from(product_id.0.into_inner()),
            store_id: store_id.0.into_inner(),
            status: status.0,
            count: page.rows.len() as i64,
            next_cursor: cursor::next(List::ProductStoreReservations, page.next.as_ref()),
            reservations: page.rows.into_iter().map(Reservation::from).collect(),
        }))
    }
}

/// What a write on one reservation acts on: the reservation (its stock row is locked after it).
fn reservation(id: &ReservationId) -> Declared {
    Declared {
        reservations: vec![id.clone()],
        ..Declared::default()
    }
}
