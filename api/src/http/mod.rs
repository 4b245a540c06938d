//! The HTTP layer: routes, the middleware every request goes through, and the spec.
//!
//! Every response leaves through [`around`]: it sets `X-Request-Id`, turns every error
//! (ours, poem-openapi's parse errors, unknown routes, wrong methods) into a problem body,
//! logs internal errors once with the request id, and records the request metrics.

pub mod auth;
pub mod body;
pub mod bulk;
pub mod cursor;
pub mod events;
pub mod holds;
pub mod idempotency;
pub mod models;
pub mod products;
pub mod reservations;
pub mod spec;
pub mod stock;
pub mod types;

mod allow;
mod system;

use std::sync::Arc;
use std::time::Instant;

use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};
use poem_openapi::error::{
    AuthorizationError, ContentTypeError, ParseParamError, ParsePathError, ParseRequestPayloadError,
};
use poem_openapi::{OpenApiService, OperationId, Tags};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::{ApiError, FieldError, problem_response};
use crate::writer::Writer;

pub use allow::AllowIndex;

/// What every handler needs: the three ways to the database, each for one kind of work.
#[derive(Clone)]
pub struct AppState {
    /// sqlx read pool (`DB_READ_CONNECTIONS`), every read under `DB_READ_TIMEOUT`: lists and
    /// stats.
    pub reader: sqlx::SqlitePool,
    /// `/health`'s own connection, so the ping never waits behind lists.
    pub health: sqlx::SqlitePool,
    /// The one writer: every write of the process, group-committed.
    pub writer: Writer,
    /// Point reads (one row by key) and audit-log pages on read-only `rusqlite` connections.
    pub point: crate::reads::PointReader,
    /// Default reservation time to live.
    pub reservation_ttl: chrono::Duration,
    /// Longest a reservation or hold may live from its creation (`RESERVATION_MAX_LIFETIME`).
    pub reservation_max_lifetime: chrono::Duration,
    /// How long an `Idempotency-Key`'s answer is kept (`IDEMPOTENCY_KEY_TTL`).
    pub idempotency_ttl: chrono::Duration,
}

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

type Apis = (
    products::ProductsApi,
    stock::StockApi,
    bulk::BulkApi,
    reservations::ReservationsApi,
    holds::HoldsApi,
    events::EventsApi,
    system::SystemApi,
);

/// The OpenAPI service over every route.
pub fn openapi_service(state: &AppState) -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            products::ProductsApi(state.clone()),
            stock::StockApi(state.clone()),
            bulk::BulkApi(state.clone()),
            reservations::ReservationsApi(state.clone()),
            holds::HoldsApi(state.clone()),
            events::EventsApi(state.clone()),
            system::SystemApi(state.clone()),
        ),
        "Inventory API",
        env!("CARGO_PKG_VERSION"),
    )
    // Relative: the spec is served by the API it describes, so clients resolve paths against
    // wherever they fetched it from.
    .server("/")
    .license(poem_openapi::LicenseObject::new("MIT").url("https://opensource.org/licenses/MIT"))
    .description(
        "Multi-store inventory: products, per-store stock and timed reservations. Every stock \
         change is written with its event in one transaction; errors are RFC 9457 problem \
         bodies with a stable `code`.",
    )
}

/// The whole application endpoint. Fails only when the spec cannot be finished (a link names
/// an operation that does not exist: a bug, caught by the tests).
pub fn routes(
    state: &AppState,
    keys: Arc<auth::ApiKeys>,
) -> anyhow::Result<impl Endpoint + 'static> {
    let service = openapi_service(state);
    let poem_json = service.spec();
    let allow = Arc::new(AllowIndex::from_spec(&poem_json));
    let metrics = crate::metrics::handle();
    let app = spec::add_endpoints(Route::new(), &poem_json, service.swagger_ui_html())?
        .at(
            "/metrics",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("text/plain; version=0.0.4")
                    .body(metrics.render())
            }),
        )
        .nest("/", service)
        .data(keys)
        .around(move |ep, req| around(ep, req, allow.clone()))
        .into_endpoint();
    Ok(app)
}

