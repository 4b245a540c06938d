//! The HTTP layer: routes, the middleware every request goes through, and the spec.
//!
//! Every response leaves through [`around`]: it sets `X-Request-Id`, hands every error to
//! [`error`] (where errors become problem bodies and internal ones are logged), and records
//! the request metrics.

pub mod auth;
pub mod body;
pub mod bulk;
pub mod cursor;
pub mod error;
pub mod events;
pub mod holds;
pub mod idempotency;
pub mod models;
pub mod products;
pub mod reservations;
pub mod spec;
pub mod statuses;
pub mod stock;
pub mod tags;
pub mod types;

mod allow;
mod reasons;
mod system;

use std::sync::Arc;
use std::time::Instant;

use poem::http::HeaderValue;
use poem::{Endpoint, EndpointExt, IntoEndpoint, IntoResponse, Request, Response, Route};
use poem_openapi::{OpenApiService, OperationId};
use tracing::Instrument;
use uuid::Uuid;

use crate::state::AppState;
use error::{ensure_problem, error_response};

pub use allow::AllowIndex;

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
    keys: Arc<crate::keys::ApiKeys>,
) -> anyhow::Result<impl Endpoint + 'static> {
    let service = openapi_service(state);
    let poem_json = service.spec();
    let allow = Arc::new(AllowIndex::from_spec(&poem_json));
    let metrics = crate::metrics::handle();
    let reads = state.reads.clone();
    let app = spec::add_endpoints(Route::new(), &poem_json, service.swagger_ui_html())?
        .at(
            "/metrics",
            poem::endpoint::make_sync(move |_| {
                Response::builder()
                    .content_type("text/plain; version=0.0.4")
                    .body({
                        reads.record_pool_gauges();
                        metrics.render()
                    })
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
