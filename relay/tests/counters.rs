//! The relay's side of the outbox counters (`event_counts`, kept by triggers): exact against
//! a full `COUNT(*)` after the relay binary is SIGKILLed mid-drain, after its restart drains
//! the rest, and after parked events are revived with `inventory-relay dead retry` and
//! published; and the relay's backlog numbers (`pending_summary`, behind `/health` and the
//! gauges) read the same counts.

mod common;

use std::time::{Duration, Instant};

use common::{RelayProcess, TestDb, free_port, settings, wait_until};
use inventory_relay::config::DeadCommand;
use inventory_shared::{outbox, time};

const BACKLOG: usize = 6_000;

/// `[pending, synced, dead]` by the counters, and by a full scan of `events`.
async fn both(db: &TestDb) -> ([i64; 3], [i64; 3]) {
    let of = |rows: Vec<(String, i64)>| {
        let get = |s: &str| rows.iter().filter(|(k, _)| k == s).map(|(_, n)| n).sum();
        [get("pending"), get("synced"), get("dead")]
    };
    let counted = sqlx::query_as("SELECT state, SUM(n) FROM event_counts GROUP BY state")
        .fetch_all(&db.db.reader)
        .await
        .expect("counters");
    let scanned = sqlx::query_as(
        "SELECT CASE WHEN synced_at IS NOT NULL THEN 'synced' WHEN dead_at IS NOT NULL \
         THEN 'dead' ELSE 'pending' END, COUNT(*) FROM events GROUP BY 1",
    )
    .fetch_all(&db.db.reader)
    .await
    .expect("scan");
    (of(counted), of(scanned))
}

async fn assert_exact(db: &TestDb, when: &str) -> [i64; 3] {
    let (counted, scanned) = both(db).await;
    assert_eq!(counted, scanned, "counters vs COUNT(*) {when}");
    let summary = outbox::pending_summary(&db.db.reader)
        .await
        .expect("pending summary");
    assert_eq!(summary.count, scanned[0], "pending_summary {when}");
    let first_pending: Option<String> = sqlx::query_scalar(
        "SELECT created_at FROM events WHERE synced_at IS NULL AND dead_at IS NULL \
         ORDER BY seq LIMIT 1",
    )
    .fetch_optional(&db.db.reader)
    .await
    .expect("first pending");
    assert_eq!(
        summary.oldest.map(|t| time::to_db(&t)),
        first_pending,
        "oldest pending {when}"
    );
    scanned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_stay_exact_across_a_killed_relay_its_restart_and_a_dead_retry() {
    let db = TestDb::new().await;
    let seqs = db.append(BACKLOG, 500).await;
    // Park three events before the relay runs, as a broker refusing them would.
    let parked = [seqs[10], seqs[2_000], seqs[4_000]];
    for seq in parked {
        outbox::record_rejection(&db.db.writer, seq, "too large", 1, &time::now())
            .await
            .expect("park");
    }
    assert_eq!(
        assert_exact(&db, "before the relay").await,
        [BACKLOG as i64 - 3, 0, 3]
    );

    let env = [
        ("DATABASE_URL", db.path().display().to_string()),
        ("MESSAGE_BROKER", "none".to_owned()),
        ("RELAY_BATCH_SIZE", "50".to_owned()),
    ];
    let mut relay = RelayProcess::spawn(db.dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while both(&db).await.1[1] < 1_500 {
        assert!(
            Instant::now() < deadline,
            "the relay did not start draining"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    relay.signal("KILL");
    relay
        .wait_timeout(Duration::from_secs(5))
        .expect("the killed relay exits");
    let [pending, synced, dead] = assert_exact(&db, "after SIGKILL").await;
    assert!(
        pending > 0 && synced >= 1_500,
        "killed mid-drain: {pending} pending"
    );
    assert_eq!(dead, 3);

    let _relay = RelayProcess::spawn(db.dir.path(), &env);
    wait_until(
        Duration::from_secs(60),
        "the restarted relay drains",
        || async { both(&db).await.1[0] == 0 },
    )
    .await;
    assert_eq!(
        assert_exact(&db, "after the restart drained").await,
        [0, BACKLOG as i64 - 3, 3]
    );

    let operator = settings(&db.path(), free_port(), &[]);
    let mut output = Vec::new();
    inventory_relay::dead::run(&operator, &DeadCommand::Retry { seq: None }, &mut output)
        .await
        .expect("dead retry");
    assert_eq!(
        String::from_utf8(output).expect("utf-8"),
        "revived 3 event(s); the running relay will publish them\n"
    );
    wait_until(
        Duration::from_secs(30),
        "the revived events are published",
        || async { both(&db).await.1 == [0, BACKLOG as i64, 0] },
    )
    .await;
    assert_eq!(
        assert_exact(&db, "after the revived events were published").await,
        [0, BACKLOG as i64, 0]
    );
}
