//! [`HoldTx`] on PostgreSQL.

use super::PgTx;
use crate::store::HoldTx;

impl HoldTx for PgTx {}
