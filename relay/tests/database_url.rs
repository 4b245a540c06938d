//! The real `inventory-relay` binary reads a PostgreSQL `DATABASE_URL` as PostgreSQL (never as
//! a path: once, `postgres://…` became a folder named `postgres:`), never echoes its password,
//! and refuses an unknown scheme before it creates anything, for serving and for `dead list`
//! alike.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `inventory-relay ARGS` in `dir`; a run not refused within 20 s is killed and counts as
/// "still running".
fn run_relay_in(dir: &Path, url: &str, args: &[&str]) -> (Option<Output>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inventory-relay"))
        .current_dir(dir)
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("SQLITE_PATH")
        .env("MESSAGE_BROKER", "none")
        .env("RELAY_HTTP_ADDR", "127.0.0.1:0")
        .env("LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inventory-relay starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let output = child.wait_with_output().expect("output");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return (Some(output), stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill the relay we started");
    let output = child.wait_with_output().expect("output");
    (None, String::from_utf8_lossy(&output.stderr).into_owned())
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).expect("read dir").next().is_none()
}

#[test]
fn an_unreachable_postgres_url_stops_the_relay_and_its_dead_command_without_its_password() {
    for args in [&[][..], &["dead", "list"][..]] {
        let dir = tempfile::tempdir().expect("tempdir");

        // Port 1: nothing listens there.
        let (output, stderr) =
            run_relay_in(dir.path(), "postgres://app:s3cret@127.0.0.1:1/inv", args);

        let output = output.unwrap_or_else(|| panic!("{args:?}: the relay kept running: {stderr}"));
        assert!(
            !output.status.success(),
            "{args:?}: exit {:?}",
            output.status
        );
        assert!(
            stderr.contains("connecting to PostgreSQL (postgres://app:***@127.0.0.1:1/inv)"),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "{args:?}: password echoed: {stderr}"
        );
        assert!(is_empty(dir.path()), "{args:?}: something was created");
    }
}

#[test]
fn an_unknown_scheme_is_refused_by_the_relay_naming_database_url() {
    let dir = tempfile::tempdir().expect("tempdir");

    let (output, stderr) = run_relay_in(dir.path(), "mysql://x", &[]);

    let output = output.unwrap_or_else(|| panic!("the relay kept running: {stderr}"));
    assert!(!output.status.success(), "exit {:?}", output.status);
    assert!(
        stderr.contains("DATABASE_URL") && stderr.contains("`mysql://`"),
        "{stderr}"
    );
    assert!(is_empty(dir.path()));
}
