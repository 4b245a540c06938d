//! Idle versus stuck: a broker that answers its ping but acknowledges slowly leaves events
//! waiting; once the oldest is older than `RELAY_STUCK_AFTER`, `/health` says `stuck` (503)
//! and `relay_stuck` is 1, although the broker reads "up". When the backlog drains, both
//! return to ok / 0.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{RunningRelay, TestDb, metric, settings, wait_until};
use futures::future::BoxFuture;
use inventory_relay::publisher::{BatchFailure, PublishError, Publisher};
use inventory_shared::outbox::StoredEvent;

/// Answers every ping at once; acknowledges each publish after `stall` while `slow` is set.
struct SlowBroker {
    slow: Arc<AtomicBool>,
    stall: Duration,
}

impl Publisher for SlowBroker {
    fn name(&self) -> &'static str {
        "slow"
    }

    fn publish<'a>(
        &'a mut self,
        _events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(async move {
            if self.slow.load(Ordering::SeqCst) {
                tokio::time::sleep(self.stall).await;
            }
            Ok(())
        })
    }

    fn already_published(
        &mut self,
        _oldest: i64,
        _window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_broker_that_answers_pings_is_reported_stuck_then_ok_again() {
    let db = TestDb::new().await;
    let slow = Arc::new(AtomicBool::new(true));
    let broker = SlowBroker {
        slow: slow.clone(),
        stall: Duration::from_millis(500),
    };
    let relay = RunningRelay::start_with(
        settings(
            &db.path(),
            1,
            &["--relay-batch-size", "1", "--relay-stuck-after", "1s"],
        ),
        Box::new(broker),
    )
    .await;
    wait_until(Duration::from_secs(5), "healthy while idle", || async {
        relay.health().await.0 == 200
    })
    .await;
    let (_, body) = relay.health().await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["stuck"], false);
    assert_eq!(metric(&relay.metrics().await, "relay_stuck"), Some(0.0));

    // 20 events at 0.5 s each: the oldest waits far longer than 1 s.
    db.append(20, 20).await;
    wait_until(Duration::from_secs(10), "health says stuck", || async {
        relay.health().await.0 == 503
    })
    .await;
    let (_, body) = relay.health().await;
    assert_eq!(body["status"], "stuck", "{body}");
    assert_eq!(body["stuck"], true);
    assert_eq!(
        body["broker"]["status"], "up",
        "the ping alone says up: {body}"
    );
    assert!(body["pending"].as_i64() > Some(0), "{body}");
    assert!(
        body["oldest_pending_age_seconds"].as_f64() > Some(1.0),
        "{body}"
    );
    let text = relay.metrics().await;
    assert_eq!(metric(&text, "relay_stuck"), Some(1.0));
    assert_eq!(metric(&text, "relay_broker_up"), Some(1.0));

    slow.store(false, Ordering::SeqCst);
    wait_until(Duration::from_secs(15), "drained and ok", || async {
        relay.health().await.0 == 200
    })
    .await;
    let (_, body) = relay.health().await;
    assert_eq!(body["status"], "ok");
    assert_eq!(body["pending"], 0);
    assert_eq!(metric(&relay.metrics().await, "relay_stuck"), Some(0.0));
    assert_eq!(db.counts().await, (20, 0, 0));
    relay.stop().await;
}
