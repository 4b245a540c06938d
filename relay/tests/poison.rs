//! Poison events and transient failures, with a publisher double: a rejected event is parked
//! after RELAY_MAX_ATTEMPTS and later events still flow; a transient failure never parks and
//! never lets a later event go first.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{RunningRelay, TestDb, free_port, metric, settings, wait_until};
use futures::future::BoxFuture;
use inventory_relay::config::DeadCommand;
use inventory_relay::metrics::Metrics;
use inventory_relay::publisher::{BatchFailure, PublishError, Publisher};
use inventory_relay::status::Status;
use inventory_relay::step::{PublishStep, StepOutcome, StepSettings};
use inventory_shared::outbox::{self, StoredEvent};

/// A broker that refuses the events in `reject`, is unreachable while `down`, and fails
/// transiently on `flaky` (once per listed seq) after acknowledging what came before it.
#[derive(Clone, Default)]
struct DoubleBroker {
    sent: Arc<Mutex<Vec<i64>>>,
    reject: Arc<Mutex<HashSet<i64>>>,
    flaky: Arc<Mutex<HashSet<i64>>>,
    down: Arc<AtomicBool>,
}

impl DoubleBroker {
    fn sent(&self) -> Vec<i64> {
        self.sent.lock().expect("lock").clone()
    }
}

impl Publisher for DoubleBroker {
    fn name(&self) -> &'static str {
        "double"
    }

    fn publish<'a>(
        &'a mut self,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                let error = PublishError::Transient("connection refused".into());
                return Err(BatchFailure {
                    published: 0,
                    error,
                });
            }
            for (index, event) in events.iter().enumerate() {
                if self.reject.lock().expect("lock").contains(&event.seq) {
                    let error = PublishError::Rejected("message too large".into());
                    return Err(BatchFailure {
                        published: index,
                        error,
                    });
                }
                if self.flaky.lock().expect("lock").remove(&event.seq) {
                    let error = PublishError::Transient("timed out".into());
                    return Err(BatchFailure {
                        published: index,
                        error,
                    });
                }
                self.sent.lock().expect("lock").push(event.seq);
            }
            Ok(())
        })
    }

    fn already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(PublishError::Transient("connection refused".into()));
            }
            let sent = self.sent();
            let mut tail: Vec<i64> = sent[sent.len().saturating_sub(window)..]
                .iter()
                .copied()
                .filter(|seq| *seq >= oldest)
                .collect();
            tail.sort_unstable();
            Ok(tail)
        })
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                Err(PublishError::Transient("connection refused".into()))
            } else {
                Ok(())
            }
        })
    }
}

fn step_over(
    db: &TestDb,
    broker: &DoubleBroker,
    max_attempts: u32,
    metrics: &Metrics,
) -> PublishStep {
    PublishStep::new(
        &db.path(),
        db.db.writer.clone(),
        Box::new(broker.clone()),
        StepSettings {
            batch_size: 10,
            max_attempts,
        },
        metrics.clone(),
        Arc::new(Status::new("double")),
    )
}

type Attempts = (i64, i64, Option<String>, bool, bool);

async fn attempts(db: &TestDb) -> Vec<Attempts> {
    sqlx::query_as(
        "SELECT seq, attempts, last_error, dead_at IS NOT NULL, synced_at IS NOT NULL \
         FROM events ORDER BY seq",
    )
    .fetch_all(&db.db.reader)
    .await
    .expect("rows")
}

