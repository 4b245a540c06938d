//! The relay's Prometheus metrics.
//!
//! Each [`Relay`](crate::Relay) owns its own recorder instead of installing a process-global
//! one: tests run several relays in one process and each must see only its own numbers. The
//! relay therefore does not use the `metrics::counter!` macros; it registers every metric once,
//! at start (so each shows 0 before anything happens), and keeps the handles.
//!
//! The `process_*` metrics (resident memory, CPU seconds, open fds, start time, threads) come
//! from the `metrics-process` crate, whose collector records through the macros; it runs under
//! [`metrics::with_local_recorder`] so its numbers land in this relay's recorder, refreshed at
//! each render. (In a test process running several relays they all show the same process.)

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use inventory_shared::events::EventType;

/// Metric names (documented in `docs/relay.md`, "Metrics").
pub mod names {
    /// Counter, label `event_type`: events the broker acknowledged.
    pub const PUBLISHED: &str = "relay_events_published_total";
    /// Counter, label `reason` (`transient`, `rejected`, `database`): failed publish steps.
    pub const FAILURES: &str = "relay_publish_failures_total";
    /// Counter: events parked after `RELAY_MAX_ATTEMPTS` rejections.
    pub const DEAD: &str = "relay_events_dead_total";
    /// Gauge: unpublished, unparked events.
    pub const PENDING: &str = "relay_pending_events";
    /// Gauge: age of the oldest pending event, 0 when none.
    pub const OLDEST_AGE: &str = "relay_oldest_pending_age_seconds";
    /// Histogram: event commit time to broker acknowledgement.
    pub const LAG: &str = "relay_publish_lag_seconds";
    /// Histogram: events per publish round trip.
    pub const BATCH_SIZE: &str = "relay_batch_size";
    /// Gauge: the backoff delay being waited now, 0 when not backing off.
    pub const BACKOFF: &str = "relay_backoff_seconds";
    /// Gauge: 1 when the broker answered last time we asked, else 0.
    pub const BROKER_UP: &str = "relay_broker_up";
    /// Gauge: Unix time of the last successful publish, 0 before the first.
    pub const LAST_PUBLISH: &str = "relay_last_publish_timestamp_seconds";
    /// Gauge: 1 when events are pending and the oldest is older than `RELAY_STUCK_AFTER`.
    pub const STUCK: &str = "relay_stuck";
    /// Gauge: 1 while this relay leads its database (publishes), 0 on a standby.
    pub const LEADER: &str = "relay_leader";
    /// Counter: times this process became leader.
    pub const LEADERSHIP_CHANGES: &str = "relay_leadership_changes_total";
    /// Gauge: how long the oldest running transaction holding PostgreSQL's visibility fence
    /// (and so every event written after it began) has run; always 0 on SQLite.
    pub const FENCE_AGE: &str = "relay_fence_age_seconds";
    /// Gauge, label `version`: always 1.
    pub const BUILD_INFO: &str = "inventory_build_info";
    /// Every name above, for tests and docs.
    pub const ALL: [&str; 15] = [
        PUBLISHED,
        FAILURES,
        DEAD,
        PENDING,
        OLDEST_AGE,
        LAG,
        BATCH_SIZE,
        BACKOFF,
        BROKER_UP,
        LAST_PUBLISH,
        STUCK,
        LEADER,
        LEADERSHIP_CHANGES,
        FENCE_AGE,
        BUILD_INFO,
    ];
}

/// Why a publish step failed, the `reason` label of `relay_publish_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The broker was unreachable or the outcome unknown.
    Transient,
    /// The broker refused one event for itself.
    Rejected,
    /// The database did not answer.
    Database,
}

impl FailureReason {
    const ALL: [FailureReason; 3] = [Self::Transient, Self::Rejected, Self::Database];

    fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Rejected => "rejected",
            Self::Database => "database",
        }
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