async fn around<E: Endpoint>(
    ep: Arc<E>,
    req: Request,
    allow: Arc<AllowIndex>,
) -> poem::Result<Response> {
    let request_id = req
        .header("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| Uuid::now_v7().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let started = Instant::now();
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %method, path = %path);
    let result = ep
        .call(req)
        .instrument(span.clone())
        .await
        .map(IntoResponse::into_response);
    let (mut response, route) = match result {
        Ok(resp) => {
            let route = resp
                .data::<OperationId>()
                .map(|o| o.0)
                .unwrap_or_else(|| static_route(&path));
            (ensure_problem(resp), route)
        }
        Err(err) => {
            let route = err
                .data::<OperationId>()
                .map(|o| o.0)
                .unwrap_or_else(|| static_route(&path));
            let _guard = span.enter();
            (error_response(err, method.as_str(), &path, &allow), route)
        }
    };
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    let status = response.status().as_u16();
    crate::metrics::record_request(method.as_str(), route, status, started.elapsed());
    if status >= 500 {
        tracing::warn!(parent: &span, status, "request failed");
    }
    Ok(response)
}

fn static_route(path: &str) -> &'static str {
    match path {
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/openapi.json" => "/openapi.json",
        "/openapi.yaml" => "/openapi.yaml",
        p if p.starts_with("/docs") => "/docs",
        _ => "unmatched",
    }
}

/// Any 4xx/5xx that is not yet a problem body becomes one (panics caught by poem, limits).
fn ensure_problem(resp: Response) -> Response {
    let status = resp.status();
    let is_problem = resp
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/problem+json"));
    if status.as_u16() < 400 || is_problem {
        return resp;
    }
    problem_response(&status_problem(status, String::new()).problem())
}

fn status_problem(status: StatusCode, detail: String) -> ApiError {
    let code = match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNAUTHORIZED => return ApiError::Unauthorized,
        s if s.is_server_error() => return ApiError::Internal(anyhow::anyhow!("{s}: {detail}")),
        _ => "BAD_REQUEST",
    };
    let detail = if detail.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        detail
    };
    ApiError::Other(status, code, detail)
}

/// The one place errors become responses.
fn error_response(err: poem::Error, method: &str, path: &str, allow: &AllowIndex) -> Response {
    let api_error = if let Some(e) = err.downcast_ref::<ApiError>() {
        match e {
            ApiError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                return problem_response(&e.problem());
            }
            _ => return problem_response(&e.problem()),
        }
    } else if let Some(e) = err.downcast_ref::<ParseParamError>() {
        ApiError::Validation(vec![FieldError::new(e.name, human_reason(&e.reason))])
    } else if let Some(e) = err.downcast_ref::<ParsePathError>() {
        let name = e
            .name
            .strip_prefix("param")
            .and_then(|n| n.parse().ok())
            .and_then(|n| allow.path_param_name(path, n))
            .unwrap_or_else(|| e.name.to_owned());
        ApiError::Validation(vec![FieldError::new(name, human_reason(&e.reason))])
    } else if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        ApiError::MalformedJson(e.reason.clone())
    } else if err.is::<AuthorizationError>() {
        ApiError::Unauthorized
    } else if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        ApiError::Other(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            e.to_string(),
        )
    } else {
        let status = err.status();
        let detail = match status {
            StatusCode::NOT_FOUND => format!("no route for {method} {path}"),
            StatusCode::METHOD_NOT_ALLOWED => format!("{method} is not allowed on {path}"),
            s if s.is_server_error() => err.to_string(),
            _ => err.to_string(),
        };
        status_problem(status, detail)
    };
    if let ApiError::Internal(cause) = &api_error {
        tracing::error!(error = format!("{cause:#}"), "internal error");
    }
    let mut response = problem_response(&api_error.problem());
    if api_error.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = allow.allowed(path)
        && let Ok(value) = HeaderValue::from_str(&methods)
    {
        response.headers_mut().insert("allow", value);
    }
    response
}

