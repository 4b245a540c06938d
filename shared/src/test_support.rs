//! Test support (cargo feature `test-support`, never in a release build): [`PgServer`], a
//! private PostgreSQL server for one test.
//!
//! Why a private server rather than the machine's: tests that stop, crash or flood the server
//! must never touch one that others use, and each test gets databases nobody else writes to.
//! Each server is `initdb` + `pg_ctl` in a temporary folder, listening on 127.0.0.1 on a free
//! port, with `fsync=on` and `synchronous_commit=on` (what production runs, so crash tests
//! and benchmarks mean something; [`PgServer::start_without_fsync`] turns them off for suites
//! that test behaviour only). Dropping the [`PgServer`] stops it by its PID and removes the
//! folder.
//!
//! PostgreSQL's programs are found through `PG_BINDIR`, else `pg_config --bindir`, else the
//! newest `/usr/lib/postgresql/*/bin` (Debian's layout). When they are missing, starting fails
//! naming the program and the package to install (`postgresql`; `.ci/test` installs it): a
//! PostgreSQL test never passes without a server. `initdb` refuses to run as root, so as root
//! every program runs as the `postgres` user (`runuser -u postgres --`), which owns the folder.
//!
//! A server kept for a whole test process (in a `static`, whose `Drop` never runs) is stopped
//! by a watchdog instead: [`PgServer::stop_when_process_exits`].

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::Connection;

/// The programs a server needs, all in PostgreSQL's bin folder.
const PROGRAMS: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// The account the programs run as when the tests run as root.
const POSTGRES_USER: &str = "postgres";

/// How a server is stopped (`pg_ctl`'s modes, sent as the signal the postmaster reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// SIGINT: roll back open transactions, checkpoint, exit.
    Fast,
    /// SIGQUIT: exit at once without a checkpoint, like a crash; the next start replays WAL.
    Immediate,
}

/// A private PostgreSQL server, stopped by PID when dropped.
#[derive(Debug)]
pub struct PgServer {
    /// Holds `data/` (the cluster), the socket and `server.log`.
    dir: tempfile::TempDir,
    bindir: PathBuf,
    /// `Some("postgres")` when running as root.
    run_as: Option<&'static str>,
    port: u16,
    pid: Option<u32>,
    /// The watchdog of [`PgServer::stop_when_process_exits`] and the write end of its pipe.
    watchdog: Option<(Child, ChildStdin)>,
    /// `fsync`, `synchronous_commit` and `full_page_writes` on (the default).
    durable: bool,
}

impl PgServer {
    /// Creates a cluster in a temporary folder and starts it (a few seconds).
    pub fn start() -> anyhow::Result<Self> {
        Self::start_with_bindir(find_bindir()?)
    }

    /// Like [`PgServer::start`] with `fsync`, `synchronous_commit` and `full_page_writes`
    /// off: for suites that test behaviour, never what survives a crash or a power cut
    /// (a commit is visible to every session at once either way). The API's integration
    /// suite on PostgreSQL runs on one.
    pub fn start_without_fsync() -> anyhow::Result<Self> {
        Self::start_inner(find_bindir()?, false)
    }

    /// Like [`PgServer::start`] with PostgreSQL's programs in `bindir`.
    pub fn start_with_bindir(bindir: impl Into<PathBuf>) -> anyhow::Result<Self> {
        Self::start_inner(bindir.into(), true)
    }

    fn start_inner(bindir: PathBuf, durable: bool) -> anyhow::Result<Self> {
        for program in PROGRAMS {
            if !bindir.join(program).is_file() {
                bail!(
                    "PostgreSQL's `{program}` is not in {}: install the Debian package \
                     `postgresql` (.ci/test does) or point PG_BINDIR at its bin folder",
                    bindir.display()
                );
            }
        }
        let run_as = running_as_root()?.then_some(POSTGRES_USER);
        let dir = tempfile::Builder::new()
            .prefix("pg-test-")
            .tempdir()
            .context("creating the server's folder")?;
        if let Some(user) = run_as {
            let (uid, gid) = ids_of(user)?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .with_context(|| format!("handing {} to {user}", dir.path().display()))?;
        }
        let mut server = Self {
            dir,
            bindir,
            run_as,
            port: 0,
            pid: None,
            watchdog: None,
            durable,
        };
        // `--no-sync`: the fresh cluster need not survive a power cut while it is made; the
        // server itself runs with fsync on.
        let data = server.data_dir();
        server.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        server.start_again()?;
        Ok(server)
    }

