//! `/api/v1/stock`: per-store stock rows and the changes to them.

use inventory_shared::time;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::body::JsonBody;
use super::idempotency::{Idempotency, IdempotentWrite, Replayable};
use super::models::{
    AdjustStockBody, Availability, InitStockBody, LowStock, ProductStock, SetStockBody, Stock,
    StoreStock, TransferBody, TransferResult,
};
use super::types::{IfMatch, StoreId};
use super::{ApiTags, AppState, auth::ApiKeyAuth};
use crate::error::{Answer, ApiResult, statuses};
use crate::ops::OpError;
use crate::ops::stock::{self, QuantityChange, Transfer};

/// Stock routes.
pub struct StockApi(pub AppState);

#[derive(ApiResponse)]
enum Created {
    /// The new stock row.
    #[oai(status = 201)]
    Created(
        Json<Stock>,
        #[oai(header = "Location")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[derive(ApiResponse)]
enum OneRow {
    /// The stock row; `ETag` is its version.
    #[oai(status = 200)]
    Ok(Json<Stock>, #[oai(header = "ETag")] String),
}

fn one_row(row: stock::StockRow) -> OneRow {
    let etag = format!("\"{}\"", row.version);
    OneRow::Ok(Json(row.into()), etag)
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Stock")]
impl StockApi {
    /// Create the stock row of a product in a store
    #[oai(path = "/stock", method = "post", operation_id = "create_stock")]
    async fn create(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<InitStockBody>,
    ) -> Answer<Replayable<Created>, statuses::WriteBody> {
        let write = idempotency.with_body(&auth, &body.0);
        let b = body.0;
        let answer = write.write(
            &self.0,
            move |conn| {
                stock::create_stock(
                    conn,
                    &b.product_id,
                    b.store_id.as_str(),
                    b.initial_quantity,
                    &time::now(),
                )
            },
            |result| {
                let row = result?;
                let location = format!("/api/v1/stock/{}/{}", row.product_id, row.store_id);
                let etag = format!("\"{}\"", row.version);
                Ok(Created::Created(Json(row.into()), location, etag))
            },
        );
        Ok(answer.await?)
    }

    /// A product's stock in every store
    #[oai(
        path = "/stock/product/:product_id",
        method = "get",
        operation_id = "get_product_stock"
    )]
    async fn of_product(
        &self,
        _auth: ApiKeyAuth,
        product_id: Path<String>,
    ) -> Answer<Json<ProductStock>, statuses::ReadOne> {
        let rows = stock::stock_of_product(&self.0.reader, &product_id.0).await?;
        let stores: Vec<Stock> = rows.into_iter().map(Stock::from).collect();
        Ok(Json(ProductStock {
            product_id: product_id.0,
            total_quantity: stores.iter().map(|s| s.quantity).sum(),
            total_reserved: stores.iter().map(|s| s.reserved).sum(),
            total_available: stores.iter().map(|s| s.available).sum(),
            stores,
        }))
    }

    /// A store's stock of every product
    #[oai(
        path = "/stock/store/:store_id",
        method = "get",
        operation_id = "get_store_stock"
    )]
    async fn of_store(
        &self,
        _auth: ApiKeyAuth,
        store_id: Path<StoreId>,
    ) -> Answer<Json<StoreStock>, statuses::ReadParams> {
        let items: Vec<Stock> = stock::stock_of_store(&self.0.reader, store_id.0.as_str())
            .await?
            .into_iter()
            .map(Stock::from)
            .collect();
        Ok(Json(StoreStock {
            store_id: store_id.0.into_inner(),
            count: items.len() as i64,
            items,
        }))
    }

