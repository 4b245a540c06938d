//! The inventory operations: the rules. Every write is written against [`crate::store::Tx`]
//! (generic over it, no SQL, no driver type): each change and its event go through the
//! caller's transaction, so they commit or roll back together, on SQLite (the writer thread's
//! `BEGIN IMMEDIATE`, `crate::writer`) and on PostgreSQL (a batch's unit of work,
//! `crate::store::postgres`) alike. Point reads take a
//! read-only `rusqlite` connection
//! ([`crate::reads`]); lists and stats are async on the sqlx read pool. Every list is read a
//! keyset page at a time ([`page`]; the stock lists in [`stock_lists`], the reservation lists in
//! [`reservation_lists`], the products in [`products`]). Every operation
//! answers an [`OpError`] when it does not happen; the HTTP edge maps it. Operations take the
//! parsed values of [`crate::domain`] (ids, quantities, statuses), never raw text, and return
//! its typed rows; a stored row becomes a typed one here, where it is read, and a status's
//! text appears only in the domain's enum and in the SQL.
//! (The audit log's reads are in [`inventory_shared::outbox`] with the rest of the
//! `events` table's SQL.)

pub mod bulk;
pub mod error;
pub mod expire_batch;
pub mod extend;
pub mod holds;
pub mod idempotency;
pub mod page;
pub mod products;
pub mod reservation_lists;
pub mod reservations;
pub mod stock;
pub mod stock_lists;

pub use error::{ItemRefusal, OpError, OpResult, ShortLine};

pub use crate::domain::MAX_QUANTITY;
