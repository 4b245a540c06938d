//! The spec's tags, one per resource.

use poem_openapi::Tags;

/// Spec tags.
#[derive(Tags)]
pub enum ApiTags {
    /// The catalogue.
    Products,
    /// Per-store stock.
    Stock,
    /// Timed reservations.
    Reservations,
    /// The audit log and outbox.
    Events,
    /// Liveness of the service.
    System,
}