    /// Rows whose available units are below a threshold, lowest first
    #[oai(
        path = "/stock/low-stock",
        method = "get",
        operation_id = "get_low_stock"
    )]
    async fn low_stock(
        &self,
        _auth: ApiKeyAuth,
        /// Rows with `available < threshold` are listed.
        #[oai(
            default = "default_threshold",
            validator(minimum(value = "0"), maximum(value = "1000000000"))
        )]
        threshold: Query<i64>,
        /// Only this store.
        store_id: Query<Option<StoreId>>,
    ) -> Answer<Json<LowStock>, statuses::ReadParams> {
        let items: Vec<Stock> = stock::low_stock(
            &self.0.reader,
            threshold.0,
            store_id.0.as_ref().map(StoreId::as_str),
        )
        .await?
        .into_iter()
        .map(Stock::from)
        .collect();
        Ok(Json(LowStock {
            threshold: threshold.0,
            count: items.len() as i64,
            items,
        }))
    }

    /// One stock row (with its version as ETag)
    #[oai(
        path = "/stock/:product_id/:store_id",
        method = "get",
        operation_id = "get_stock"
    )]
    async fn get(
        &self,
        _auth: ApiKeyAuth,
        product_id: Path<String>,
        store_id: Path<StoreId>,
    ) -> Answer<OneRow, statuses::ReadParamsOne> {
        Ok(one_row(self.0.point.read(|c| {
            stock::get_stock(c, &product_id.0, store_id.0.as_str())
        })?))
    }

    /// Whether a quantity is available right now
    #[oai(
        path = "/stock/:product_id/:store_id/availability",
        method = "get",
        operation_id = "check_availability"
    )]
    async fn availability(
        &self,
        _auth: ApiKeyAuth,
        product_id: Path<String>,
        store_id: Path<StoreId>,
        /// Units asked about, ≥ 1.
        #[oai(
            default = "default_requested",
            validator(minimum(value = "1"), maximum(value = "1000000000"))
        )]
        quantity: Query<i64>,
    ) -> Answer<Json<Availability>, statuses::ReadParamsOne> {
        let row = self
            .0
            .point
            .read(|c| stock::get_stock(c, &product_id.0, store_id.0.as_str()))?;
        Ok(Json(Availability {
            available: row.available(),
            sufficient: row.available() >= quantity.0,
            requested: quantity.0,
            product_id: row.product_id,
            store_id: row.store_id,
        }))
    }

    /// Set the on-hand quantity
    ///
    /// Setting the quantity the row already has changes nothing: 200 with the unchanged row,
    /// no version bump, no event (`If-Match` is still checked).
    #[oai(
        path = "/stock/:product_id/:store_id",
        method = "put",
        operation_id = "set_stock"
    )]
    async fn set(
        &self,
        auth: ApiKeyAuth,
        product_id: Path<String>,
        store_id: Path<StoreId>,
        /// Only apply when the row is still at this version (`"3"`), else 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<IfMatch>>,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<SetStockBody>,
    ) -> Answer<Replayable<OneRow>, statuses::WriteBodyIfMatch> {
        let expected = if_match.0.as_ref().and_then(IfMatch::version);
        let write = idempotency.with_body(&auth, &body.0);
        let change = QuantityChange::Set(body.0.quantity);
        Ok(self
            .change(
                write,
                product_id.0,
                store_id.0.into_inner(),
                change,
                expected,
                body.0.reason,
            )
            .await?)
    }

    /// Add to or remove from the on-hand quantity atomically
    ///
    /// An adjustment of 0 changes nothing: 200 with the unchanged row, no version bump, no
    /// event (`If-Match` is still checked).
    #[oai(
        path = "/stock/:product_id/:store_id/adjust",
        method = "post",
        operation_id = "adjust_stock"
    )]
    async fn adjust(
        &self,
        auth: ApiKeyAuth,
        product_id: Path<String>,
        store_id: Path<StoreId>,
        /// Only apply when the row is still at this version (`"3"`), else 412.
        #[oai(name = "If-Match")]
        if_match: Header<Option<IfMatch>>,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<AdjustStockBody>,
    ) -> Answer<Replayable<OneRow>, statuses::WriteBodyIfMatch> {
        let expected = if_match.0.as_ref().and_then(IfMatch::version);
        let write = idempotency.with_body(&auth, &body.0);
        let change = QuantityChange::Add(body.0.adjustment);
        Ok(self
            .change(
                write,
                product_id.0,
                store_id.0.into_inner(),
                change,
                expected,
                body.0.reason,
            )
            .await?)
    }

    /// Move available units between two stores
    ///
    /// A transfer to the same store moves nothing: 200 with `quantity: 0` and the row as it is
    /// (no version bump, no event), still 404 for a missing row and 409 when fewer units are
    /// available than asked.
    #[oai(
        path = "/stock/transfer",
        method = "post",
        operation_id = "transfer_stock"
    )]
    async fn transfer(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<TransferBody>,
    ) -> Answer<Replayable<Json<TransferResult>>, statuses::WriteBody> {
        let write = idempotency.with_body(&auth, &body.0);
        let b = body.0;
        let answer = write.write(
            &self.0,
            move |conn| {
                if b.from_store_id == b.to_store_id {
                    // Moving units to the store they are in changes nothing: 200 with the row
                    // as it is, no version bump, no event (like a PUT of the same quantity);
                    // the row must exist and hold the units, as for a real transfer. Read on
                    // the writer so a keyed request stores this answer like any other.
                    let row = stock::get_stock(conn, &b.product_id, b.from_store_id.as_str())?;
                    if row.available() < b.quantity {
                        return Err(OpError::InsufficientStock {
                            requested: b.quantity,
                            available: row.available(),
                            store_id: row.store_id,
                        });
                    }
                    let unchanged = Transfer {
                        from: row.clone(),
                        to: row,
                    };
                    return Ok((b.product_id, 0, unchanged));
                }
                let t = stock::transfer(
                    conn,
                    &b.product_id,
                    b.from_store_id.as_str(),
                    b.to_store_id.as_str(),
                    b.quantity,
                    b.reason.as_deref(),
                    &time::now(),
                )?;
                Ok((b.product_id, b.quantity, t))
            },
            |result| {
                let (product_id, quantity, t) = result?;
                Ok(Json(TransferResult {
                    product_id,
                    quantity,
                    from: t.from.into(),
                    to: t.to.into(),
                }))
            },
        );
        Ok(answer.await?)
    }
}

impl StockApi {
    async fn change(
        &self,
        write: IdempotentWrite,
        product_id: String,
        store_id: String,
        change: QuantityChange,
        expected: Option<i64>,
        reason: Option<String>,
    ) -> ApiResult<Replayable<OneRow>> {
        write
            .write(
                &self.0,
                move |conn| {
                    stock::change_quantity(
                        conn,
                        &product_id,
                        &store_id,
                        change,
                        expected,
                        reason.as_deref(),
                        &time::now(),
                    )
                },
                |result| Ok(one_row(result?)),
            )
            .await
    }
}

fn default_threshold() -> i64 {
    10
}

fn default_requested() -> i64 {
    1
}
