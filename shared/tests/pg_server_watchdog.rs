//! `PgServer::stop_when_process_exits`: a test process that keeps its server in a `static`
//! (never dropped) leaves no PostgreSQL behind, whether it exits, panics or is killed.
//!
//! The parent test runs this same test binary again as the child (`PG_WATCHDOG_CHILD` names
//! how it ends); the child starts a server, arms the watchdog, prints the postmaster's PID and
//! folder, and ends without dropping it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use inventory_shared::test_support::{PgServer, is_running};

const CHILD: &str = "PG_WATCHDOG_CHILD";

/// The child's part (does nothing unless the parent set `PG_WATCHDOG_CHILD`).
#[test]
fn watchdog_child() {
    let Ok(ending) = std::env::var(CHILD) else {
        return;
    };
    let mut server = PgServer::start().expect("a private PostgreSQL server");
    server.stop_when_process_exits().expect("the watchdog");
    println!(
        "SERVER {} {}",
        server.pid().expect("running"),
        server.dir().display()
    );
    // As a `static` would: never dropped.
    std::mem::forget(server);
    match ending.as_str() {
        "exit" => std::process::exit(0),
        "abort" => std::process::abort(),
        // Wait for the parent's SIGKILL.
        _ => std::thread::sleep(Duration::from_secs(600)),
    }
}

/// Runs the child; returns the postmaster's PID and folder it reported, once it has ended.
fn run_child(ending: &str) -> (u32, PathBuf) {
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([
            "--exact",
            "watchdog_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, ending)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the child test process");
    let stdout = child.stdout.take().expect("stdout");
    let mut found = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        // libtest may have written `test watchdog_child ... ` on the same line first.
        if let Some((_, rest)) = line.split_once("SERVER ") {
            let (pid, dir) = rest.split_once(' ').expect("pid and folder");
            found = Some((pid.parse().expect("a pid"), PathBuf::from(dir)));
            if ending == "kill" {
                Command::new("kill")
                    .args(["-KILL", &child.id().to_string()])
                    .status()
                    .expect("kill");
            }
        }
    }
    child.wait().expect("the child ends");
    let (pid, dir) = found.expect("the child reported its server");
    (pid, dir)
}

fn assert_cleaned_up(ending: &str) {
    let (pid, dir) = run_child(ending);
    let deadline = Instant::now() + Duration::from_secs(30);
    while (is_running(pid) || dir.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !is_running(pid),
        "postmaster {pid} still runs after its test process ended ({ending})"
    );
    assert!(!dir.exists(), "{} is left behind ({ending})", dir.display());
}

#[test]
fn a_process_that_exits_without_dropping_its_server_leaves_none_running() {
    assert_cleaned_up("exit");
}

#[test]
fn a_process_that_aborts_leaves_none_running() {
    assert_cleaned_up("abort");
}

#[test]
fn a_process_killed_with_sigkill_leaves_none_running() {
    assert_cleaned_up("kill");
}

#[test]
fn a_dropped_server_ends_its_watchdog_too() {
    let mut server = PgServer::start().expect("a private PostgreSQL server");
    server.stop_when_process_exits().expect("the watchdog");
    let (pid, watchdog) = (
        server.pid().expect("running"),
        server.watchdog_pid().expect("a watchdog"),
    );
    assert!(is_running(watchdog));
    drop(server);
    assert!(!is_running(pid), "the postmaster stopped");
    assert!(!is_running(watchdog), "the watchdog ended");
}
