//! `/api/v1/holds`: several reservations for one customer, made, confirmed, cancelled,
//! extended and expired together (see [`crate::ops::holds`]).
//!
//! Each write is one `writer.write` call whose closure returns the operation's result, so the
//! whole hold is one atomic unit (and a retry wrapper can replace that call as a whole). Every
//! hold write keeps the writer's default containment, a savepoint of its own: a hold can be
//! refused after it wrote (see [`crate::ops::holds::create_hold`]). The rules are generic over
//! the storage seam, and so are the closures (`&mut dyn Tx`); each declares the rows it acts
//! on (a new hold: every line's stock row; a hold by id: nothing, its lines are found by the
//! writer when reached).

use inventory_shared::time;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::ApiKeyAuth;
use super::body::{JsonBody, repeated_rows};
use super::error::ApiError;
use super::idempotency::{Idempotency, Replayable};
use super::models::{CancelBody, CreateHoldBody, ExtendBody, Hold};
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use super::types::{HoldId, TtlSeconds};
use crate::ops::OpError;
use crate::ops::extend::ExtendOutcome;
use crate::ops::holds::{self, HoldInput, HoldItem, HoldOutcome};
use crate::state::AppState;
use crate::store::Declared;

/// Hold routes.
pub struct HoldsApi(pub AppState);

#[derive(ApiResponse)]
enum Created {
    /// The PENDING hold with its lines (and, when partial, the lines it could not reserve).
    #[oai(status = 201)]
    Created(Json<Hold>, #[oai(header = "Location")] String),
}

fn expired(hold: holds::Hold) -> OpError {
    OpError::HoldExpired {
        id: hold.hold.id.into_inner(),
        expires_at: hold.hold.expires_at,
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Reservations")]
impl HoldsApi {
    /// Reserve several lines for a customer at once, with one deadline
    ///
    /// All-or-nothing by default: when a line cannot be reserved nothing is, and the 409
    /// `INSUFFICIENT_STOCK` problem lists every short line in `lines`. With
    /// `allow_partial: true` the lines that fit are reserved and the others are listed in
    /// `unfulfilled` (409 only when none fits). Each line is an ordinary reservation with its
    /// own `reservation.created` event carrying `hold_id`; lines are reserved in (product,
    /// store) order.
    #[oai(path = "/holds", method = "post", operation_id = "create_hold")]
    async fn create(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<CreateHoldBody>,
    ) -> Answer<Replayable<Created>, statuses::WriteBody> {
        let write = idempotency
            .with_body(&auth, &body.0)
            .counted_as("create_hold");
        let b = body.0;
        let repeated = repeated_rows(
            b.items
                .iter()
                .map(|i| (i.product_id.as_str(), i.store_id.as_str())),
        );
        if !repeated.is_empty() {
            return Err(ApiError::Validation(repeated).into());
        }
        let input = HoldInput {
            customer_id: b.customer_id,
            ttl: b
                .ttl_seconds
                .map(TtlSeconds::duration)
                .unwrap_or(self.0.reservation_ttl),
            allow_partial: b.allow_partial.unwrap_or(false),
            items: b
                .items
                .into_iter()
                .map(|i| HoldItem {
                    product_id: i.product_id,
                    store_id: i.store_id,
                    quantity: i.quantity,
                })
                .collect(),
        };
        let declared = Declared {
            pairs: input
                .items
                .iter()
                .map(|item| (item.product_id.clone(), item.store_id.clone()))
                .collect(),
            ..Declared::default()
        };
        let answer = write.write(
            &self.0,
            declared,
            move |tx| holds::create_hold(tx, &input, &time::now()),
            |result| {
                let hold = result?;
                let location = format!("/api/v1/holds/{}", hold.hold.id);
                Ok(Created::Created(Json(hold.into()), location))
            },
        );
        Ok(answer.await?)
    }

    /// Get a hold with its lines
    #[oai(path = "/holds/:id", method = "get", operation_id = "get_hold")]
    async fn get(
        &self,
        _auth: ApiKeyAuth,
        id: Path<HoldId>,
    ) -> Answer<Json<Hold>, statuses::ReadParamsOne> {
        Ok(Json(self.0.reads.hold(&id.0).await?.into()))
    }

    /// Confirm a hold (the sale): every pending line's units leave the shelf
    ///
    /// One transaction; each line gets its `reservation.confirmed` event. Past the deadline
    /// the whole hold is expired instead: 409 `RESERVATION_EXPIRED`.
    #[oai(
        path = "/holds/:id/confirm",
        method = "post",
        operation_id = "confirm_hold"
    )]
    async fn confirm(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        id: Path<HoldId>,
    ) -> Answer<Replayable<Json<Hold>>, statuses::WriteNoBody> {
        let id = id.0;
        let answer = idempotency
            .without_body(&auth)
            .counted_as("confirm_hold")
            .write(
                &self.0,
                Declared::default(),
                move |tx| holds::confirm_hold(tx, &id, &time::now()),
                |result| {
                    // A confirm past the deadline commits the expiry and answers 409.
                    let result = result.and_then(|outcome| match outcome {
                        HoldOutcome::Done(hold) => Ok(hold),
                        HoldOutcome::Expired(hold) => Err(expired(hold)),
                    });
                    Ok(Json(Hold::from(result?)))
                },
            );
        Ok(answer.await?)
    }

    /// Cancel a hold: every pending line's units become available again
    #[oai(
        path = "/holds/:id/cancel",
        method = "post",
        operation_id = "cancel_hold"
    )]
    async fn cancel(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        id: Path<HoldId>,
        body: JsonBody<CancelBody>,
    ) -> Answer<Replayable<Json<Hold>>, statuses::WriteBody> {
        let write = idempotency
            .with_body(&auth, &body.0)
            .counted_as("cancel_hold");
        let id = id.0;
        let reason = body.0.reason;
        let answer = write.write(
            &self.0,
            Declared::default(),
            move |tx| holds::cancel_hold(tx, &id, reason.as_deref(), &time::now()),
            |result| Ok(Json(Hold::from(result?))),
        );
        Ok(answer.await?)
    }

    /// Move a pending hold's deadline (every line's) to now + `ttl_seconds`
    ///
    /// At most `RESERVATION_MAX_LIFETIME` after the hold's creation (409
    /// `RESERVATION_LIFETIME_EXCEEDED`). Each pending line gets a `reservation.extended`
    /// event. Past the deadline the hold is expired instead: 409 `RESERVATION_EXPIRED`.
    #[oai(
        path = "/holds/:id/extend",
        method = "post",
        operation_id = "extend_hold"
    )]
    async fn extend(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        id: Path<HoldId>,
        body: JsonBody<ExtendBody>,
    ) -> Answer<Replayable<Json<Hold>>, statuses::WriteBody> {
        let write = idempotency
            .with_body(&auth, &body.0)
            .counted_as("extend_hold");
        let id = id.0;
        let ttl = body.0.ttl_seconds.duration();
        let max_lifetime = self.0.reservation_max_lifetime;
        let answer = write.write(
            &self.0,
            Declared::default(),
            move |tx| holds::extend_hold(tx, &id, ttl, max_lifetime, &time::now()),
            |result| {
                // An extend past the deadline commits the expiry and answers 409.
                let result = result.and_then(|outcome| match outcome {
                    ExtendOutcome::Extended(hold) => Ok(hold),
                    ExtendOutcome::Expired(hold) => Err(expired(hold)),
                });
                Ok(Json(Hold::from(result?)))
            },
        );
        Ok(answer.await?)
    }
}
