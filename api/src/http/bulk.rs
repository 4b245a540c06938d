//! `POST /api/v1/stock/bulk`: the nightly ERP/WMS sync sets many rows in one call (see
//! [`crate::ops::bulk`]).

use inventory_shared::time;
use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::auth::ApiKeyAuth;
use super::body::{JsonBody, repeated_rows};
use super::error::{ApiError, refused_status};
use super::idempotency::{Idempotency, Replayable};
use super::models::{BulkItemResult, BulkModeName, BulkOutcome, BulkStockBody, BulkStockResult};
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use crate::ops::bulk::{self, BulkItem, BulkMode, ItemOutcome, ItemResult};
use crate::state::AppState;
use crate::store::Declared;

/// The bulk stock route.
pub struct BulkApi(pub AppState);

fn result_of(item: ItemResult) -> BulkItemResult {
    let (status, outcome, code, detail, stock) = match item.outcome {
        Ok(ItemOutcome::Created(row)) => (201, BulkOutcome::Created, None, None, Some(row)),
        Ok(ItemOutcome::Updated(row)) => (200, BulkOutcome::Updated, None, None, Some(row)),
        Ok(ItemOutcome::Unchanged(row)) => (200, BulkOutcome::Unchanged, None, None, Some(row)),
        Err(e) => (
            refused_status(&e).as_u16(),
            BulkOutcome::Refused,
            Some(e.code().to_owned()),
            Some(e.to_string()),
            None,
        ),
    };
    BulkItemResult {
        index: item.index as i64,
        product_id: item.product_id.into_inner(),
        store_id: item.store_id.into_inner(),
        status,
        outcome,
        code,
        detail,
        stock: stock.map(Into::into),
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Stock")]
impl BulkApi {
    /// Set the on-hand quantity of up to 1000 rows at once (ERP/WMS sync)
    ///
    /// Each item is a `PUT` of its row (`stock.updated`; no version bump and no event when
    /// unchanged), or creates the row when missing (`stock.created`). A quantity below the
    /// row's `reserved` is refused for that item (`QUANTITY_BELOW_RESERVED`), an unknown
    /// product too (`PRODUCT_NOT_FOUND`). `all_or_nothing` (default): one transaction; any
    /// refused item → 409 `BULK_ITEMS_REFUSED` listing every refused item in `items`, nothing
    /// applied. `per_item`: 200 with a result per item, refused ones included.
    #[oai(path = "/stock/bulk", method = "post", operation_id = "bulk_set_stock")]
    async fn bulk(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<BulkStockBody>,
    ) -> Answer<Replayable<Json<BulkStockResult>>, statuses::CreateBody> {
        let write = idempotency.with_body(&auth, &body.0);
        let b = body.0;
        let repeated = repeated_rows(
            b.items
                .iter()
                .map(|i| (i.product_id.as_str(), i.store_id.as_str())),
        );
        if !repeated.is_empty() {
            return Err(ApiError::Validation(repeated).into());
        }
        let name = b.mode.unwrap_or(BulkModeName::AllOrNothing);
        let mode = match name {
            BulkModeName::AllOrNothing => BulkMode::AllOrNothing,
            BulkModeName::PerItem => BulkMode::PerItem,
        };
        let items: Vec<BulkItem> = b
            .items
            .into_iter()
            .map(|i| BulkItem {
                product_id: i.product_id,
                store_id: i.store_id,
                quantity: i.quantity,
                reason: i.reason,
            })
            .collect();
        let declared = Declared {
            pairs: items
                .iter()
                .map(|item| (item.product_id.clone(), item.store_id.clone()))
                .collect(),
            products: items.iter().map(|item| item.product_id.clone()).collect(),
            ..Declared::default()
        };
        let answer = write.write(
            &self.0,
            declared,
            move |tx| bulk::sync_stock(tx, &items, mode, &time::now()),
            move |result| {
                let results: Vec<BulkItemResult> = result?.into_iter().map(result_of).collect();
                let refused = results
                    .iter()
                    .filter(|r| r.outcome == BulkOutcome::Refused)
                    .count() as i64;
                Ok(Json(BulkStockResult {
                    mode: name,
                    applied: results.len() as i64 - refused,
                    refused,
                    results,
                }))
            },
        );
        Ok(answer.await?)
    }
}
