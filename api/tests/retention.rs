//! Retention: synced events and finished reservations past their period are deleted (events
//! archived first when asked), pending and parked events and PENDING reservations never are,
//! and the space goes back to the file system. Passes are driven directly with a chosen
//! `now`; one test lets the background task do it.

mod common;

use std::io::Read;
use std::time::Duration;

use common::{TestApp, eventually, spawn_app, spawn_app_with};
use inventory_api::retention::{Pass, Policy, Retention};
use inventory_shared::time::{self, Timestamp};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

const HOUR: Duration = Duration::from_secs(3600);

fn policy(events: Option<Duration>, reservations: Option<Duration>) -> Policy {
    Policy {
        events,
        reservations,
        archive_dir: None,
        interval: HOUR,
        batch: 2,
    }
}

/// One pass of `policy` as if it ran one hour after `boundary`: with a one-hour period,
/// everything written before `boundary` is past it and everything after is inside.
async fn pass_at(app: &TestApp, policy: Policy, boundary: Timestamp) -> Pass {
    let now = boundary + chrono::Duration::hours(1);
    Retention::build(policy)
        .expect("retention builds")
        .pass(&app.state, &now, &CancellationToken::new())
        .await
        .expect("the pass succeeds")
}

async fn seqs(app: &TestApp) -> Vec<i64> {
    app.events().await.iter().map(|e| e.seq).collect()
}

/// Marks events synced, as the relay does after the broker acknowledged them.
async fn mark_synced(app: &TestApp, seqs: &[i64]) {
    for seq in seqs {
        app.db
            .execute(
                "UPDATE events SET synced_at = created_at WHERE seq = ?",
                &[(*seq).into()],
            )
            .await;
    }
}

async fn park(app: &TestApp, seq: i64) {
    app.db
        .execute(
            "UPDATE events SET dead_at = created_at, attempts = 5 WHERE seq = ?",
            &[seq.into()],
        )
        .await;
}

/// A boundary strictly after every event written so far and before any written later.
async fn boundary() -> Timestamp {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let at = time::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    at
}

/// Old events: some synced, one pending, one parked; then recent synced events.
async fn old_and_recent_events(app: &TestApp) -> (Vec<i64>, i64, i64, Vec<i64>, Timestamp) {
    let product = app.product_with_stock("RET-1", "MAD-001", 100).await;
    for _ in 0..4 {
        app.reserve(&product, "MAD-001", 1, None).await;
    }
    let old = seqs(app).await;
    assert_eq!(old.len(), 5, "stock.created and four reservation.created");
    let (pending, parked) = (old[1], old[3]);
    let synced: Vec<i64> = old
        .iter()
        .copied()
        .filter(|s| *s != pending && *s != parked)
        .collect();
    mark_synced(app, &synced).await;
    park(app, parked).await;
    let boundary = boundary().await;
    app.reserve(&product, "MAD-001", 1, None).await;
    app.reserve(&product, "MAD-001", 1, None).await;
    let recent: Vec<i64> = seqs(app).await.split_off(old.len());
    mark_synced(app, &recent).await;
    (synced, pending, parked, recent, boundary)
}

#[tokio::test]
async fn only_synced_events_past_the_period_are_deleted() {
    let app = spawn_app().await;
    let (synced, pending, parked, recent, boundary) = old_and_recent_events(&app).await;

    let pass = pass_at(&app, policy(Some(HOUR), None), boundary).await;

    assert_eq!(
        pass,
        Pass {
            events_deleted: synced.len() as u64,
            ..Pass::default()
        }
    );
    let mut kept = vec![pending, parked];
    kept.extend(&recent);
    assert_eq!(
        seqs(&app).await,
        kept,
        "pending, parked and recent events stay"
    );
    let page = app.get("/api/v1/events").await;
    let listed: Vec<i64> = page.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        listed, kept,
        "the audit log starts at the oldest kept event"
    );

    let again = pass_at(&app, policy(Some(HOUR), None), boundary).await;
    assert_eq!(again, Pass::default(), "a second pass finds nothing");
}

#[tokio::test]
async fn without_a_period_nothing_is_deleted() {
    let app = spawn_app().await;
    let (_, _, _, _, boundary) = old_and_recent_events(&app).await;
    let before = seqs(&app).await;

    let pass = pass_at(&app, policy(None, None), boundary).await;

    assert_eq!(pass, Pass::default());
    assert_eq!(seqs(&app).await, before);
}