    /// Starts the server again after [`PgServer::stop`] (on the same port when it is still
    /// free, else on a new one: read [`PgServer::port`] again). A port taken between choosing
    /// and binding is retried on another.
    pub fn start_again(&mut self) -> anyhow::Result<()> {
        self.forget_dead_postmaster();
        let mut last = None;
        for attempt in 0..5 {
            let port = match (attempt, self.port) {
                (0, port) if port != 0 && port_is_free(port) => port,
                _ => free_port()?,
            };
            let sync = if self.durable { "on" } else { "off" };
            let options = format!(
                "-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
                 -c fsync={sync} -c synchronous_commit={sync} -c full_page_writes={sync}",
                self.dir.path().display()
            );
            let data = self.data_dir();
            let log = self.log_path();
            let started = self.run(
                "pg_ctl",
                &[
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-l".as_ref(),
                    log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-o".as_ref(),
                    options.as_ref(),
                    "start".as_ref(),
                ],
            );
            match started {
                Ok(_) => {
                    self.port = port;
                    self.pid = Some(self.read_pid()?);
                    return Ok(());
                }
                Err(e) => {
                    self.forget_dead_postmaster();
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("pg_ctl start failed")))
            .with_context(|| format!("starting PostgreSQL; its log:\n{}", self.log()))
    }

    /// Stops the server by its PID and waits until it is gone (30 s at most).
    /// Ends the watchdog of [`PgServer::stop_when_process_exits`], if any.
    pub fn stop(&mut self, mode: StopMode) -> anyhow::Result<()> {
        self.end_watchdog();
        let Some(pid) = self.pid.take() else {
            return Ok(());
        };
        let signal = match mode {
            StopMode::Fast => "-INT",
            StopMode::Immediate => "-QUIT",
        };
        signal_pid(signal, pid)?;
        if wait_gone(pid, Duration::from_secs(30)) {
            Ok(())
        } else {
            signal_pid("-KILL", pid)?;
            wait_gone(pid, Duration::from_secs(5));
            bail!("PostgreSQL (pid {pid}) ignored {signal} for 30 s and was killed")
        }
    }

    /// Makes sure the server is stopped (immediately, like a crash: nothing is worth a
    /// checkpoint) and its folder removed when this process ends, however it ends: a normal
    /// exit without `Drop` (a server in a `static`), a panic, `abort`, SIGKILL.
    ///
    /// A detached watchdog (`sh`, in a process group of its own so a Ctrl-C to the tests'
    /// group does not reach it) blocks reading a pipe whose only write end this process
    /// holds. The kernel closes that end when the process ends, for any reason; the
    /// watchdog reads end-of-file, sends SIGQUIT to the postmaster by its PID (SIGKILL if it
    /// is still there after 30 s) and removes the folder. A pipe rather than polling the
    /// test's PID: no half-second delay, and no mistaking a recycled PID for the test.
    /// (Rust opens pipes close-on-exec, so no other child inherits the write end and keeps
    /// the watchdog waiting.) As root the watchdog stays root, which may signal the
    /// `postgres` user's postmaster and remove its folder.
    ///
    /// Dropping the server as usual still stops it (fast) and ends the watchdog first.
    /// Call it after every (re)start: it watches the PID the server has now.
    pub fn stop_when_process_exits(&mut self) -> anyhow::Result<()> {
        self.end_watchdog();
        let pid = self.pid.context("the server is not running")?;
        let script = "cat >/dev/null; \
             kill -QUIT \"$1\" 2>/dev/null; \
             i=0; while kill -0 \"$1\" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; \
             kill -KILL \"$1\" 2>/dev/null; \
             rm -rf \"$2\"";
        let mut command = Command::new("sh");
        command
            .args(["-c", script, "pg-test-watchdog"])
            .arg(pid.to_string())
            .arg(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().context("starting the server's watchdog")?;
        let pipe = child.stdin.take().context("the watchdog's pipe")?;
        self.watchdog = Some((child, pipe));
        Ok(())
    }

    /// The watchdog's PID, while there is one.
    pub fn watchdog_pid(&self) -> Option<u32> {
        self.watchdog.as_ref().map(|(child, _)| child.id())
    }

    /// Ends the watchdog without letting it act (killed before its pipe closes).
    fn end_watchdog(&mut self) {
        if let Some((mut child, pipe)) = self.watchdog.take() {
            let _ = child.kill();
            let _ = child.wait();
            drop(pipe);
        }
    }

    /// The folder holding the cluster, its socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's PID, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// A URL for `database` on this server (user `postgres`, trust authentication).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub async fn create_database(&self) -> anyhow::Result<String> {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("test_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .context("connecting to the test server")?;
        // A name we made (letters, digits, `_`): nothing to quote.
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("creating database {name}"))?;
        conn.close().await.ok();
        Ok(self.url(&name))
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when we are root); a failure carries
    /// its output.
    fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> anyhow::Result<Output> {
        let path = self.bindir.join(program);
        let mut command = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        let output = command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .with_context(|| format!("running {}", path.display()))?;
        if !output.status.success() {
            bail!(
                "{program} failed ({}): {}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(output)
    }

    /// The postmaster's PID: the first line of `postmaster.pid`.
    fn read_pid(&self) -> anyhow::Result<u32> {
        let text = std::fs::read_to_string(self.data_dir().join("postmaster.pid"))
            .context("reading postmaster.pid")?;
        text.lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .context("postmaster.pid holds no PID")
    }

    /// After a crash (or [`StopMode::Immediate`]) `postmaster.pid` stays behind; when its
    /// process is gone (or a zombie nobody reaped, which PostgreSQL would take for a live
    /// server) it is removed so the next start goes ahead.
    fn forget_dead_postmaster(&self) {
        if let Ok(pid) = self.read_pid()
            && !is_running(pid)
        {
            let _ = std::fs::remove_file(self.data_dir().join("postmaster.pid"));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.end_watchdog();
        if let Err(e) = self.stop(StopMode::Fast) {
            eprintln!("stopping the test PostgreSQL server: {e:#}");
        }
    }
}

/// PostgreSQL's bin folder: `PG_BINDIR`, `pg_config --bindir`, or the newest
/// `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if dir.join("initdb").is_file() {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).context(
        "PostgreSQL's `initdb` was not found (PG_BINDIR unset, `pg_config --bindir` gave \
         none, nothing in /usr/lib/postgresql/*/bin): install the Debian package `postgresql` \
         (.ci/test does)",
    )
}

fn running_as_root() -> anyhow::Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// The uid and gid of `user`.
fn ids_of(user: &str) -> anyhow::Result<(u32, u32)> {
    let id = |flag: &str| -> anyhow::Result<u32> {
        let output = Command::new("id").args([flag, user]).output()?;
        if !output.status.success() {
            bail!(
                "there is no `{user}` user to run PostgreSQL as (initdb refuses root): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().parse()?)
    };
    Ok((id("-u")?, id("-g")?))
}

/// A port nobody listens on right now (the OS picks it).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn signal_pid(signal: &str, pid: u32) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .context("running kill")?;
    if !status.success() && is_running(pid) {
        bail!("kill {signal} {pid} failed ({status})");
    }
    Ok(())
}

/// Whether `pid` is a live process (a zombie is not: it has exited, only its parent has not
/// collected it).
pub fn is_running(pid: u32) -> bool {
    let stat = Path::new("/proc").join(pid.to_string()).join("stat");
    match std::fs::read_to_string(stat) {
        // The state follows the parenthesised command name.
        Ok(text) => text
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn wait_gone(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if !is_running(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !is_running(pid)
}
