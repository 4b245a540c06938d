//! The real `inventory-api` binary's start. `DATABASE_URL` picks the engine by its scheme: a
//! PostgreSQL URL serves from PostgreSQL and creates no file; an unknown scheme is refused
//! before anything is created. Once, `postgres://…` was read as a relative path: the API
//! started, answered 200 and wrote a SQLite file under a new folder named `postgres:`. And
//! the process outlives its log pipe.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use inventory_shared::test_support::PgServer;

/// `inventory-api` to serve in `dir` from `url`: on a free loopback port, a plain-text log on
/// stderr (piped), no API keys or SQLite path from the caller's environment.
fn api_command(dir: &Path, url: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_inventory-api"));
    command
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env_remove("SQLITE_PATH")
        .env_remove("API_KEYS")
        .env("SERVER_HOST", "127.0.0.1")
        .env("SERVER_PORT", "0")
        .env("LOG_FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Runs `inventory-api` in an empty folder with `DATABASE_URL=url`; a start that is not refused
/// within 20 s is killed and counts as "still serving".
fn start_api_in(dir: &Path, url: &str) -> (Option<Output>, String) {
    let mut child = api_command(dir, url)
        .stdout(Stdio::piped())
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
fn a_postgres_url_serves_from_postgres_and_creates_no_file() {
    let server = PgServer::start().expect("a private PostgreSQL server");
    let url = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(server.create_database())
        .expect("a database");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = api_command(dir.path(), &url)
        .spawn()
        .expect("inventory-api starts");
    // The log goes to stderr (no colours: not a terminal).
    let addr = listening_addr(child.stderr.take().expect("stderr"));
    let health = addr.as_deref().map(|addr| http_get(addr, "/health"));
    child.kill().expect("kill the API we started");
    let _ = child.wait();

    let addr = addr.expect("the API logged its address");
    let health = health.expect("a health answer");
    assert!(health.starts_with("HTTP/1.1 200"), "{addr}: {health}");
    assert!(health.contains(r#""database":"ok""#), "{health}");
    assert_eq!(
        entries(dir.path()),
        Vec::<String>::new(),
        "no file, no folder"
    );
}

/// Reads the log until "inventory API listening" and returns its `addr` (None if the process
/// ended first); then keeps draining the log on a thread, so the API never writes to a closed
/// pipe.
fn listening_addr(out: impl std::io::Read + Send + 'static) -> Option<String> {
    let (addr, lines) = read_until_listening(out);
    std::thread::spawn(move || for _ in lines {});
    addr
}

/// The log's lines up to "inventory API listening", and that line's `addr`; the rest of the
/// log is left unread in the returned reader.
fn read_until_listening<R: std::io::Read>(
    out: R,
) -> (Option<String>, std::io::Lines<std::io::BufReader<R>>) {
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(out).lines();
    for line in lines.by_ref() {
        let Ok(line) = line else { break };
        if line.contains("inventory API listening") {
            let addr = line
                .split("addr=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned);
            return (addr, lines);
        }
    }
    (None, lines)
}

#[test]
fn the_api_keeps_serving_when_its_log_pipe_closes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = api_command(dir.path(), dir.path().join("inventory.db"))
        // Every request writes log lines.
        .env("LOG_LEVEL", "trace")
        .spawn()
        .expect("inventory-api starts");
    let (addr, log) = read_until_listening(child.stderr.take().expect("stderr"));
    // The collector dies: the read end of the pipe is closed.
    drop(log);
    let addr = addr.expect("the API logged its address");

    let answers: Vec<String> = (0..5).map(|_| http_get(&addr, "/health")).collect();
    std::thread::sleep(Duration::from_millis(200));
    let exited = child.try_wait().expect("wait");
    if exited.is_none() {
        child.kill().expect("kill the API we started");
    }
    let _ = child.wait();

    assert_eq!(exited, None, "the API exited when its log pipe closed");
    for answer in answers {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}

/// One HTTP/1.1 GET; the whole answer as text.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn an_unreachable_postgres_fails_the_start_without_printing_the_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 1: nothing listens there.
    let url = "postgresql://app:s3cret@127.0.0.1:1/inv";

    let (output, stderr) = start_api_in(dir.path(), url);

    let output = output.unwrap_or_else(|| panic!("the API kept serving: {stderr}"));
    assert!(!output.status.success(), "exit {:?}", output.status);
    assert!(stderr.contains("connecting to PostgreSQL"), "{stderr}");
    assert!(
        !stderr.contains("s3cret"),
        "the password is printed: {stderr}"
    );
    assert_eq!(entries(dir.path()), Vec::<String>::new());
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
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert_eq!(entries(dir.path()), Vec::<String>::new());
}
