//! Prometheus metrics of the API (`GET /metrics`).
//!
//! - `http_requests_total{method, route, status}` and `http_request_duration_seconds` (histogram)
//!   per operation id (never the raw path, so ids do not explode the label set).
//! - `reservations_total{operation, outcome}`: create / confirm / cancel / extend and their
//!   `_hold` forms by result code (`ok`, `INSUFFICIENT_STOCK`, `RESERVATION_EXPIRED`, ...),
//!   and `expire` / `expire_hold` from the task.
//! - The writer's group commit: `db_write_batch_size` (writes per commit, histogram),
//!   `db_commit_duration_seconds` (one batch: `BEGIN IMMEDIATE` to `COMMIT`, fsync included,
//!   and answering its callers) and
//!   `db_writer_queue_depth` (writes waiting for the writer after a batch was taken).
//! - The read pool ([`crate::reads::pool`]): `db_read_pool_wait_seconds` (histogram: a pooled
//!   read's wait for its connection), `db_read_pool_timeouts_total` (waits that ran out),
//!   `db_read_pool_connections{state}` (`in_use`, `idle`) and `db_read_pool_max_connections`,
//!   the gauges set on every scrape.
//! - Expiry: `reservation_expiry_lag_seconds` (histogram: how long after `expires_at` each
//!   reservation was expired) and `reservation_expiry_last_run_timestamp_seconds`.
//! - `inventory_build_info{version}` (always 1) and the `process_*` metrics of the
//!   `metrics-process` crate (resident memory, CPU seconds, open fds, start time, ...),
//!   refreshed on every scrape.
//!
//! Every metric is registered when the recorder is installed, so a fresh process shows 0.
//!
//! The recorder keeps each histogram's raw samples until they are folded into its buckets,
//! which happens on a scrape or an upkeep pass; [`run_upkeep`] folds them every
//! [`UPKEEP_INTERVAL`]. Without it an API nobody scrapes kept every request's sample: about
//! +10 MB a minute at 7,500 reservations/s (issue 20, `docs/performance.md`, "Memory").
//! The recorder is process-wide (the `metrics` facade has one global recorder); tests that
//! start several apps in one process share it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();

/// Metric names beyond the HTTP and reservation counters.
pub mod names {
    /// Histogram: writes committed together in one transaction (group commit).
    pub const WRITE_BATCH_SIZE: &str = "db_write_batch_size";
    /// Histogram: one batch, `BEGIN IMMEDIATE` to `COMMIT` (fsync included) and its answers.
    pub const COMMIT_DURATION: &str = "db_commit_duration_seconds";
    /// Counter: write batches run again after a deadlock or serialization failure
    /// (PostgreSQL only; SQLite has one writer).
    pub const WRITE_RERUNS: &str = "db_write_batch_reruns_total";
    /// Counter, label `outcome` (`committed`, `locked_instead`): write batches a PostgreSQL
    /// replica ran on the stock rows it remembers, without locking them first.
    pub const WRITE_UNLOCKED: &str = "db_write_batch_unlocked_total";
    /// Gauge: writes waiting for the writer thread after it took a batch.
    pub const WRITER_QUEUE_DEPTH: &str = "db_writer_queue_depth";
    /// Histogram: seconds between a reservation's `expires_at` and its expiry.
    pub const EXPIRY_LAG: &str = "reservation_expiry_lag_seconds";
    /// Gauge: Unix time the last expiry pass finished.
    pub const EXPIRY_LAST_RUN: &str = "reservation_expiry_last_run_timestamp_seconds";
    /// Gauge, label `version`: always 1.
    pub const BUILD_INFO: &str = "inventory_build_info";
    /// Rows the retention task removed, by `table` and `action` (`archived`, `deleted`).
    pub const RETENTION_ROWS: &str = "retention_rows_total";
    /// Pages incremental vacuum handed back to the file system.
    pub const VACUUM_PAGES: &str = "retention_vacuumed_pages_total";
    /// Unix time the last retention pass finished.
    pub const RETENTION_LAST_RUN: &str = "retention_last_run_timestamp_seconds";
    /// Histogram: seconds a pooled read waited for a read connection.
    pub const READ_POOL_WAIT: &str = "db_read_pool_wait_seconds";
    /// Counter: pooled reads that found no read connection within the read budget.
    pub const READ_POOL_TIMEOUTS: &str = "db_read_pool_timeouts_total";
    /// Gauge, label `state` (`in_use`, `idle`): the read pool's open connections.
    pub const READ_POOL_CONNECTIONS: &str = "db_read_pool_connections";
    /// Gauge: the most connections the read pool opens (`DB_READ_CONNECTIONS`).
    pub const READ_POOL_MAX: &str = "db_read_pool_max_connections";
}

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];
const EXPIRY_LAG_BUCKETS: [f64; 11] = [
    0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];

/// How often [`run_upkeep`] folds the histograms' samples into their buckets (the interval
/// the exporter's own upkeep task uses when it runs one).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Renders `/metrics`: refreshes the process metrics, then renders every metric.
#[derive(Clone)]
pub struct MetricsHandle {
    prometheus: PrometheusHandle,
    process: metrics_process::Collector,
}

