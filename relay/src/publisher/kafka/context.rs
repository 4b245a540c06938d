//! librdkafka's client context: its log lines, toned down.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// librdkafka's own logging, toned down: while a broker is down librdkafka reports every
/// failed connection attempt as an error, and the relay already says "broker down" once (and
/// on `/health`). Each librdkafka facility is logged at `warn` at most every 30 s; repeats in
/// between go to `debug`. Global errors repeat what the log callback said and go to `debug`.
#[derive(Default)]
pub struct RelayContext {
    last_warned: Mutex<HashMap<String, Instant>>,
}

impl ClientContext for RelayContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Debug | RDKafkaLogLevel::Info | RDKafkaLogLevel::Notice => {
                tracing::debug!(target: "librdkafka", fac, "{log_message}");
            }
            _ => {
                let now = Instant::now();
                let mut last = self
                    .last_warned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let due = last
                    .get(fac)
                    .is_none_or(|at| now.duration_since(*at) >= Duration::from_secs(30));
                if due {
                    last.insert(fac.to_owned(), now);
                    tracing::warn!(target: "librdkafka", fac, "{log_message}");
                } else {
                    tracing::debug!(target: "librdkafka", fac, "{log_message}");
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for RelayContext {}
