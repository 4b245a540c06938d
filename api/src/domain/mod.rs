//! The inventory's domain types, below the operations: every value the rules take is parsed
//! once (at the HTTP edge today) into one of these, so an invalid id, quantity or status
//! cannot reach the SQL (STYLE 5), and every row an operation returns is typed with them.
//!
//! - [`ids`]: product, reservation and hold ids (UUIDs), store ids and SKUs.
//! - [`quantity`]: quantities, adjustments and TTLs, each with its range.
//! - [`status`]: the closed sets stored as text (the status of a reservation or a hold).
//! - [`rows`]: the typed rows the operations return.
//! - [`writes`]: what the write rules hand the store that is not a whole row (a product's
//!   fields, a due reservation, the idempotency records).
//!
//! Nothing here knows HTTP or a database driver: the spec's schemas (poem-openapi's traits)
//! are implemented in `crate::http::types`, the row mapping next to the statements
//! (`crate::store::sqlite`, `crate::ops`). Values read back from the database are rebuilt
//! with `from_stored`, which trusts what only parsed values could have written (the schema's
//! constraints say the same).

pub mod ids;
pub mod quantity;
pub mod rows;
pub mod status;
pub mod writes;

pub use ids::{HoldId, ProductId, ReservationId, Sku, StoreId, UUID_MESSAGE, is_blank};
pub use quantity::{Adjustment, MAX_QUANTITY, PositiveQuantity, Quantity, TtlSeconds};
pub use rows::{HoldRow, ProductRow, ReservationRow, StockRow};
pub use status::{HoldStatus, ReservationStatus};
pub use writes::{Due, KeyRecord, KeyScope, ProductInput, StoredAnswer};

#[cfg(test)]
mod tests;