impl MetricsHandle {
    /// The Prometheus text exposition, process metrics refreshed first.
    pub fn render(&self) -> String {
        self.process.collect();
        self.prometheus.render()
    }

    /// Folds the histograms' pending samples into their buckets and frees them.
    pub fn upkeep(&self) {
        self.prometheus.run_upkeep();
    }
}

/// Runs the recorder's upkeep every `interval` ([`UPKEEP_INTERVAL`] in the API) until
/// `shutdown` is cancelled, so the histograms' samples do not pile up between scrapes (or
/// forever, when nobody scrapes).
pub async fn run_upkeep(interval: Duration, shutdown: tokio_util::sync::CancellationToken) {
    let metrics = handle();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => metrics.upkeep(),
        }
    }
}

/// Installs the recorder once (registering every metric at 0) and returns the handle that
/// renders `/metrics`.
pub fn handle() -> MetricsHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder().build_recorder();
            let prometheus = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics may be empty");
            }
            let process = metrics_process::Collector::default();
            process.describe();
            process.collect();
            describe();
            MetricsHandle {
                prometheus,
                process,
            }
        })
        .clone()
}

/// Histogram buckets per metric (a histogram without buckets would render as a summary).
fn builder() -> PrometheusBuilder {
    let buckets: [(&str, &[f64]); 5] = [
        ("http_request_duration_seconds", &LATENCY_BUCKETS),
        (names::COMMIT_DURATION, &LATENCY_BUCKETS),
        (names::READ_POOL_WAIT, &LATENCY_BUCKETS),
        (names::WRITE_BATCH_SIZE, &BATCH_BUCKETS),
        (names::EXPIRY_LAG, &EXPIRY_LAG_BUCKETS),
    ];
    let mut builder = PrometheusBuilder::new();
    for (name, values) in buckets {
        // Only an empty bucket list is refused; ours are constants.
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), values) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, metric = name, "bad histogram buckets");
                PrometheusBuilder::new()
            }
        };
    }
    builder
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
    for op in [
        "create",
        "confirm",
        "cancel",
        "expire",
        "extend",
        "create_hold",
        "confirm_hold",
        "cancel_hold",
        "extend_hold",
        "expire_hold",
    ] {
        metrics::counter!("reservations_total", "operation" => op, "outcome" => "ok").absolute(0);
    }
    metrics::describe_histogram!(
        names::WRITE_BATCH_SIZE,
        "Writes committed together in one transaction (group commit)"
    );
    metrics::describe_histogram!(
        names::COMMIT_DURATION,
        metrics::Unit::Seconds,
        "One write batch: BEGIN IMMEDIATE to COMMIT (fsync included) and answering its callers"
    );
    metrics::describe_counter!(
        names::WRITE_RERUNS,
        "Write batches run again after a deadlock or serialization failure (PostgreSQL)"
    );
    metrics::describe_counter!(
        names::WRITE_UNLOCKED,
        "Write batches run on the stock rows the replica remembers, without locking them \
         first: committed, or run again with locks because a row had changed (PostgreSQL)"
    );
    metrics::describe_gauge!(
        names::WRITER_QUEUE_DEPTH,
        "Writes waiting for the writer thread after it took a batch"
    );
    metrics::describe_histogram!(
        names::EXPIRY_LAG,
        metrics::Unit::Seconds,
        "How long after expires_at each reservation was expired"
    );
    metrics::describe_gauge!(
        names::EXPIRY_LAST_RUN,
        metrics::Unit::Seconds,
        "Unix time the last expiry pass finished"
    );
    metrics::describe_gauge!(names::BUILD_INFO, "Always 1; the label names the version");
    metrics::describe_counter!(
        names::RETENTION_ROWS,
        "Rows the retention task archived or deleted, by table"
    );
    metrics::describe_counter!(
        names::VACUUM_PAGES,
        "Pages incremental vacuum returned to the file system after retention"
    );
    metrics::describe_gauge!(
        names::RETENTION_LAST_RUN,
        metrics::Unit::Seconds,
        "Unix time the last retention pass finished (0: retention off or not run yet)"
    );
    metrics::describe_histogram!(
        names::READ_POOL_WAIT,
        metrics::Unit::Seconds,
        "Seconds a pooled read waited for a read connection"
    );
    metrics::describe_counter!(
        names::READ_POOL_TIMEOUTS,
        "Pooled reads that found no read connection within the read budget (503 QUERY_TIMEOUT)"
    );
    metrics::describe_gauge!(
        names::READ_POOL_CONNECTIONS,
        "The read pool's open connections, in use by a read or idle"
    );
    metrics::describe_gauge!(
        names::READ_POOL_MAX,
        "The most connections the read pool opens (DB_READ_CONNECTIONS)"
    );
    // Registered now so that a fresh process shows every series.
    let _ = metrics::histogram!(names::WRITE_BATCH_SIZE);
    let _ = metrics::histogram!(names::COMMIT_DURATION);
    let _ = metrics::histogram!(names::EXPIRY_LAG);
    let _ = metrics::histogram!(names::READ_POOL_WAIT);
    metrics::counter!(names::READ_POOL_TIMEOUTS).absolute(0);
    record_read_pool(0, 0, 0);
    metrics::gauge!(names::WRITER_QUEUE_DEPTH).set(0.0);
    metrics::counter!(names::WRITE_RERUNS).absolute(0);
    for outcome in ["committed", "locked_instead"] {
        metrics::counter!(names::WRITE_UNLOCKED, "outcome" => outcome).absolute(0);
    }
    metrics::gauge!(names::EXPIRY_LAST_RUN).set(0.0);
    metrics::gauge!(names::RETENTION_LAST_RUN).set(0.0);
    for (table, action) in [
        ("events", "archived"),
        ("events", "deleted"),
        ("reservations", "deleted"),
    ] {
        metrics::counter!(names::RETENTION_ROWS, "table" => table, "action" => action).absolute(0);
    }
    metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Records one pooled read's wait for its connection, and whether the wait ran out.
