//! Prometheus metrics, every series registered at start (at 0) on the consumer's own
//! recorder (no process-global state, so tests can build several consumers in one process).

use std::sync::Arc;

use inventory_shared::events::EventType;
use metrics::{Counter, Gauge, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The metric names.
pub mod names {
    /// Events applied to the projection, by type.
    pub const APPLIED: &str = "consumer_events_applied_total";
    /// Events skipped because they were applied before.
    pub const DUPLICATES: &str = "consumer_duplicates_total";
    /// Version jumps detected (each one repaired from the audit log).
    pub const GAPS: &str = "consumer_gaps_total";
    /// Highest `seq` applied.
    pub const LAST_SEQ: &str = "consumer_last_seq";
    /// Event commit (`created_at`) to applied, for the last batch.
    pub const LAG: &str = "consumer_lag_seconds";
    /// Messages that were not a readable event (acknowledged, never applied).
    pub const MALFORMED: &str = "consumer_malformed_total";
    /// Events read from the audit log (gap repair, rebuild).
    pub const CATCHUP: &str = "consumer_catchup_events_total";
    /// 1 when the last broker call succeeded.
    pub const BROKER_UP: &str = "consumer_broker_up";
}

/// The consumer's metrics.
#[derive(Clone)]
pub struct Metrics {
    handle: PrometheusHandle,
    recorder: Arc<PrometheusRecorder>,
    /// `consumer_duplicates_total`.
    pub duplicates: Counter,
    /// `consumer_gaps_total`.
    pub gaps: Counter,
    /// `consumer_malformed_total`.
    pub malformed: Counter,
    /// `consumer_catchup_events_total`.
    pub catchup: Counter,
    /// `consumer_last_seq`.
    pub last_seq: Gauge,
    /// `consumer_lag_seconds`.
    pub lag: Gauge,
    /// `consumer_broker_up`.
    pub broker_up: Gauge,
    applied: Vec<(EventType, Counter)>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Builds a private recorder and registers every series.
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new().build_recorder();
        let help = [
            (
                names::APPLIED,
                "Events applied to the projection, by event type.",
            ),
            (
                names::DUPLICATES,
                "Redelivered or duplicated events, skipped.",
            ),
            (
                names::GAPS,
                "Version jumps detected and repaired from the audit log.",
            ),
            (
                names::MALFORMED,
                "Messages that were not a readable event (acknowledged).",
            ),
            (names::CATCHUP, "Events read from the API's audit log."),
            (names::LAST_SEQ, "Highest event seq applied."),
            (
                names::LAG,
                "Seconds from the last applied event's commit to its application.",
            ),
            (
                names::BROKER_UP,
                "1 when the last broker call succeeded, else 0.",
            ),
        ];
        for (name, text) in help {
            let key = metrics::KeyName::from_const_str(name);
            if name.ends_with("_total") {
                recorder.describe_counter(key, None, text.into());
            } else {
                recorder.describe_gauge(key, None, text.into());
            }
        }
        let counter =
            |name: &'static str| recorder.register_counter(&Key::from_static_name(name), &METADATA);
        let gauge =
            |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        let applied = EventType::ALL
            .into_iter()
            .map(|t| {
                let labels = vec![Label::new("event_type", t.as_str())];
                let c =
                    recorder.register_counter(&Key::from_parts(names::APPLIED, labels), &METADATA);
                c.absolute(0);
                (t, c)
            })
            .collect();
        let metrics = Self {
            handle: recorder.handle(),
            duplicates: counter(names::DUPLICATES),
            gaps: counter(names::GAPS),
            malformed: counter(names::MALFORMED),
            catchup: counter(names::CATCHUP),
            last_seq: gauge(names::LAST_SEQ),
            lag: gauge(names::LAG),
            broker_up: gauge(names::BROKER_UP),
            applied,
            recorder: Arc::new(recorder),
        };
        for c in [
            &metrics.duplicates,
            &metrics.gaps,
            &metrics.malformed,
            &metrics.catchup,
        ] {
            c.absolute(0);
        }
        for g in [&metrics.last_seq, &metrics.lag, &metrics.broker_up] {
            g.set(0.0);
        }
        metrics
    }

    /// Counts one applied event of `event_type`.
    pub fn applied(&self, event_type: EventType) {
        if let Some((_, c)) = self.applied.iter().find(|(t, _)| *t == event_type) {
            c.increment(1);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let _ = &self.recorder;
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
