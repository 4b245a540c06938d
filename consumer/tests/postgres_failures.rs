//! A failure test of the whole system on PostgreSQL (issue 19), as real processes on private
//! servers and free ports: a private PostgreSQL server (`PgServer`, fsync on), a private
//! `redis-server`, two replicas of the API binary and two relay binaries (one leads, one
//! stands by). A steady write mix runs over 64 (product, store) rows through both replicas
//! for a minute while the test, on a schedule:
//!
//! - `kill -9`s the leading relay six times (and starts it again: there is always a standby);
//! - `kill -9`s an API replica three times (and starts it again on its port);
//! - crashes PostgreSQL once (`pg_ctl stop -m immediate`) and starts it again on the same
//!   data folder and port. The leading relay exits when its session is cut (by design: its
//!   supervisor restarts it, `docs/relay.md`); the test supervises the relays as systemd would.
//!
//! Writes that fail meanwhile (503, 500, a refused or reset connection) are not acknowledged:
//! they are counted, and each must fall inside a replica kill or the PostgreSQL outage; the
//! load goes on with the other replica. At the end, once every event is published:
//!
//! - every acknowledged (2xx) write is in the database: each stock row state a write answered
//!   is in that row's history at that version, each reservation created, confirmed or
//!   cancelled has its row and status and its event;
//! - every event of the events table is in the Redis stream exactly once, with its id, and
//!   each product's events are in `seq` order there;
//! - replaying the stream gives the stock table, row by row, versions one by one;
//! - after each kill the standby led (`relay_leader 1`, `relay_leadership_changes_total` 1)
//!   and published within 5 s, having published nothing while it stood by;
//! - no relay exited on its own outside the outage, and no replica at all.
//!
//! The figures are printed (`--nocapture`); a failing run keeps its logs (each process's, and
//! PostgreSQL's) in a folder it names. Needs the API and relay binaries next to the test's
//! (`cargo build --bins`, or `cargo test --workspace`), `redis-server` and PostgreSQL's
//! programs.

#[path = "postgres_failures/cluster.rs"]
mod cluster;
mod common;
#[path = "postgres_failures/faults.rs"]
mod faults;
#[path = "postgres_failures/history.rs"]
mod history;
#[path = "postgres_failures/load.rs"]
mod load;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cluster::{Cluster, STREAM};
use common::Api;
use faults::Fault::{KillLeadingRelay, KillReplica, RestartPostgres};
use faults::{Fault, Record};
use history::History;
use load::{Load, STORES, Tally};
use serde_json::json;

/// Products seeded, each with a row in each of the 4 stores: the 64 rows.
const PRODUCTS: usize = 16;

/// How long the write mix runs, at least.
const LOAD_FOR: Duration = Duration::from_secs(62);

/// How long a standby may take to publish after the leader's `kill -9`, and a relay after
/// PostgreSQL is back.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(5);

/// How long the replicas may take to write again after PostgreSQL is back.
const RECOVERY_LIMIT: Duration = Duration::from_secs(5);

/// A write failing this long after a fault was over is still the fault's (a pooled
/// connection to a killed replica found dead at its next use).
const SLACK: Duration = Duration::from_secs(2);

