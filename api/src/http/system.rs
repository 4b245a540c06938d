//! `GET /health`: 200 when the database answers, 503 (problem body) when it does not. The
//! ping runs on a connection of its own ([`AppState::health`]), so slow lists holding every
//! read connection cannot make a healthy API look down to a load balancer.

use std::time::Duration;

use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::error::ApiError;
use super::models::Health;
use super::statuses::{self, Answer};
use super::tags::ApiTags;
use crate::state::AppState;

/// System routes.
pub struct SystemApi(pub AppState);

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Whether the service and its database answer
    #[oai(path = "/health", method = "get", operation_id = "health")]
    async fn health(&self) -> Answer<Json<Health>, statuses::Health> {
        let ping = tokio::time::timeout(Duration::from_secs(2), self.0.reads.ping()).await;
        match ping {
            Ok(Ok(())) => Ok(Json(Health {
                status: "ok".to_owned(),
                database: "ok".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            })),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "health check: database error");
                Err(ApiError::Unavailable("the database does not answer".to_owned()).into())
            }
            Err(_) => Err(ApiError::Unavailable(
                "the database did not answer within 2 s".to_owned(),
            )
            .into()),
        }
    }
}
