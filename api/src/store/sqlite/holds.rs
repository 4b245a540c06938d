//! [`HoldTx`](crate::store::HoldTx) on SQLite: the hold statements, run at once on the writer's connection.

use super::SqliteTx;
use crate::store::HoldTx;

impl HoldTx for SqliteTx<'_> {}