/// When each fault happens, since the load started.
fn schedule() -> Vec<(Duration, Fault)> {
    let at = Duration::from_secs;
    vec![
        (at(4), KillLeadingRelay),
        (at(9), KillReplica(0)),
        (at(14), KillLeadingRelay),
        (at(19), KillReplica(1)),
        (at(24), KillLeadingRelay),
        (at(30), RestartPostgres),
        (at(40), KillLeadingRelay),
        (at(45), KillReplica(0)),
        (at(50), KillLeadingRelay),
        (at(56), KillLeadingRelay),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_nothing_acknowledged_or_published_is_lost_through_kills_and_a_crash() {
    let started = Instant::now();
    let mut cluster = Cluster::start().await;
    let products = seed(&cluster.apis[0]).await;
    cluster.leader().await;
    let ready = started.elapsed();

    let bases = cluster.apis.iter().map(|api| api.base.clone()).collect();
    let load = Load::start(bases, products);
    let record = faults::run(&mut cluster, &load, &schedule(), LOAD_FOR).await;
    let loaded_for = load.started.elapsed();
    let tally = load.stop().await;
    history::settle(&cluster.db).await;
    let snapshot = history::snapshot(&cluster.db).await;
    let entries = cluster.redis.entries(STREAM).await;
    let leader = cluster.leader().await;
    let final_changes = cluster.leadership_changes(leader).await;

    // What happened, printed before anything is asserted.
    report_faults(&record, &cluster);
    let unexplained: Vec<&(Duration, u16)> = tally
        .failures
        .iter()
        .filter(|(at, _)| record.window_of(*at, SLACK).is_none())
        .collect();
    report_load(&tally, loaded_for, unexplained.len());
    report_failures(&tally, &record);

    // The faults happened, and the relays took over in time.
    assert!(loaded_for >= Duration::from_secs(60), "{loaded_for:?}");
    assert!(record.takeovers.len() >= 5, "{:?}", record.takeovers);
    for (n, takeover) in record.takeovers.iter().enumerate() {
        assert!(
            takeover.took.is_some_and(|took| took <= TAKEOVER_LIMIT),
            "kill {n}: the standby did not publish within {TAKEOVER_LIMIT:?}: {takeover:?}"
        );
        assert_eq!(takeover.changes, Some(1.0), "kill {n}: {takeover:?}");
        assert_eq!(
            takeover.standby_sent,
            Some(0.0),
            "kill {n}: the standby published while the leader lived"
        );
    }
    assert!(record.replica_kills.len() >= 3);
    let [outage] = &record.outages[..] else {
        panic!("one PostgreSQL restart: {:?}", record.outages)
    };
    assert!(
        outage.replicas_back.is_some_and(|t| t <= RECOVERY_LIMIT),
        "the replicas did not write again within {RECOVERY_LIMIT:?}: {outage:?}"
    );
    assert!(
        outage.relay_back.is_some_and(|t| t <= TAKEOVER_LIMIT),
        "no relay published within {TAKEOVER_LIMIT:?} of PostgreSQL's return: {outage:?}"
    );
    let unexpected: Vec<_> = cluster.exits.iter().filter(|e| !e.during_outage).collect();
    assert!(
        unexpected.is_empty(),
        "processes exited by themselves: {unexpected:?}"
    );
    assert!(final_changes.is_some_and(|n| n >= 1.0), "{final_changes:?}");

    // Writes failed only while something was down, and only as they may.
    assert!(tally.odd.is_empty(), "unexpected answers: {:?}", tally.odd);
    assert!(
        unexplained.is_empty(),
        "writes failed while nothing was down: {unexplained:?}; fault windows {:?}",
        record.windows
    );

    // The stream is the events table, in each product's order, and replays to the stock.
    assert_eq!(snapshot.dead, 0, "events parked");
    let crossed = history::check_stream(&snapshot, &entries);
    let history = History::replay(&entries);
    assert_eq!(snapshot.stock.len(), PRODUCTS * STORES.len());
    assert_rows_equal(&history, &snapshot.stock);
    let found = history::find_acks(&tally.acks, &history, &snapshot);
    eprintln!(
        "postgres failures: {} events, each in the stream once in its product's seq order \
         ({crossed} entries follow a larger seq of another product), {} expiries; the stream \
         replays to the {} stock rows; every acknowledged write found ({} checks: {found:?}); \
         at the end relay {leader} leads (relay_leadership_changes_total {final_changes:?}); \
         cluster up in {ready:?}, test took {:?}",
        snapshot.events.len(),
        history.expired,
        snapshot.stock.len(),
        tally.acks.len(),
        started.elapsed()
    );
}

/// Seeds the 64 rows through `api`: [`PRODUCTS`] products, 1,000 units in each store.
async fn seed(api: &Api) -> Vec<String> {
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        let body = json!({"sku": format!("CHAOS-{i}"), "name": "Thing", "price": 9.5});
        let (status, body) = api.post("/products", body).await;
        assert_eq!(status, 201, "{body}");
        let id = body["id"].as_str().expect("an id").to_owned();
        for store in STORES {
            let body = json!({"product_id": id, "store_id": store, "initial_quantity": 1000});
            let (status, body) = api.post("/stock", body).await;
            assert_eq!(status, 201, "{body}");
        }
        products.push(id);
    }
    products
}

fn assert_rows_equal(history: &History, stock: &BTreeMap<(String, String), (i64, i64, i64)>) {
    let differing: Vec<_> = stock
        .iter()
        .filter(|(key, row)| history.rows.get(*key) != Some(*row))
        .map(|(key, row)| (key, row, history.rows.get(key)))
        .take(5)
        .collect();
    assert!(
        differing.is_empty() && history.rows.len() == stock.len(),
        "the stream replays to {} rows, the stock table has {}; first differences \
         (row, table, replay): {differing:?}",
        history.rows.len(),
        stock.len()
    );
}

fn report_faults(record: &Record, cluster: &Cluster) {
    let secs = |d: &Duration| format!("{:.2}s", d.as_secs_f64());
    let optional = |d: &Option<Duration>| d.as_ref().map_or("never".to_owned(), secs);
    let takeovers: Vec<String> = record
        .takeovers
        .iter()
        .map(|t| {
            format!(
                "{} (relay_leadership_changes_total {:?}, {} published but unmarked at the kill)",
                optional(&t.took),
                t.changes,
                t.unmarked
            )
        })
        .collect();
    eprintln!(
        "postgres failures: {} leading relays killed, the standby publishing after: {}",
        record.takeovers.len(),
        takeovers.join(", ")
    );
    let replicas: Vec<String> = record
        .replica_kills
        .iter()
        .map(|(replica, down)| format!("api-{replica} down {}", secs(down)))
        .collect();
    eprintln!(
        "postgres failures: {} replica kills: {}",
        replicas.len(),
        replicas.join(", ")
    );
    for outage in &record.outages {
        eprintln!(
            "postgres failures: PostgreSQL crashed and down {}; after it accepted connections \
             again, both replicas wrote after {} and a relay published after {}",
            secs(&outage.down),
            optional(&outage.replicas_back),
            optional(&outage.relay_back)
        );
    }
    let exits: Vec<String> = cluster
        .exits
        .iter()
        .map(|e| format!("{} at {} ({})", e.name, secs(&e.at), e.status))
        .collect();
    eprintln!(
        "postgres failures: {} exits the supervisor restarted: {}",
        exits.len(),
        exits.join(", ")
    );
}

/// The failed requests of each fault, by status.
fn report_failures(tally: &Tally, record: &Record) {
    let mut by_fault: BTreeMap<(Duration, &str), BTreeMap<u16, u64>> = BTreeMap::new();
    for (at, status) in &tally.failures {
        if let Some(window) = record.window_of(*at, SLACK) {
            let fault = (window.from, window.fault.as_str());
            *by_fault
                .entry(fault)
                .or_default()
                .entry(*status)
                .or_default() += 1;
        }
    }
    let faults: Vec<String> = by_fault
        .iter()
        .map(|((from, fault), statuses)| {
            format!(
                "{fault} at {:.1}s: {}",
                from.as_secs_f64(),
                statuses_text(statuses)
            )
        })
        .collect();
    eprintln!(
        "postgres failures: failed requests: {}; the slowest took {:?}",
        faults.join("; "),
        tally.slowest_failure
    );
}

fn statuses_text(statuses: &BTreeMap<u16, u64>) -> String {
    let texts: Vec<String> = statuses
        .iter()
        .map(|(status, n)| match status {
            0 => format!("no answer ×{n}"),
            _ => format!("{status} ×{n}"),
        })
        .collect();
    texts.join(", ")
}

fn report_load(tally: &Tally, loaded_for: Duration, unexplained: usize) {
    eprintln!(
        "postgres failures: the write mix ran {:.1}s: {} writes ({:.0}/s) in {} requests \
         (a failed one is sent again to the other replica), {} acknowledged; answers {}; \
         {} failed, {unexplained} of them outside a replica kill or the outage",
        loaded_for.as_secs_f64(),
        tally.writes,
        tally.writes as f64 / loaded_for.as_secs_f64(),
        tally.sent,
        tally.statuses.range(200..300).map(|(_, n)| n).sum::<u64>(),
        statuses_text(&tally.statuses),
        tally.failures.len()
    );
}
