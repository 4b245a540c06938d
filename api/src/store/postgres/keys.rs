//! [`KeyTx`] on PostgreSQL.

use super::PgTx;
use crate::store::KeyTx;

impl KeyTx for PgTx {}
