//! [`KeyTx`]: the idempotency keys: the stored answers of keyed writes. Part of [`super::Tx`].

/// The idempotency keys: the stored answers of keyed writes. Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait KeyTx {}
