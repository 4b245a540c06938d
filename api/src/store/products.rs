//! [`ProductTx`]: the products, as the write rules see them. Part of [`super::Tx`].

use super::StoreResult;
use crate::domain::ProductId;

/// The products, as the write rules see them. Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait ProductTx {
    /// Whether the product exists.
    fn product_exists(&mut self, product_id: &ProductId) -> StoreResult<bool>;
}
