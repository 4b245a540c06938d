//! The loop every background task runs (expiry, idempotency key purge, retention): a pass
//! every interval until the shutdown token is cancelled, each outcome logged, an error logged
//! once and the loop carried on (the next tick tries again).
//!
//! The first tick is at once, so a pass runs at start. A pass that overruns its interval delays
//! the next tick rather than bunching the missed ones ([`MissedTickBehavior::Delay`]). A pass in
//! flight is not interrupted here: each pass watches the token itself and stops between its
//! writes.

use std::fmt::Display;
use std::time::Duration;

use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Runs `pass` every `interval` until `shutdown` is cancelled. `report` logs what a pass did
/// (and may say nothing when it did nothing); a failed pass is logged here as
/// `"<task> pass failed"` with its cause chain.
///
/// `pass` makes each pass's future from owned handles (clones of the state, the token): an
/// async closure borrowing them would be simpler, but its future cannot yet be proven `Send`
/// for `tokio::spawn`.
pub async fn every<T, E, F, P>(
    task: &'static str,
    interval: Duration,
    shutdown: &CancellationToken,
    mut pass: P,
    report: impl Fn(&T),
) where
    E: Display,
    F: Future<Output = Result<T, E>>,
    P: FnMut() -> F,
{
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // A cancelled token wins over a due tick: no pass starts after shutdown.
            biased;
            () = shutdown.cancelled() => break,
            _ = ticker.tick() => {}
        }
        match pass().await {
            Ok(done) => report(&done),
            Err(e) => tracing::error!(task, error = format!("{e:#}"), "{task} pass failed"),
        }
    }
    tracing::info!(task, "{task} task stopped");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn passes_run_until_the_token_is_cancelled_and_a_failed_pass_does_not_stop_them() {
        let shutdown = CancellationToken::new();
        let passes = Arc::new(AtomicUsize::new(0));
        let reported = Arc::new(AtomicUsize::new(0));

        let run = every(
            "test",
            Duration::from_millis(1),
            &shutdown,
            || {
                let n = passes.fetch_add(1, Ordering::SeqCst) + 1;
                // The second pass fails; the third cancels the token, as a shutdown would.
                if n == 3 {
                    shutdown.cancel();
                }
                async move { if n == 2 { Err("boom") } else { Ok(n) } }
            },
            |_| {
                reported.fetch_add(1, Ordering::SeqCst);
            },
        );
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the loop ends once the token is cancelled");

        assert_eq!(passes.load(Ordering::SeqCst), 3, "no pass after the cancel");
        assert_eq!(
            reported.load(Ordering::SeqCst),
            2,
            "passes 1 and 3 reported"
        );
    }
}
