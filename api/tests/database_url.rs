//! `DATABASE_URL` picks the engine by its scheme, and the real `inventory-api` binary refuses
//! what it cannot serve before it creates anything: a PostgreSQL URL (not served yet) and an
//! unknown scheme. Once, `postgres://…` was read as a relative path: the API started, answered
//! 200 and wrote a SQLite file under a new folder named `postgres:`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `inventory-api` in an empty folder with `DATABASE_URL=url`; a start that is not refused
/// within 20 s is killed and counts as "still serving".
fn start_api_in(dir: &Path, url: &str) -> (Option<Output>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_inventory-api"))
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env_remove("SQLITE_PATH")
        .env_remove("API_KEYS")
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", "0")
        .env("LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("inventory-api starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if child.try_wait().expect("wait").is_some() {
            let output = child.wait_with_output().expect("output");
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            return (Some(output), stderr);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill the API we started");
    let output = child.wait_with_output().expect("output");
    (None, String::from_utf8_lossy(&output.stderr).into_owned())
}

/// The names in `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_postgres_url_is_refused_at_start_and_creates_nothing() {
    for url in [
        "postgres://postgres@127.0.0.1:5432/inv",
        "postgresql://app:s3cret@127.0.0.1:5432/inv",
    ] {
        let dir = tempfile::tempdir().expect("tempdir");

        let (output, stderr) = start_api_in(dir.path(), url);

        let output = output.unwrap_or_else(|| panic!("{url}: the API kept serving: {stderr}"));
        assert!(!output.status.success(), "{url}: exit {:?}", output.status);
        assert!(
            stderr.contains("DATABASE_URL names a PostgreSQL server")
                && stderr.contains("this version serves SQLite only"),
            "{url}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cret"),
            "the password is printed: {stderr}"
        );
        assert_eq!(entries(dir.path()), Vec::<String>::new(), "{url}");
    }
}

#[test]
fn an_unknown_scheme_is_refused_naming_database_url() {
    for url in ["mysql://x", "http://127.0.0.1/inv"] {
        let dir = tempfile::tempdir().expect("tempdir");

        let (output, stderr) = start_api_in(dir.path(), url);

        let output = output.unwrap_or_else(|| panic!("{url}: the API kept serving: {stderr}"));
        assert!(!output.status.success(), "{url}: exit {:?}", output.status);
        let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or(url);
        assert!(
            stderr.contains("DATABASE_URL") && stderr.contains(&format!("`{scheme}://`")),
            "{url}: {stderr}"
        );
        assert_eq!(entries(dir.path()), Vec::<String>::new(), "{url}");
    }
}

#[test]
fn backup_refuses_a_postgres_url_instead_of_copying_an_empty_database() {
    let dir = tempfile::tempdir().expect("tempdir");

    let output = Command::new(env!("CARGO_BIN_EXE_inventory-api"))
        .current_dir(dir.path())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/inv")
        .env_remove("SQLITE_PATH")
        .args(["backup", "copy.db"])
        .output()
        .expect("inventory-api backup runs");

    assert!(!output.status.success(), "exit {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("this version serves SQLite only"),
        "{stderr}"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}
