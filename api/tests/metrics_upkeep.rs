//! The histograms' samples are given back (issue 20, part 2): the Prometheus recorder keeps
//! every recorded sample until an upkeep pass (or a scrape) folds it into the buckets, so an
//! API nobody scrapes grew by about 10 MB a minute under load. With `metrics::run_upkeep`
//! running, the process's resident memory stays flat however many requests are recorded.
//!
//! One test in its own binary: the recorder is process-wide, and the figure is the process's.

use std::time::Duration;

use inventory_api::metrics;
use tokio_util::sync::CancellationToken;

/// Requests recorded per round, and rounds per phase: 1,000,000 a phase, about 15 MB of
/// resident memory when nothing folds them (0.5 MB with the upkeep, measured).
const PER_ROUND: usize = 50_000;
const ROUNDS: usize = 20;

/// The process's resident memory, in MB (`VmRSS`).
fn resident_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// Records `rounds` rounds of requests, pausing between rounds so other tasks run; returns how
/// much the resident memory grew.
async fn record_requests(rounds: usize) -> f64 {
    let before = resident_mb();
    for _ in 0..rounds {
        for _ in 0..PER_ROUND {
            metrics::record_request("POST", "createReservation", 201, Duration::from_micros(800));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    resident_mb() - before
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_requests_do_not_pile_up_while_the_upkeep_runs() {
    let handle = metrics::handle();
    // Warm up: the series exist and the allocator has its first blocks. One round only: what
    // it frees stays with the allocator and would hide the control's growth.
    record_requests(1).await;
    handle.upkeep();

    let stop = CancellationToken::new();
    let upkeep = tokio::spawn(metrics::run_upkeep(Duration::from_millis(10), stop.clone()));
    let with_upkeep = record_requests(ROUNDS).await;
    stop.cancel();
    upkeep.await.expect("the upkeep task ends when cancelled");

    // The control: the same recording with nothing folding the samples does show up, so the
    // measure can see the growth it guards against.
    let without_upkeep = record_requests(ROUNDS).await;

    eprintln!(
        "resident growth: {with_upkeep:.1} MB with the upkeep, {without_upkeep:.1} MB without"
    );
    assert!(
        with_upkeep < 6.0,
        "resident memory grew {with_upkeep:.1} MB with the upkeep running"
    );
    assert!(
        without_upkeep > 8.0,
        "the control grew only {without_upkeep:.1} MB: the measure cannot see the samples"
    );
}
