//! What an inventory operation can answer instead of success, in the domain's own terms.
//! The HTTP edge maps each variant to a status and a problem body in one place
//! (`impl From<OpError> for ApiError` in `crate::http::error`); the operations never name a
//! status.

use crate::domain::{HoldStatus, ProductId, ReservationStatus, StoreId};
use crate::store::StoreError;

/// A line of a hold that cannot be reserved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShortLine {
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Units asked for.
    pub requested: i64,
    /// Units available when the hold was made.
    pub available: i64,
}

fn short_lines(lines: &[ShortLine]) -> String {
    let each: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} in {} (requested {}, available {})",
                l.product_id, l.store_id, l.requested, l.available
            )
        })
        .collect();
    each.join("; ")
}

/// An item of a bulk stock sync that was refused, and why.
#[derive(Debug)]
pub struct ItemRefusal {
    /// Position in the request's `items`.
    pub index: usize,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// Why (never [`OpError::Storage`]: a storage failure fails the whole call).
    pub error: OpError,
}

/// Why an inventory operation did not happen. Nothing of a failed operation is applied: its
/// savepoint is rolled back (see [`crate::writer`]).
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// No product with this id.
    #[error("product {0} does not exist")]
    ProductNotFound(String),
    /// No product with this SKU.
    #[error("no product has SKU {0}")]
    SkuNotFound(String),
    /// The product has no stock row in that store.
    #[error("product {product_id} has no stock row in store {store_id}")]
    StockNotFound {
        /// Product.
        product_id: String,
        /// Store.
        store_id: String,
    },
    /// No reservation with this id.
    #[error("reservation {0} does not exist")]
    ReservationNotFound(String),
    /// No hold with this id.
    #[error("hold {0} does not exist")]
    HoldNotFound(String),
    /// Another product has the SKU.
    #[error("another product already has SKU {0}")]
    SkuTaken(String),
    /// A product with units on hand or pending reservations cannot be deleted.
    #[error("product {0} still has stock on hand or pending reservations")]
    ProductInUse(String),
    /// The stock row exists already.
    #[error("product {product_id} already has stock in store {store_id}")]
    StockExists {
        /// Product.
        product_id: String,
        /// Store.
        store_id: String,
    },
    /// The change would leave fewer units on hand than are reserved.
    #[error("the result ({quantity}) would be below the {reserved} reserved units")]
    QuantityBelowReserved {
        /// The on-hand quantity the change would leave.
        quantity: i64,
        /// Units held by pending reservations.
        reserved: i64,
    },
    /// Fewer units are available than asked for.
    #[error("requested {requested} units but only {available} are available in store {store_id}")]
    InsufficientStock {
        /// Units asked for.
        requested: i64,
        /// Units available.
        available: i64,
        /// Store.
        store_id: String,
    },
    /// The reservation is no longer PENDING.
    #[error("reservation {id} is {status}, not PENDING")]
    NotPending {
        /// Reservation.
        id: String,
        /// Its current status.
        status: ReservationStatus,
    },
    /// The hold is no longer PENDING.
    #[error("hold {id} is {status}, not PENDING")]
    HoldNotPending {
        /// Hold.
        id: String,
        /// Its current status.
        status: HoldStatus,
    },
    /// The hold was past its deadline: it has been expired with all its lines (committed).
    #[error("hold {id} expired at {expires_at}; its units were released")]
    HoldExpired {
        /// Hold.
        id: String,
        /// Its deadline (stored format).
        expires_at: String,
    },
    /// One or more lines of a hold cannot be reserved; nothing was.
    #[error("{} line(s) of the hold cannot be reserved: {}", .0.len(), short_lines(.0))]
    ShortLines(Vec<ShortLine>),
    /// An extension would put the deadline past `RESERVATION_MAX_LIFETIME` after creation.
    #[error("{id} may not be held beyond {latest} (RESERVATION_MAX_LIFETIME after its creation)")]
    LifetimeExceeded {
        /// Reservation or hold.
        id: String,
        /// The latest deadline allowed (stored format).
        latest: String,
    },
    /// The reservation is a line of a hold: its deadline is the hold's (extend the hold).
    #[error("reservation {id} is a line of hold {hold_id}; extend the hold instead")]
    InHold {
        /// Reservation.
        id: String,
        /// Its hold.
        hold_id: String,
    },
    /// Items of an all-or-nothing bulk sync were refused; nothing was applied.
    #[error("{} item(s) of the bulk sync were refused; nothing was applied", .0.len())]
    BulkRefused(Vec<ItemRefusal>),
    /// The reservation was past its deadline: it has been expired (and that is committed).
    #[error("reservation {id} expired at {expires_at}; its units were released")]
    ReservationExpired {
        /// Reservation.
        id: String,
        /// Its deadline (stored format).
        expires_at: String,
    },
    /// `If-Match` named another version than the row's.
    #[error("If-Match names version {expected} but the stock row is at version {actual}")]
    VersionMismatch {
        /// The version the client sent.
        expected: i64,
        /// The row's version.
        actual: i64,
    },
    /// A value that passed the request's own checks is out of range once combined with the
    /// stored state (e.g. a quantity that would exceed the cap after an adjust): a conflict
    /// with the state (409), since no request schema can rule it out.
    #[error("{message}")]
    OutOfRange {
        /// The request field the value came from.
        field: &'static str,
        /// Why it was refused.
        message: String,
    },
    /// A transfer names one store as both source and destination: it would move nothing, and
    /// a caller reading a success as "the units moved" would be misled, so it is refused.
    #[error(
        "a transfer needs two different stores; {store_id} is both from_store_id and to_store_id"
    )]
    SameStore {
        /// The store named twice.
        store_id: String,
    },
    /// A read ran out of its time budget (`DB_READ_TIMEOUT`) and was interrupted, or no read
    /// connection freed up within it.
    #[error("the read did not finish within its time budget; try again or narrow it")]
    QueryTimeout,
    /// The writer is stopping; the operation was not run.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// The database could not be reached, or the write kept meeting other replicas' writes
    /// (a deadlock or serialization failure, rerun a bounded number of times); nothing of it
    /// was applied, and sending it again is safe. The cause is logged by the writer.
    #[error("the database is unavailable or busy; nothing was applied, try again shortly")]
    Unavailable,
    /// The storage failed (or a bug). Logged with its cause at the HTTP edge, never shown.
    #[error("storage failure: {0:#}")]
    Storage(anyhow::Error),
}

