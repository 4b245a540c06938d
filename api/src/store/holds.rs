//! [`HoldTx`]: the holds (multi-line reservations). Part of [`super::Tx`].

/// The holds (multi-line reservations). Every method acts inside the caller's transaction (see [`super::Tx`]).
pub trait HoldTx {}
