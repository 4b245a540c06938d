//! The outbox relay: the only component that talks to a message broker.
//!
//! Module map:
//! - [`config`]: settings from env / flags.
//! - [`publisher`]: the `Publisher` trait and one module per broker (`redis`, `kafka`, `nats`,
//!   `none`).

pub mod config;
pub mod publisher;
