//! Body of `GET /health`.

use poem_openapi::Object;

/// `GET /health`.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "snake_case", example)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: String,
    /// `ok` or the reason the database does not answer.
    pub database: String,
    /// Crate version.
    pub version: String,
}
