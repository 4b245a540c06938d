//! [`ProductTx`]: the products, as the write rules see them. Part of [`super::Tx`].

use super::StoreResult;
use crate::domain::{ProductId, ProductInput, ProductRow, Sku};

/// Another product has the SKU: the write was refused and changed nothing. (SQLite detects it
/// as the `UNIQUE` violation of `products.sku`, which undoes the statement; a backend whose
/// violation aborts the whole transaction, as PostgreSQL's does, must find the conflict before
/// it writes, e.g. `ON CONFLICT (sku) DO NOTHING` or a look-up of the locked SKU.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkuTaken;

/// The products, as the write rules see them. Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait ProductTx {
    /// Whether the product exists.
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool>;

    /// One product, if there is one.
    fn product(&mut self, id: &ProductId) -> StoreResult<Option<ProductRow>>;

    /// The product with this SKU, if there is one.
    fn product_with_sku(&mut self, sku: &Sku) -> StoreResult<Option<ProductRow>>;

    /// Stores a new product `id` with `input`'s fields, created and updated at `now`, answering
    /// the stored row; [`SkuTaken`] (nothing changed) when another product has its SKU.
    fn insert_product(
        &mut self,
        id: &ProductId,
        input: &ProductInput,
        now: &str,
    ) -> StoreResult<Result<ProductRow, SkuTaken>>;

    /// Replaces the fields of product `id` with `input`'s, updated at `now`, answering the
    /// changed row; `Ok(None)` when there is no such product and [`SkuTaken`] when another
    /// product has the SKU, both having changed nothing.
    fn replace_product(
        &mut self,
        id: &ProductId,
        input: &ProductInput,
        now: &str,
    ) -> StoreResult<Result<Option<ProductRow>, SkuTaken>>;

    /// Whether the product still has units on hand in some store or a PENDING reservation.
    fn product_in_use(&mut self, id: &ProductId) -> StoreResult<bool>;

    /// Deletes the product, and with it its stock rows and its reservations (its events stay
    /// in the audit log); `false` (nothing changed) when there is no such product. The caller
    /// checked [`ProductTx::product_in_use`] first.
    fn delete_product(&mut self, id: &ProductId) -> StoreResult<bool>;
}
