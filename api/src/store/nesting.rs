//! [`NestTx`]: a part of a job whose changes can be undone without undoing the rest of the
//! job (the idempotency record kept for a refused operation, each hold expired on its own in
//! an expiry pass). Part of [`super::Tx`]. The writer's `nested` and `contained` are written
//! on these.

use super::StoreResult;

/// Nesting inside the caller's transaction. Every `nest` is closed by exactly one `unnest`,
/// innermost first.
pub trait NestTx {
    /// Starts a nested part: what follows can be undone by `unnest(false)`.
    fn nest(&mut self) -> StoreResult<()>;

    /// Ends the innermost nested part, keeping its changes (`keep`) or undoing them.
    fn unnest(&mut self, keep: bool) -> StoreResult<()>;

    /// A number that changes whenever the transaction changes a row (or stops being one):
    /// how the writer checks that a part which promised to refuse before writing left
    /// nothing when it refused.
    fn change_count(&mut self) -> u64;
}