#[tokio::test]
async fn events_are_archived_as_the_audit_log_showed_them_before_they_are_deleted() {
    let app = spawn_app().await;
    let (synced, _, _, _, boundary) = old_and_recent_events(&app).await;
    let listed = app.get("/api/v1/events").await.body["events"].clone();
    let expected: Vec<Value> = listed
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| synced.contains(&e["seq"].as_i64().expect("seq")))
        .cloned()
        .collect();
    let archive = tempfile::tempdir().expect("archive dir");
    let mut with_archive = policy(Some(HOUR), None);
    with_archive.archive_dir = Some(archive.path().to_owned());

    let pass = pass_at(&app, with_archive, boundary).await;

    assert_eq!(pass.events_archived, synced.len() as u64);
    assert_eq!(pass.events_deleted, synced.len() as u64);
    let name = format!("events-{}.jsonl.gz", boundary.format("%Y-%m-%d"));
    let path = archive.path().join(&name);
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&path).expect("day file"))
        .read_to_string(&mut text)
        .expect("gzip");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(
        lines, expected,
        "one line per event, as GET /events returned it"
    );
    let sidecar =
        std::fs::read_to_string(archive.path().join(format!("{name}.sha256"))).expect("sidecar");
    let digest = inventory_api::retention::archive::sha256_file(&path).expect("digest");
    assert_eq!(sidecar, format!("{digest}  {name}\n"));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(archive.path().join("MANIFEST.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    assert_eq!(manifest["last_seq"], *synced.last().expect("synced"));
}

#[tokio::test]
async fn only_finished_reservations_past_the_period_are_deleted() {
    let app = spawn_app().await;
    let product = app.product_with_stock("RET-2", "MAD-001", 100).await;
    let confirmed = app.reserve(&product, "MAD-001", 1, None).await;
    app.post_empty(&format!("/api/v1/reservations/{confirmed}/confirm"))
        .await
        .expect_status(200);
    let cancelled = app.reserve(&product, "MAD-001", 2, None).await;
    app.post_empty(&format!("/api/v1/reservations/{cancelled}/cancel"))
        .await
        .expect_status(200);
    let pending = app.reserve(&product, "MAD-001", 3, None).await;
    let boundary = boundary().await;
    let recent = app.reserve(&product, "MAD-001", 4, None).await;
    app.post_empty(&format!("/api/v1/reservations/{recent}/confirm"))
        .await
        .expect_status(200);
    let stock_before = app.stock(&product, "MAD-001").await;
    let events_before = app.event_count().await;

    let pass = pass_at(&app, policy(None, Some(HOUR)), boundary).await;

    assert_eq!(
        pass,
        Pass {
            reservations_deleted: 2,
            ..Pass::default()
        }
    );
    let left: Vec<(String, String)> = app
        .db
        .query(
            "SELECT id, status FROM reservations ORDER BY created_at",
            &[],
        )
        .await;
    assert_eq!(
        left,
        vec![
            (pending.clone(), "PENDING".to_owned()),
            (recent, "CONFIRMED".to_owned())
        ]
    );
    app.get(&format!("/api/v1/reservations/{confirmed}"))
        .await
        .expect_status(404);
    assert_eq!(app.stock(&product, "MAD-001").await, stock_before);
    assert_eq!(
        app.event_count().await,
        events_before,
        "events are not touched"
    );
}

#[tokio::test]
async fn deleted_rows_give_their_pages_back_to_the_file_system() {
    if !common::sqlite_only("the file's pages (PRAGMA page_count, incremental vacuum)") {
        return;
    }
    let app = spawn_app().await;
    let product = app.product_with_stock("RET-3", "MAD-001", 1_000_000).await;
    let mut writes = Vec::new();
    for _ in 0..1500 {
        writes.push(app.reserve(&product, "MAD-001", 1, None));
    }
    futures::future::join_all(writes).await;
    app.db
        .execute("UPDATE events SET synced_at = created_at", &[])
        .await;
    let pages = |app: &TestApp| {
        let conn = inventory_shared::db::open_reader(&app.db_path).expect("reader");
        let mode: i64 = conn
            .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
            .expect("mode");
        let count: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .expect("pages");
        let free: i64 = conn
            .query_row("PRAGMA freelist_count", [], |r| r.get(0))
            .expect("free");
        (mode, count, free)
    };
    let (mode, before, _) = pages(&app);
    assert_eq!(mode, 2, "a new file has auto_vacuum=INCREMENTAL");
    let boundary = boundary().await;
    let mut batched = policy(Some(HOUR), None);
    batched.batch = 500;

    let pass = pass_at(&app, batched, boundary).await;

    assert_eq!(pass.events_deleted, 1501);
    let (_, after, free) = pages(&app);
    assert_eq!(free, 0, "no free page left in the file");
    assert!(pass.pages_freed > 0, "{pass:?}");
    assert_eq!(
        after,
        before - pass.pages_freed,
        "the file shrank by the freed pages"
    );
}

#[tokio::test]
async fn the_background_task_deletes_on_its_interval_and_counts_in_metrics() {
    let app = spawn_app_with(|s| {
        s.events_retention = Some(Duration::from_millis(300));
        s.retention_interval = Duration::from_millis(100);
    })
    .await;
    let product = app.product_with_stock("RET-4", "MAD-001", 10).await;
    let reservation = app.reserve(&product, "MAD-001", 1, None).await;
    let all = seqs(&app).await;
    mark_synced(&app, &all[..1]).await;

    eventually(
        Duration::from_secs(20),
        "the synced event to go",
        || async { (seqs(&app).await == all[1..]).then_some(()) },
    )
    .await;

    assert_eq!(app.reservation_status(&reservation).await, "PENDING");
    // The recorder is shared by the tests of this binary: at least this task's delete.
    let metrics = app.get_public("/metrics").await.text;
    let deleted: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"retention_rows_total{table="events",action="deleted"} "#))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no deleted-events series in {metrics}"));
    assert!(deleted >= 1.0, "{deleted}");
    app.stop().await;
}

#[tokio::test]
async fn an_archive_folder_without_event_retention_stops_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut settings = inventory_api::config::Settings::for_database(dir.path().join("x.db"));
    settings.database.database_url = Some(
        inventory_shared::config::Engine::parse(&common::new_database_url(dir.path()).await)
            .expect("a database URL"),
    );
    settings.events_archive_dir = Some(dir.path().join("archive"));

    let err = inventory_api::Application::build(settings)
        .await
        .err()
        .expect("refused");

    assert!(err.to_string().starts_with("EVENTS_ARCHIVE_DIR"), "{err:#}");
}
