//! The system under test, as real processes on private servers and free ports: a private
//! PostgreSQL server, a private Redis, two API replicas and two relays, plus the test's own
//! connections to the database. It also plays the relays' supervisor (systemd's
//! `Restart=always`): a relay that exits is started again, at most once a second, and the
//! exit is recorded.

use std::path::Path;
use std::time::{Duration, Instant};

use inventory_shared::test_support::PgServer;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::common::brokers::Redis;
use crate::common::relay::Relay;
use crate::common::{Api, metric};

/// The stream the relays publish to (the relay's default).
pub const STREAM: &str = "inventory-events";

/// How soon the supervisor starts a relay again after it exited (or was started).
const RESTART_EVERY: Duration = Duration::from_secs(1);

/// A process that exited without the test killing it.
#[derive(Debug)]
pub struct Exit {
    /// Since the cluster started.
    pub at: Duration,
    pub name: String,
    pub status: String,
    /// Whether a relay exited while PostgreSQL was down or coming back (a relay whose
    /// leadership session is cut exits by design, and one started meanwhile cannot connect).
    pub during_outage: bool,
}

pub struct Cluster {
    pub apis: [Api; 2],
    pub relays: [Relay; 2],
    pub redis: Redis,
    /// The test's own connections (reads, the final snapshot).
    pub db: PgPool,
    pub pg: PgServer,
    /// Exits the supervisor saw.
    pub exits: Vec<Exit>,
    /// Set by the PostgreSQL restart while the server is down or coming back.
    pub outage: bool,
    started: Instant,
    relay_started: [Instant; 2],
    /// Every process's log; kept when the test fails (declared last: dropped after them).
    logs: Logs,
}

impl Cluster {
    pub async fn start() -> Self {
        let started = Instant::now();
        let logs = Logs(Some(tempfile::tempdir().expect("temp dir")));
        let dir = logs.path().to_owned();
        let mut pg = PgServer::start().expect("a private PostgreSQL server");
        // Stopped even when the test binary is killed (a CI timeout).
        pg.stop_when_process_exits().expect("a watchdog");
        let url = pg.create_database().await.expect("a database");
        let db = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(5))
            .connect(&url)
            .await
            .expect("the test's connections");
        let redis = Redis::start(&dir);
        let apis = [
            Api::start_named(&dir, "api-0", &url).await,
            Api::start_named(&dir, "api-1", &url).await,
        ];
        let relays = [
            Relay::spawn(&dir, "relay-a", &url, &redis),
            Relay::spawn(&dir, "relay-b", &url, &redis),
        ];
        Self {
            apis,
            relays,
            redis,
            db,
            pg,
            exits: Vec::new(),
            outage: false,
            started,
            relay_started: [Instant::now(); 2],
            logs,
        }
    }

    /// The logs' folder.
    pub fn dir(&self) -> &Path {
        self.logs.path()
    }

    /// Restarts every relay that exited (once a second at most) and records the exit; an
    /// API replica that exited on its own is recorded too (and started again).
    pub async fn supervise(&mut self) {
        for (slot, relay) in self.relays.iter_mut().enumerate() {
            if relay.proc.running() || self.relay_started[slot].elapsed() < RESTART_EVERY {
                continue;
            }
            self.exits.push(exit(
                self.started,
                &mut relay.proc.child,
                &relay.proc.name,
                self.outage,
            ));
            relay.restart();
            self.relay_started[slot] = Instant::now();
        }
        // A replica rides out an outage (503 meanwhile): its exit is never expected.
        for api in &mut self.apis {
            if !api.proc.running() {
                self.exits.push(exit(
                    self.started,
                    &mut api.proc.child,
                    &api.proc.name,
                    false,
                ));
                api.restart().await;
            }
        }
    }

    /// Waits `how_long`, supervising.
    pub async fn pause(&mut self, how_long: Duration) {
        let until = Instant::now() + how_long;
        while Instant::now() < until {
            self.supervise().await;
            tokio::time::sleep(Duration::from_millis(50).min(until - Instant::now())).await;
        }
    }

    /// `relay_leader` of both relays (`None` for one that does not answer).
    pub async fn roles(&self) -> [Option<f64>; 2] {
        [self.relays[0].leader().await, self.relays[1].leader().await]
    }

    /// Which relay leads, once exactly one does and the other stands by (supervising while
    /// it waits, 30 s at most).
    pub async fn leader(&mut self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.roles().await {
                [Some(1.0), Some(0.0)] => return 0,
                [Some(0.0), Some(1.0)] => return 1,
                roles => assert!(
                    Instant::now() < deadline,
                    "no single leader with a standby among two relays: relay_leader {roles:?}"
                ),
            }
            self.pause(Duration::from_millis(50)).await;
        }
    }

    /// `relay_leadership_changes_total` of relay `slot`.
    pub async fn leadership_changes(&self, slot: usize) -> Option<f64> {
        metric(
            &self.relays[slot].metrics().await?,
            "relay_leadership_changes_total",
        )
    }

    /// Events published and marked, by the database.
    pub async fn synced(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE synced_at IS NOT NULL")
            .fetch_one(&self.db)
            .await
            .expect("count synced events")
    }

    /// `XLEN` of the relays' stream.
    pub async fn in_stream(&self) -> i64 {
        self.redis.xlen(STREAM).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::fs::write(self.dir().join("postgres.log"), self.pg.log());
        }
    }
}

fn exit(started: Instant, child: &mut std::process::Child, name: &str, outage: bool) -> Exit {
    let status = child
        .try_wait()
        .ok()
        .flatten()
        .map_or("unknown".to_owned(), |s| s.to_string());
    Exit {
        at: started.elapsed(),
        name: name.to_owned(),
        status,
        during_outage: outage,
    }
}

/// A temporary folder that stays when the test fails, for its logs.
struct Logs(Option<tempfile::TempDir>);

impl Logs {
    fn path(&self) -> &Path {
        self.0.as_ref().expect("the logs' folder").path()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!("postgres failures: logs kept in {}", dir.keep().display());
        }
    }
}