impl OpError {
    /// The stable code clients branch on (the problem body's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::ProductNotFound(_) | Self::SkuNotFound(_) => "PRODUCT_NOT_FOUND",
            Self::StockNotFound { .. } => "STOCK_NOT_FOUND",
            Self::ReservationNotFound(_) => "RESERVATION_NOT_FOUND",
            Self::HoldNotFound(_) => "HOLD_NOT_FOUND",
            Self::HoldNotPending { .. } => "INVALID_RESERVATION_STATE",
            Self::HoldExpired { .. } => "RESERVATION_EXPIRED",
            Self::ShortLines(_) => "INSUFFICIENT_STOCK",
            Self::LifetimeExceeded { .. } => "RESERVATION_LIFETIME_EXCEEDED",
            Self::InHold { .. } => "RESERVATION_IN_HOLD",
            Self::BulkRefused(_) => "BULK_ITEMS_REFUSED",
            Self::SkuTaken(_) => "SKU_TAKEN",
            Self::ProductInUse(_) => "PRODUCT_IN_USE",
            Self::StockExists { .. } => "STOCK_EXISTS",
            Self::QuantityBelowReserved { .. } => "QUANTITY_BELOW_RESERVED",
            Self::InsufficientStock { .. } => "INSUFFICIENT_STOCK",
            Self::NotPending { .. } => "INVALID_RESERVATION_STATE",
            Self::ReservationExpired { .. } => "RESERVATION_EXPIRED",
            Self::VersionMismatch { .. } => "VERSION_MISMATCH",
            Self::OutOfRange { .. } => "QUANTITY_LIMIT_EXCEEDED",
            Self::SameStore { .. } => "SAME_STORE",
            Self::QueryTimeout => "QUERY_TIMEOUT",
            Self::ShuttingDown | Self::Unavailable => "SERVICE_UNAVAILABLE",
            Self::Storage(_) => "INTERNAL_ERROR",
        }
    }

    /// A storage failure with what was being done.
    pub fn storage(context: &'static str, error: impl Into<anyhow::Error>) -> Self {
        Self::Storage(error.into().context(context))
    }

    pub(crate) fn stock_not_found(product_id: &ProductId, store_id: &StoreId) -> Self {
        Self::StockNotFound {
            product_id: product_id.as_str().to_owned(),
            store_id: store_id.as_str().to_owned(),
        }
    }
}

impl From<rusqlite::Error> for OpError {
    fn from(e: rusqlite::Error) -> Self {
        if inventory_shared::db::is_interrupted(&e) {
            return Self::QueryTimeout;
        }
        Self::storage("database (rusqlite)", e)
    }
}

/// A failure behind the storage seam: the same answers as the driver's own error gave before
/// the seam (an interrupted statement is a `QUERY_TIMEOUT`, anything else a storage failure
/// with its context).
impl From<StoreError> for OpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OverBudget => Self::QueryTimeout,
            StoreError::Failed(e) => Self::Storage(e),
        }
    }
}

/// A read over its budget on either backend: SQLite's interrupt or a pool wait past the
/// budget ([`inventory_shared::db::is_over_budget`]), or PostgreSQL's `statement_timeout`
/// cancelling the statement (SQLSTATE 57014, `query_canceled`; the read pool sets that timeout
/// to the budget, `crate::reads::postgres::open_read_pool`).
impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        if inventory_shared::db::is_over_budget(&e) || is_statement_timeout(&e) {
            return Self::QueryTimeout;
        }
        if is_connection_lost(&e) {
            tracing::warn!(error = %e, "database connection lost");
            return Self::Unavailable;
        }
        Self::storage("database (sqlx)", e)
    }
}

/// Whether the server went away under the statement (PostgreSQL: a broken socket, SQLSTATE
/// class 08, or 57P01–57P03, the server shutting down or restarting): 503, try again; the
/// pool reconnects by itself.
fn is_connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// Whether PostgreSQL cancelled the statement (SQLSTATE 57014: `statement_timeout`).
fn is_statement_timeout(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("57014"))
}

/// Result of an inventory operation.
pub type OpResult<T> = Result<T, OpError>;
