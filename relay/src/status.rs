//! What the publish loop knows about the broker, and whether this relay leads, shared with
//! `/health`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use inventory_shared::time::Timestamp;

/// The broker's state as last observed, and when the relay last published.
#[derive(Debug)]
pub struct Status {
    broker: &'static str,
    broker_up: AtomicBool,
    /// Whether this relay leads its database (see [`crate::leader`]).
    leader: AtomicBool,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    last_error: Option<String>,
    last_publish_at: Option<Timestamp>,
}

impl Status {
    /// Starts as "broker down" until it answers once: a relay that never reached its broker is
    /// not healthy.
    pub fn new(broker: &'static str) -> Self {
        Self {
            broker,
            broker_up: AtomicBool::new(false),
            leader: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The broker's short name.
    pub fn broker(&self) -> &'static str {
        self.broker
    }

    /// Whether the broker answered the last request.
    pub fn broker_up(&self) -> bool {
        self.broker_up.load(Ordering::Relaxed)
    }

    /// The broker's last error, if it is down.
    pub fn last_error(&self) -> Option<String> {
        self.lock().last_error.clone()
    }

    /// When the last event was acknowledged.
    pub fn last_publish_at(&self) -> Option<Timestamp> {
        self.lock().last_publish_at
    }

    /// Whether this relay leads (publishes); `false` for a standby.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }

    /// This relay became leader (`true`) or stopped leading (`false`).
    pub fn set_leader(&self, leader: bool) {
        self.leader.store(leader, Ordering::Relaxed);
    }

    /// The broker answered.
    pub fn broker_answered(&self) {
        self.broker_up.store(true, Ordering::Relaxed);
        self.lock().last_error = None;
    }

    /// The broker failed with `error`.
    pub fn broker_failed(&self, error: &str) {
        self.broker_up.store(false, Ordering::Relaxed);
        self.lock().last_error = Some(error.to_owned());
    }

    /// Events were acknowledged at `at`.
    pub fn published_at(&self, at: Timestamp) {
        self.lock().last_publish_at = Some(at);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The data is plain values; a panic elsewhere cannot leave it half-written.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
