//! `/api/v1/stock`: per-store stock rows and the changes to them.

use inventory_shared::time;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::ApiKeyAuth;
use super::body::JsonBody;
use super::cursor::{self, List};
use super::error::ApiResult;
use super::idempotency::{Idempotency, IdempotentWrite, Replayable};
use super::models::{
    AdjustStockBody, Availability, InitStockBody, LowStock, ProductStock, SetStockBody, Stock,
    StoreStock, TransferBody, TransferResult,
};
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use super::types::{IfMatch, PositiveQuantity, ProductId, Quantity, StoreId};
use crate::ops::stock::{self, QuantityChange};
use crate::state::AppState;
use crate::store::Declared;

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
        let declared = stock_row(&b.product_id, &[&b.store_id]);
        let answer = write.write(
            &self.0,
            declared,
            move |tx| {
                stock::create_stock(
                    tx,
                    &b.product_id,
                    &b.store_id,
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

    /// A product's stock in every store, a page of stores at a time
    #[oai(
        path = "/stock/product/:product_id",
        method = "get",
        operation_id = "get_product_stock"
    )]
    async fn of_product(
        &self,
        _auth: ApiKeyAuth,
        product_id: Path<ProductId>,
        /// Stores per page, 1–1000.
        #[oai(
            default = "cursor::default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
        /// The previous page's `next_cursor`; leave it out for the first page.
        #[oai(example = "cursor::example")]
        cursor: Query<Option<String>>,
    ) -> Answer<Json<ProductStock>, statuses::ReadParamsOne> {
        let after = cursor::decode(List::ProductStock, cursor.0.as_deref())?;
        let found = self
            .0
            .reads
            .stock_of_product(&product_id.0, after.as_ref(), limit.0)
            .await?;
        Ok(Json(ProductStock {
            product_id: product_id.0.into_inner().into(),
            total_quantity: found.total_quantity,
            total_reserved: found.total_reserved,
            total_available: found.total_quantity - found.total_reserved,
            next_cursor: cursor::next(List::ProductStock, found.page.next.as_ref()),
            stores: found.page.rows.into_iter().map(Stock::from).collect(),
        }))
    }

    /// A store's stock of every product, a page at a time by product id
    #[oai(
        path = "/stock/store/:store_id",
        method = "get",
        operation_id = "get_store_stock"
    )]
    async fn of_store(
        &self,
        _auth: ApiKeyAuth,
        store_id: Path<StoreId>,
        /// Rows per page, 1–1000.
        #[oai(
            default = "cursor::default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
        /// The previous page's `next_cursor`; leave it out for the first page.
        #[oai(example = "cursor::example")]
        cursor: Query<Option<String>>,
    ) -> Answer<Json<StoreStock>, statuses::ReadParams> {
        let after = cursor::decode(List::StoreStock, cursor.0.as_deref())?;
        let page = self
            .0
            .reads
            .stock_of_store(&store_id.0, after.as_ref(), limit.0)
            .await?;
        Ok(Json(StoreStock {
            store_id: store_id.0.into_inner(),
            count: page.rows.len() as i64,
            next_cursor: cursor::next(List::StoreStock, page.next.as_ref()),
            items: page.rows.into_iter().map(Stock::from).collect(),
        }))
    }

    /// Rows whose available units are below a threshold, lowest first, a page at a time
    #[oai(
        path = "/stock/low-stock",
        method = "get",
        operation_id = "get_low_stock"
    )]
    async fn low_stock(
        &self,
        _auth: ApiKeyAuth,
        /// Rows with `available < threshold` are listed; up to 1000 indexed, above it each page
        /// scans the table.
        #[oai(default = "default_threshold")]
        threshold: Query<Quantity>,
        /// Only this store.
        store_id: Query<Option<StoreId>>,
        /// Rows per page, 1–1000.
        #[oai(
            default = "cursor::default_limit",
            validator(minimum(value = "1"), maximum(value = "1000"))
        )]
        limit: Query<i64>,
        /// The previous page's `next_cursor`; leave it out for the first page.
        #[oai(example = "cursor::example")]
        cursor: Query<Option<String>>,
    ) -> Answer<Json<LowStock>, statuses::ReadParams> {
        let after = cursor::decode(List::LowStock, cursor.0.as_deref())?;
        let page = self
            .0
            .reads
            .low_stock(threshold.0, store_id.0.as_ref(), after.as_ref(), limit.0)
            .await?;
        Ok(Json(LowStock {
            threshold: threshold.0.get(),
            count: page.rows.len() as i64,
            next_cursor: cursor::next(List::LowStock, page.next.as_ref()),
            items: page.rows.into_iter().map(Stock::from).collect(),
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
        product_id: Path<ProductId>,
        store_id: Path<StoreId>,
    ) -> Answer<OneRow, statuses::ReadParamsOne> {
        Ok(one_row(
            self.0.reads.stock(&product_id.0, &store_id.0).await?,
        ))
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
        product_id: Path<ProductId>,
        store_id: Path<StoreId>,
        /// Units asked about, ≥ 1.
        #[oai(default = "default_requested")]
        quantity: Query<PositiveQuantity>,
    ) -> Answer<Json<Availability>, statuses::ReadParamsOne> {
        let row = self.0.reads.stock(&product_id.0, &store_id.0).await?;
        Ok(Json(Availability {
            available: row.available(),
            sufficient: row.available() >= quantity.0.get(),
            requested: quantity.0.get(),
            product_id: row.product_id.into(),
            store_id: row.store_id.into_inner(),
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
        product_id: Path<ProductId>,
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
                store_id.0,
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
        product_id: Path<ProductId>,
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
                store_id.0,
                change,
                expected,
                body.0.reason,
            )
            .await?)
    }

    /// Move available units between two stores
    ///
    /// The two stores must differ: a transfer from a store to itself is 422 `SAME_STORE`
    /// (nothing written, no event, the `Idempotency-Key` not kept), never a 2xx that a client
    /// would book as units moved.
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
    ) -> Answer<Replayable<Json<TransferResult>>, statuses::Transfer> {
        let write = idempotency.with_body(&auth, &body.0);
        let b = body.0;
        let declared = stock_row(&b.product_id, &[&b.from_store_id, &b.to_store_id]);
        let answer = write.write(
            &self.0,
            declared,
            move |tx| {
                let t = stock::transfer(
                    tx,
                    &b.product_id,
                    &b.from_store_id,
                    &b.to_store_id,
                    b.quantity,
                    b.reason.as_deref(),
                    &time::now(),
                )?;
                Ok((b.product_id.clone(), b.quantity.get(), t))
            },
            |result| {
                let (product_id, quantity, t) = result?;
                Ok(Json(TransferResult {
                    product_id: product_id.into(),
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
        product_id: ProductId,
        store_id: StoreId,
        change: QuantityChange,
        expected: Option<i64>,
        reason: Option<String>,
    ) -> ApiResult<Replayable<OneRow>> {
        let declared = stock_row(&product_id, &[&store_id]);
        write
            .write(
                &self.0,
                declared,
                move |tx| {
                    stock::change_quantity(
                        tx,
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

fn default_threshold() -> Quantity {
    const TEN: Quantity = Quantity::new_const(10);
    TEN
}

fn default_requested() -> PositiveQuantity {
    const ONE: PositiveQuantity = PositiveQuantity::new_const(1);
    ONE
}

/// What a stock write acts on: the product's rows in `stores`, and the product (whose
/// existence it checks).
fn stock_row(product_id: &ProductId, stores: &[&StoreId]) -> Declared {
    Declared {
        pairs: stores
            .iter()
            .map(|store| (product_id.clone(), (*store).clone()))
            .collect(),
        products: vec![product_id.clone()],
        ..Declared::default()
    }
}