/// Turns poem-openapi's parse and validator wording ("verification failed. minimum(1,
/// exclusive: false)", `failed to parse "integer(int64)": …`) into a sentence a person
/// understands ("must be at least 1"). Our own types' messages ("must be …") pass through.
pub fn human_reason(reason: &str) -> String {
    // `Option<T>` appends where it was; the field name already says that.
    let reason = reason
        .rfind(" (occurred while parsing")
        .map_or(reason, |at| &reason[..at]);
    if let Some(rule) = reason.strip_prefix("verification failed. ") {
        return human_rule(rule);
    }
    if let Some(rest) = reason.strip_prefix("failed to parse \"")
        && let Some((ty, message)) = rest.split_once("\": ")
    {
        if message.starts_with("must ") || message.starts_with("is ") {
            return message.to_owned();
        }
        return must_be_type(ty);
    }
    if let Some(rest) = reason.strip_prefix("Expected input type \"") {
        if rest.ends_with("found null.") {
            return "is required".to_owned();
        }
        if let Some((ty, _)) = rest.split_once('"') {
            return must_be_type(ty);
        }
    }
    let text: String = reason.chars().take(200).collect();
    if text.is_empty() {
        "is invalid".to_owned()
    } else {
        text
    }
}

fn must_be_type(ty: &str) -> String {
    match ty {
        t if t.starts_with("integer") => "must be a whole number".to_owned(),
        t if t.starts_with("number") => "must be a number".to_owned(),
        "boolean" => "must be true or false".to_owned(),
        t if t.starts_with("string") => "must be a string".to_owned(),
        _ => "is not a valid value".to_owned(),
    }
}

fn human_rule(rule: &str) -> String {
    let arg = |name: &str| -> Option<&str> {
        rule.strip_prefix(name)?
            .strip_prefix('(')?
            .strip_suffix(')')
    };
    if let Some(inner) = arg("minimum") {
        let (n, exclusive) = inner
            .split_once(", exclusive: ")
            .unwrap_or((inner, "false"));
        return if exclusive == "true" {
            format!("must be greater than {n}")
        } else {
            format!("must be at least {n}")
        };
    }
    if let Some(inner) = arg("maximum") {
        let (n, exclusive) = inner
            .split_once(", exclusive: ")
            .unwrap_or((inner, "false"));
        return if exclusive == "true" {
            format!("must be less than {n}")
        } else {
            format!("must be at most {n}")
        };
    }
    if let Some(n) = arg("minLength") {
        return if n == "1" {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {n} characters")
        };
    }
    if let Some(n) = arg("maxLength") {
        return format!("must be at most {n} characters");
    }
    if let Some(p) = arg("pattern") {
        return format!("must match {}", p.trim_matches('"'));
    }
    "is invalid".to_owned()
}

#[cfg(test)]
mod tests {
    use super::human_reason;

    #[test]
    fn framework_reasons_read_as_sentences() {
        for (raw, human) in [
            (
                "verification failed. minimum(1, exclusive: false)",
                "must be at least 1",
            ),
            (
                "verification failed. maximum(1000, exclusive: false)",
                "must be at most 1000",
            ),
            ("verification failed. minLength(1)", "must not be empty"),
            (
                "verification failed. maxLength(64)",
                "must be at most 64 characters",
            ),
            (
                "failed to parse \"integer(int64)\": invalid digit found in string",
                "must be a whole number",
            ),
            (
                "failed to parse \"StoreId\": must be 1–64 characters",
                "must be 1–64 characters",
            ),
            (
                "Expected input type \"integer(int64)\", found null.",
                "is required",
            ),
        ] {
            assert_eq!(human_reason(raw), human, "{raw}");
        }
    }
}