const LAG_BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
const BATCH_BUCKETS: [f64; 12] = [
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// One relay's metrics: the recorder, its render handle and the registered handles.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// `relay_events_dead_total`.
    pub dead: Counter,
    /// `relay_pending_events`.
    pub pending: Gauge,
    /// `relay_oldest_pending_age_seconds`.
    pub oldest_pending_age: Gauge,
    /// `relay_publish_lag_seconds`.
    pub lag: Histogram,
    /// `relay_batch_size`.
    pub batch_size: Histogram,
    /// `relay_backoff_seconds`.
    pub backoff: Gauge,
    /// `relay_broker_up`.
    pub broker_up: Gauge,
    /// `relay_last_publish_timestamp_seconds`.
    pub last_publish: Gauge,
    /// `relay_stuck`.
    pub stuck: Gauge,
    /// `relay_leader`.
    pub leader: Gauge,
    /// `relay_leadership_changes_total`.
    pub leadership_changes: Counter,
    /// `relay_fence_age_seconds`.
    pub fence_age: Gauge,
    /// The `process_*` metrics, recorded into this relay's recorder at each render.
    process: metrics_process::Collector,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Builds a private recorder and registers every relay metric with its help text.
    pub fn new() -> anyhow::Result<Self> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(names::LAG.to_owned()), &LAG_BUCKETS)?
            .set_buckets_for_metric(Matcher::Full(names::BATCH_SIZE.to_owned()), &BATCH_BUCKETS)?
            .build_recorder();
        describe(&recorder);
        let handle = recorder.handle();
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        let histogram = |name: &'static str| {
            recorder.register_histogram(&Key::from_static_name(name), &METADATA)
        };
        let metrics = Self {
            dead: recorder.register_counter(&Key::from_static_name(names::DEAD), &METADATA),
            pending: gauge(names::PENDING),
            oldest_pending_age: gauge(names::OLDEST_AGE),
            lag: histogram(names::LAG),
            batch_size: histogram(names::BATCH_SIZE),
            backoff: gauge(names::BACKOFF),
            broker_up: gauge(names::BROKER_UP),
            last_publish: gauge(names::LAST_PUBLISH),
            stuck: gauge(names::STUCK),
            leader: gauge(names::LEADER),
            leadership_changes: recorder
                .register_counter(&Key::from_static_name(names::LEADERSHIP_CHANGES), &METADATA),
            fence_age: gauge(names::FENCE_AGE),
            process: metrics_process::Collector::default(),
            handle,
            recorder: Arc::new(recorder),
        };
        // Labelled series exist from the start too, at 0.
        for event_type in EventType::ALL {
            metrics.published(event_type.as_str()).absolute(0);
        }
        for reason in FailureReason::ALL {
            metrics.failures(reason).absolute(0);
        }
        metrics.dead.absolute(0);
        metrics.leadership_changes.absolute(0);
        for gauge in [
            &metrics.pending,
            &metrics.oldest_pending_age,
            &metrics.backoff,
            &metrics.broker_up,
            &metrics.last_publish,
            &metrics.stuck,
            &metrics.leader,
            &metrics.fence_age,
        ] {
            gauge.set(0.0);
        }
        let version = vec![Label::new("version", env!("CARGO_PKG_VERSION"))];
        metrics
            .recorder
            .register_gauge(&Key::from_parts(names::BUILD_INFO, version), &METADATA)
            .set(1.0);
        // The collector records through the `metrics` macros: point them at our recorder.
        metrics::with_local_recorder(metrics.recorder.as_ref(), || {
            metrics.process.describe();
            metrics.process.collect();
        });
        Ok(metrics)
    }

    /// `relay_events_published_total{event_type}`.
    pub fn published(&self, event_type: &str) -> Counter {
        let labels = vec![Label::new("event_type", event_type.to_owned())];
        self.recorder
            .register_counter(&Key::from_parts(names::PUBLISHED, labels), &METADATA)
    }

    /// `relay_publish_failures_total{reason}`.
    pub fn failures(&self, reason: FailureReason) -> Counter {
        let labels = vec![Label::new("reason", reason.as_str())];
        self.recorder
            .register_counter(&Key::from_parts(names::FAILURES, labels), &METADATA)
    }

    /// The Prometheus text exposition of every metric, process metrics refreshed first.
    pub fn render(&self) -> String {
        metrics::with_local_recorder(self.recorder.as_ref(), || self.process.collect());
        self.handle.render()
    }

    /// Moves buffered histogram samples into their buckets. Scrapes do this too; the relay also
    /// runs it periodically so samples do not pile up in memory when nobody scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

fn describe(recorder: &PrometheusRecorder) {
    let text = [
        (
            names::PUBLISHED,
            "Events the broker acknowledged, by event type.",
            None,
        ),
        (
            names::FAILURES,
            "Failed publish attempts, by reason (transient, rejected, database).",
            None,
        ),
        (
            names::DEAD,
            "Events parked after RELAY_MAX_ATTEMPTS rejections by the broker.",
            None,
        ),
        (
            names::PENDING,
            "Events waiting to be published (not parked).",
            None,
        ),
        (
            names::OLDEST_AGE,
            "Age of the oldest event waiting to be published, 0 when none.",
            Some(Unit::Seconds),
        ),
        (
            names::LAG,
            "Time from the event's commit to the broker's acknowledgement.",
            Some(Unit::Seconds),
        ),
        (names::BATCH_SIZE, "Events published per round trip.", None),
        (
            names::BACKOFF,
            "Backoff delay being waited now, 0 when not backing off.",
            Some(Unit::Seconds),
        ),
        (
            names::BROKER_UP,
            "1 when the broker answered last time, else 0.",
            None,
        ),
        (
            names::LAST_PUBLISH,
            "Unix time of the last successful publish, 0 before the first.",
            Some(Unit::Seconds),
        ),
        (
            names::STUCK,
            "1 when events are pending and the oldest is older than RELAY_STUCK_AFTER, else 0.",
            None,
        ),
        (
            names::LEADER,
            "1 while this relay leads its database and publishes, 0 on a standby.",
            None,
        ),
        (
            names::LEADERSHIP_CHANGES,
            "Times this process became the leading (publishing) relay of its database.",
            None,
        ),
        (
            names::FENCE_AGE,
            "PostgreSQL: how long the oldest running transaction holding the visibility fence \
             (and every event written after it began) has run; 0 on SQLite.",
            Some(Unit::Seconds),
        ),
        (
            names::BUILD_INFO,
            "Always 1; the label names the version.",
            None,
        ),
    ];
    for (name, help, unit) in text {
        let key = metrics::KeyName::from_const_str(name);
        match name {
            names::PUBLISHED | names::FAILURES | names::DEAD | names::LEADERSHIP_CHANGES => {
                recorder.describe_counter(key, unit, help.into());
            }
            names::LAG | names::BATCH_SIZE => recorder.describe_histogram(key, unit, help.into()),
            _ => recorder.describe_gauge(key, unit, help.into()),
        }
    }
}
