//! Prometheus metrics of the API (`GET /metrics`).
//!
//! - `http_requests_total{method, route, status}` and `http_request_duration_seconds` (histogram)
//!   per operation id (never the raw path, so ids do not explode the label set).
//! - `reservations_total{operation, outcome}`: create / confirm / cancel by result code
//!   (`ok`, `INSUFFICIENT_STOCK`, `RESERVATION_EXPIRED`, ...), and `expire` from the task.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder); tests that
//! start several apps in one process share it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::ops::OpResult;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the recorder once and returns the handle that renders `/metrics`.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".to_owned()),
                    &LATENCY_BUCKETS,
                )
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            describe();
            handle
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!("http_requests_total", "HTTP requests by route and status");
    metrics::describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route and status"
    );
    metrics::describe_counter!(
        "reservations_total",
        "Reservation operations by operation and outcome code"
    );
    for op in ["create", "confirm", "cancel", "expire"] {
        metrics::counter!("reservations_total", "operation" => op, "outcome" => "ok").absolute(0);
    }
}

/// Records one HTTP request.
pub fn record_request(method: &str, route: &'static str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    metrics::counter!("http_requests_total", "method" => method.to_owned(), "route" => route, "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.to_owned(), "route" => route, "status" => status)
        .record(elapsed.as_secs_f64());
}

/// Records the outcome of a reservation operation.
pub fn record_reservation<T>(operation: &'static str, result: &OpResult<T>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    metrics::counter!("reservations_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
}
