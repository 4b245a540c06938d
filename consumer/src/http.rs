//! The read model over HTTP: `/availability/{product_id}[/{store_id}]`, `/health`,
//! `/metrics`. Errors are RFC 9457 problem bodies with a stable `code`, like the API's.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use poem::http::StatusCode;
use poem::web::{Data, Json, Path};
use poem::{EndpointExt, IntoResponse, Response, Route, get, handler};
use serde_json::json;

use crate::metrics::Metrics;
use crate::pipeline::Status;
use crate::projection::{Reader, Row};

/// What the routes share.
#[derive(Clone)]
pub struct HttpState {
    /// Read-only connection to the projection.
    pub reader: Arc<Mutex<Reader>>,
    /// Pipeline status.
    pub status: Arc<Status>,
    /// Metrics.
    pub metrics: Metrics,
}

/// The routes.
pub fn routes(state: HttpState) -> impl poem::Endpoint {
    Route::new()
        .at("/availability/:product_id", get(product))
        .at("/availability/:product_id/:store_id", get(one_row))
        .at("/health", get(health))
        .at("/metrics", get(metrics))
        .data(state)
}

fn problem(status: StatusCode, code: &str, detail: String) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = json!({
        "type": format!("/problems/{}", code.to_lowercase().replace('_', "-")),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    Response::builder()
        .status(status)
        .content_type("application/problem+json")
        .body(body.to_string())
}

async fn read<T: Send + 'static>(
    state: &HttpState,
    f: impl FnOnce(&Reader) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, Response> {
    let reader = state.reader.clone();
    let result = tokio::task::spawn_blocking(move || {
        let guard = reader
            .lock()
            .map_err(|_| "reader lock poisoned".to_owned())?;
        f(&guard).map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    result.map_err(|e| {
        tracing::error!(error = %e, "reading the projection failed");
        problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the read model could not be read".to_owned(),
        )
    })
}

#[handler]
async fn product(Path(product_id): Path<String>, Data(state): Data<&HttpState>) -> Response {
    let id = product_id.clone();
    let rows: Vec<Row> = match read(state, move |r| r.product(&id)).await {
        Ok(rows) => rows,
        Err(response) => return response,
    };
    if rows.is_empty() {
        return problem(
            StatusCode::NOT_FOUND,
            "PRODUCT_NOT_SEEN",
            format!("no stock event for product {product_id} has been applied"),
        );
    }
    let total_available: i64 = rows.iter().map(|r| r.available).sum();
    Json(json!({"product_id": product_id, "stores": rows, "total_available": total_available}))
        .into_response()
}

#[handler]
async fn one_row(
    Path((product_id, store_id)): Path<(String, String)>,
    Data(state): Data<&HttpState>,
) -> Response {
    let (p, s) = (product_id.clone(), store_id.clone());
    match read(state, move |r| r.row(&p, &s)).await {
        Ok(Some(row)) => {
            let mut body = serde_json::to_value(&row).unwrap_or_default();
            body["product_id"] = json!(product_id);
            Json(body).into_response()
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "STOCK_NOT_SEEN",
            format!("no stock event for product {product_id} in store {store_id} has been applied"),
        ),
        Err(response) => response,
    }
}

#[handler]
async fn health(Data(state): Data<&HttpState>) -> Response {
    let up = state.status.broker_up.load(Ordering::Relaxed);
    let body = json!({
        "status": if up { "ok" } else { "degraded" },
        "broker": state.status.broker,
        "broker_up": up,
        "last_seq": state.status.last_seq.load(Ordering::Relaxed),
        "lag_seconds": state.status.lag_us.load(Ordering::Relaxed) as f64 / 1e6,
    });
    let code = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

#[handler]
async fn metrics(Data(state): Data<&HttpState>) -> Response {
    Response::builder()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}
