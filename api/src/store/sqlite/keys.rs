//! [`KeyTx`](crate::store::KeyTx) on SQLite: the idempotency-key statements, run at once on the writer's connection.

use super::SqliteTx;
use crate::store::KeyTx;

impl KeyTx for SqliteTx<'_> {}