pub fn record_read_pool_wait(waited: Duration, timed_out: bool) {
    metrics::histogram!(names::READ_POOL_WAIT).record(waited.as_secs_f64());
    if timed_out {
        metrics::counter!(names::READ_POOL_TIMEOUTS).increment(1);
    }
}

/// Sets the read pool's gauges: connections in use, idle, and the most it opens.
pub fn record_read_pool(in_use: u32, idle: u32, max: u32) {
    metrics::gauge!(names::READ_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    metrics::gauge!(names::READ_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    metrics::gauge!(names::READ_POOL_MAX).set(f64::from(max));
}

/// Records one HTTP request.
pub fn record_request(method: &str, route: &'static str, status: u16, elapsed: Duration) {
    let status = status.to_string();
    metrics::counter!("http_requests_total", "method" => method.to_owned(), "route" => route, "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.to_owned(), "route" => route, "status" => status)
        .record(elapsed.as_secs_f64());
}

/// Records the outcome of a reservation operation: `"ok"` or the answer's error code.
pub fn record_reservation(operation: &'static str, outcome: &'static str) {
    metrics::counter!("reservations_total", "operation" => operation, "outcome" => outcome)
        .increment(1);
}

/// Records `n` successful reservation operations at once (a batch of expiries).
pub fn record_expired(operation: &'static str, n: u64) {
    metrics::counter!("reservations_total", "operation" => operation, "outcome" => "ok")
        .increment(n);
}

/// Records one group commit: its size, how long its transaction took, and how many writes
/// were still queued behind it.
pub fn record_write_batch(jobs: usize, took: Duration, queued: usize) {
    metrics::histogram!(names::WRITE_BATCH_SIZE).record(jobs as f64);
    metrics::histogram!(names::COMMIT_DURATION).record(took.as_secs_f64());
    metrics::gauge!(names::WRITER_QUEUE_DEPTH).set(queued as f64);
}

/// Records that a write batch is run again (PostgreSQL: a deadlock or serialization failure).
pub fn record_write_rerun() {
    metrics::counter!(names::WRITE_RERUNS).increment(1);
}

/// Records a batch run without locking its rows first: `committed`, or `locked_instead`
/// (a row had changed, or a job needed the database: run again the usual way).
pub fn record_write_unlocked(outcome: &'static str) {
    metrics::counter!(names::WRITE_UNLOCKED, "outcome" => outcome).increment(1);
}

/// Records that a reservation due at `expires_at` (stored format) was expired at `at`.
pub fn record_expiry_lag(expires_at: &str, at: &inventory_shared::time::Timestamp) {
    if let Ok(due) = inventory_shared::time::from_db(expires_at) {
        let micros = (*at - due).num_microseconds().unwrap_or(0).max(0);
        metrics::histogram!(names::EXPIRY_LAG).record(micros as f64 / 1e6);
    }
}

/// Records that an expiry pass finished.
pub fn record_expiry_pass() {
    let now = inventory_shared::time::now();
    metrics::gauge!(names::EXPIRY_LAST_RUN).set(now.timestamp_micros() as f64 / 1e6);
}

/// Records what a retention pass removed: rows as `(table, action, count)` (e.g.
/// `("events", "deleted", 120)`), and the pages vacuum returned. Plain numbers, so metrics
/// does not depend on the retention task.
pub fn record_retention_pass(rows: &[(&'static str, &'static str, u64)], pages_freed: i64) {
    for &(table, action, n) in rows {
        metrics::counter!(names::RETENTION_ROWS, "table" => table, "action" => action).increment(n);
    }
    metrics::counter!(names::VACUUM_PAGES).increment(pages_freed.max(0) as u64);
    let now = inventory_shared::time::now();
    metrics::gauge!(names::RETENTION_LAST_RUN).set(now.timestamp_micros() as f64 / 1e6);
}
