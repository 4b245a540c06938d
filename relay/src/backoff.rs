//! Exponential backoff with full jitter, for broker outages and rejected events.
//!
//! `backon` gives the capped exponential schedule (250 ms, 500 ms, 1 s, ... 30 s). Its own
//! jitter *adds* up to one more delay (`d + rand·d`), which can exceed the cap and keeps every
//! relay of a fleet waking in the same window; "full jitter" draws uniformly from `[0, d]`
//! instead, so we apply that on top of backon's un-jittered delays.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The shape of the schedule (from `RELAY_BACKOFF_INITIAL` and `RELAY_BACKOFF_MAX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// First ceiling.
    pub initial: Duration,
    /// Largest ceiling.
    pub max: Duration,
}

/// A running backoff: each [`Backoff::next_delay`] doubles the ceiling (up to the cap) and
/// returns a random delay below it; [`Backoff::reset`] starts over after a success.
#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    schedule: ExponentialBackoff,
}

impl Backoff {
    /// A fresh schedule.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            schedule: schedule(policy),
        }
    }

    /// The next delay to wait: uniform in `[0, ceiling]`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next_ceiling();
        ceiling.mul_f64(random_fraction())
    }

    /// The next ceiling, without jitter (exposed for tests).
    pub fn next_ceiling(&mut self) -> Duration {
        // The schedule is built without a retry limit, so it never ends; the cap is a safe
        // answer should that ever change.
        self.schedule.next().unwrap_or(self.policy.max)
    }

    /// Starts over from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.schedule = schedule(self.policy);
    }
}

fn schedule(policy: BackoffPolicy) -> ExponentialBackoff {
    ExponentialBuilder::new()
        .with_min_delay(policy.initial)
        .with_max_delay(policy.max)
        .with_factor(2.0)
        .without_max_times()
        .build()
}

/// A uniform number in `[0, 1)`. std's `RandomState` is seeded randomly per instance, which is
/// plenty for spreading retries (not for anything secret) and needs no extra dependency.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: BackoffPolicy = BackoffPolicy {
        initial: Duration::from_millis(250),
        max: Duration::from_secs(30),
    };

    #[test]
    fn ceilings_double_from_the_initial_delay_up_to_the_cap() {
        let mut backoff = Backoff::new(POLICY);
        let ceilings: Vec<u128> = (0..10)
            .map(|_| backoff.next_ceiling().as_millis())
            .collect();
        assert_eq!(
            ceilings,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
    }

    #[test]
    fn delays_are_drawn_below_the_ceiling_and_reset_starts_over() {
        let mut backoff = Backoff::new(POLICY);
        let delays: Vec<Duration> = (0..12).map(|_| backoff.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= POLICY.max), "{delays:?}");
        assert!(delays[0] <= POLICY.initial, "{delays:?}");
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(
            distinct.len() > 6,
            "jitter should spread delays: {delays:?}"
        );
        backoff.reset();
        assert_eq!(backoff.next_ceiling(), POLICY.initial);
    }
}