fn rejected(published: usize, seq: i64, parked: bool) -> StepOutcome {
    StepOutcome::Rejected {
        published,
        seq,
        parked,
        error: "message too large".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_parked_after_max_attempts_and_later_events_flow() {
    let db = TestDb::new().await;
    db.append(5, 5).await;
    let broker = DoubleBroker::default();
    broker.reject.lock().expect("lock").insert(3);
    let metrics = Metrics::new().expect("metrics");
    let mut step = step_over(&db, &broker, 3, &metrics);

    assert_eq!(step.step().await.expect("step"), rejected(2, 3, false));
    assert_eq!(step.step().await.expect("step"), rejected(0, 3, false));
    assert_eq!(step.step().await.expect("step"), rejected(0, 3, true));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(2));
    assert_eq!(step.step().await.expect("step"), StepOutcome::Empty);

    assert_eq!(broker.sent(), vec![1, 2, 4, 5]);
    let error = Some("message too large".to_owned());
    assert_eq!(
        attempts(&db).await,
        vec![
            (1, 0, None, false, true),
            (2, 0, None, false, true),
            (3, 3, error, true, false),
            (4, 0, None, false, true),
            (5, 0, None, false, true),
        ]
    );
    let reader = inventory_shared::db::open_reader(&db.path()).expect("reader");
    let dead = outbox::list_dead(&reader, 10).expect("list dead");
    assert_eq!(dead.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![3]);
    let text = metrics.render();
    assert_eq!(metric(&text, "relay_events_dead_total"), Some(1.0));
    assert_eq!(
        metric(&text, "relay_publish_failures_total{reason=\"rejected\"}"),
        Some(3.0)
    );
    assert_eq!(
        metric(&text, "relay_publish_failures_total{reason=\"transient\"}"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_never_parks_and_never_skips_ahead() {
    let db = TestDb::new().await;
    db.append(6, 6).await;
    let broker = DoubleBroker::default();
    let metrics = Metrics::new().expect("metrics");
    let mut step = step_over(&db, &broker, 2, &metrics);

    broker.down.store(true, Ordering::SeqCst);
    for _ in 0..5 {
        let outcome = step.step().await.expect("step");
        let expected = StepOutcome::BrokerDown {
            published: 0,
            error: "connection refused".into(),
        };
        assert_eq!(outcome, expected);
    }
    broker.down.store(false, Ordering::SeqCst);
    // Event 4 times out after 1..3 were acknowledged: 1..3 are marked, nothing after 4 goes.
    broker.flaky.lock().expect("lock").insert(4);
    let outcome = step.step().await.expect("step");
    assert_eq!(
        outcome,
        StepOutcome::BrokerDown {
            published: 3,
            error: "timed out".into()
        }
    );
    assert_eq!(broker.sent(), vec![1, 2, 3]);
    assert_eq!(step.step().await.expect("step"), StepOutcome::Published(3));
    assert_eq!(broker.sent(), vec![1, 2, 3, 4, 5, 6]);
    // The last batch's mark commits in the background (relay/src/step.rs): wait for it.
    step.settle().await.expect("marking the last batch");

    let rows = attempts(&db).await;
    assert!(
        rows.iter()
            .all(|r| r.1 == 0 && r.2.is_none() && !r.3 && r.4),
        "{rows:?}"
    );
    let text = metrics.render();
    assert_eq!(
        metric(&text, "relay_publish_failures_total{reason=\"transient\"}"),
        Some(6.0)
    );
    assert_eq!(metric(&text, "relay_events_dead_total"), Some(0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_parks_a_poison_event_and_an_operator_can_retry_it() {
    let db = TestDb::new().await;
    let broker = DoubleBroker::default();
    broker.reject.lock().expect("lock").insert(7);
    let settings = settings(&db.path(), free_port(), &["--relay-max-attempts", "4"]);
    let relay = RunningRelay::start_with(settings.clone(), Box::new(broker.clone())).await;
    db.append(20, 1).await;

    wait_until(
        Duration::from_secs(15),
        "19 published and 1 parked",
        || async { db.counts().await == (19, 0, 1) },
    )
    .await;
    let expected: Vec<i64> = (1..=20).filter(|s| *s != 7).collect();
    assert_eq!(broker.sent(), expected);
    let text = relay.metrics().await;
    assert_eq!(metric(&text, "relay_events_dead_total"), Some(1.0));
    assert_eq!(
        metric(&text, "relay_publish_failures_total{reason=\"rejected\"}"),
        Some(4.0)
    );

    let mut listing = Vec::new();
    let list = DeadCommand::List { limit: 100 };
    inventory_relay::dead::run(&settings, &list, &mut listing)
        .await
        .expect("dead list");
    let listing = String::from_utf8(listing).expect("utf-8");
    let rows: Vec<&str> = listing.lines().collect();
    assert_eq!(rows.len(), 3, "{listing}");
    assert!(rows[1].trim_start().starts_with("7 "), "{listing}");
    assert!(rows[1].contains("message too large"), "{listing}");
    assert_eq!(rows[2], "1 parked event(s)");

    // The broker accepts it now; the operator un-parks it and the running relay sends it.
    broker.reject.lock().expect("lock").clear();
    let mut output = Vec::new();
    let retry = DeadCommand::Retry { seq: Some(7) };
    inventory_relay::dead::run(&settings, &retry, &mut output)
        .await
        .expect("dead retry");
    assert_eq!(
        String::from_utf8(output).expect("utf-8"),
        "revived 1 event(s); the running relay will publish them\n"
    );
    wait_until(
        Duration::from_secs(15),
        "the revived event is published",
        || async { db.counts().await == (20, 0, 0) },
    )
    .await;
    assert_eq!(broker.sent().last(), Some(&7));
    assert_eq!(broker.sent().len(), 20);

    let mut nothing = Vec::new();
    let retry_again = DeadCommand::Retry { seq: Some(7) };
    let error = inventory_relay::dead::run(&settings, &retry_again, &mut nothing)
        .await
        .expect_err("7 is no longer parked");
    assert_eq!(
        error.to_string(),
        "event 7 is not parked (or already synced)"
    );
    relay.stop().await;
}
