//! `/api/v1/products`: the catalogue. Reads are public; writes need a key.

use inventory_shared::time;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, OpenApi};

use super::auth::ApiKeyAuth;
use super::body::JsonBody;
use super::cursor::{self, List};
use super::error::{ApiError, ApiResult, FieldError};
use super::idempotency::{Idempotency, Replayable};
use super::models::{Product, ProductBody, ProductPage};
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use super::types::{ProductId, Sku};
use crate::ops::products::{self, ProductInput, ProductsFrom};
use crate::state::AppState;
use crate::store::Declared;

/// Product routes.
pub struct ProductsApi(pub AppState);

#[derive(ApiResponse)]
enum Created {
    /// Created.
    #[oai(status = 201)]
    Created(Json<Product>, #[oai(header = "Location")] String),
}

#[derive(ApiResponse)]
enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    NoContent,
}

impl ProductBody {
    /// Turns a checked body into the operation's input (price to exact cents).
    fn into_input(self) -> ApiResult<ProductInput> {
        let mut errors = Vec::new();
        if super::types::is_blank(&self.name) {
            errors.push(FieldError::new("name", "must not be blank"));
        }
        if !errors.is_empty() {
            return Err(ApiError::Validation(errors));
        }
        let blank_to_none = |v: Option<String>| v.filter(|s| !super::types::is_blank(s));
        Ok(ProductInput {
            sku: self.sku,
            name: self.name,
            description: blank_to_none(self.description),
            category: blank_to_none(self.category),
            price_cents: self.price.cents(),
        })
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Products")]
impl ProductsApi {
    /// List products, a page at a time (by offset or by cursor)
    #[oai(path = "/products", method = "get", operation_id = "list_products")]
    async fn list(
        &self,
        /// Page size, 1–200.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "200"))
        )]
        limit: Query<i64>,
        /// Products to skip. Cannot be combined with `cursor`.
        #[oai(default, validator(minimum(value = "0")))]
        offset: Query<i64>,
        /// Only this category.
        category: Query<Option<String>>,
        /// The previous page's `next_cursor`, instead of `offset`; leave it out for the first
        /// page.
        #[oai(example = "cursor::example")]
        cursor: Query<Option<String>>,
    ) -> Answer<Json<ProductPage>, statuses::PublicList> {
        let category = category.0.filter(|c| !c.is_empty());
        let after = cursor::decode(List::Products, cursor.0.as_deref())?;
        let from = match &after {
            Some(_) if offset.0 > 0 => {
                return Err(ApiError::field("offset", "cannot be combined with cursor").into());
            }
            Some(after) => ProductsFrom::After(after),
            None => ProductsFrom::Offset(offset.0),
        };
        let (page, total) = self
            .0
            .reads
            .products(category.as_deref(), from, limit.0)
            .await?;
        Ok(Json(ProductPage {
            next_cursor: cursor::next(List::Products, page.next.as_ref()),
            data: page.rows.into_iter().map(Product::from).collect(),
            limit: limit.0,
            offset: offset.0,
            total,
        }))
    }

    /// Get a product by id
    #[oai(path = "/products/:id", method = "get", operation_id = "get_product")]
    async fn get(&self, id: Path<ProductId>) -> Answer<Json<Product>, statuses::PublicGet> {
        Ok(Json(self.0.reads.product(&id.0).await?.into()))
    }

    /// Get a product by SKU
    #[oai(
        path = "/products/sku/:sku",
        method = "get",
        operation_id = "get_product_by_sku"
    )]
    async fn get_by_sku(&self, sku: Path<Sku>) -> Answer<Json<Product>, statuses::PublicGet> {
        Ok(Json(self.0.reads.product_by_sku(&sku.0).await?.into()))
    }

    /// Create a product
    #[oai(path = "/products", method = "post", operation_id = "create_product")]
    async fn create(
        &self,
        auth: ApiKeyAuth,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<ProductBody>,
    ) -> Answer<Replayable<Created>, statuses::CreateBody> {
        let write = idempotency.with_body(&auth, &body.0);
        let input = body.0.into_input()?;
        let answer = write.write(
            &self.0,
            Declared::default(),
            move |tx| products::insert_product(tx, &input, &time::now()),
            |result| {
                let row = result?;
                let location = format!("/api/v1/products/{}", row.id);
                Ok(Created::Created(Json(row.into()), location))
            },
        );
        Ok(answer.await?)
    }

    /// Replace a product's fields
    #[oai(
        path = "/products/:id",
        method = "put",
        operation_id = "replace_product"
    )]
    async fn replace(
        &self,
        auth: ApiKeyAuth,
        id: Path<ProductId>,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
        body: JsonBody<ProductBody>,
    ) -> Answer<Replayable<Json<Product>>, statuses::WriteBody> {
        let write = idempotency.with_body(&auth, &body.0);
        let input = body.0.into_input()?;
        let id = id.0;
        let answer = write.write(
            &self.0,
            Declared::default(),
            move |tx| products::replace_product(tx, &id, &input, &time::now()),
            |result| Ok(Json(Product::from(result?))),
        );
        Ok(answer.await?)
    }

    /// Delete a product with no stock on hand and no pending reservation
    #[oai(
        path = "/products/:id",
        method = "delete",
        operation_id = "delete_product"
    )]
    async fn delete(
        &self,
        auth: ApiKeyAuth,
        id: Path<ProductId>,
        /// Makes a retry safe (see the schema).
        #[oai(name = "Idempotency-Key")]
        idempotency: Idempotency,
    ) -> Answer<Replayable<Deleted>, statuses::WriteNoBody> {
        let id = id.0;
        let answer = idempotency.without_body(&auth).write(
            &self.0,
            Declared::default(),
            move |tx| products::delete_product(tx, &id),
            |result| result.map(|()| Deleted::NoContent).map_err(Into::into),
        );
        Ok(answer.await?)
    }
}

fn default_limit() -> i64 {
    20
}
