//! Request and response bodies as the spec shows them (snake_case everywhere). Limits are
//! declared with `validator(...)` so they appear in the spec and [`super::body::JsonBody`]
//! enforces them, every field at once.
//!
//! One file per resource; everything is re-exported here.

mod bulk;
mod events;
mod examples;
mod holds;
mod products;
mod reservations;
mod stock;
mod system;

pub use bulk::*;
pub use events::*;
pub use holds::*;
pub use products::*;
pub use reservations::*;
pub use stock::*;
pub use system::*;
