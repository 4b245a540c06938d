//! The faults, each done to the [`Cluster`] and waited out until the system has recovered,
//! with what was measured: the leading relay `kill -9`ed (and started again as the standby),
//! an API replica `kill -9`ed (and started again on its port), PostgreSQL stopped with
//! `-m immediate` (a crash: no checkpoint, WAL replayed at the next start) and started again
//! on the same data folder and port.

use std::time::{Duration, Instant};

use inventory_shared::test_support::StopMode;

use super::cluster::Cluster;
use super::load::Load;

/// How long a killed API replica stays down.
const REPLICA_DOWN: Duration = Duration::from_secs(1);

/// How long PostgreSQL stays down.
const POSTGRES_DOWN: Duration = Duration::from_secs(2);

/// How long the test waits for any one recovery before it records it as never (a failure).
const GIVE_UP_AFTER: Duration = Duration::from_secs(20);

/// One fault of the schedule.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    KillLeadingRelay,
    KillReplica(usize),
    RestartPostgres,
}

/// A leader's `kill -9` and the standby's takeover.
#[derive(Debug)]
pub struct Takeover {
    /// From the kill until the standby reported `relay_leader 1` and the stream grew;
    /// `None`: not within [`GIVE_UP_AFTER`].
    pub took: Option<Duration>,
    /// The new leader's `relay_leadership_changes_total` then.
    pub changes: Option<f64>,
    /// What the standby had published while the leader lived (must be 0).
    pub standby_sent: Option<f64>,
    /// Stream entries not yet marked in the database at the kill: what the old leader
    /// published but did not mark, which the new one must find in the stream, not send again.
    pub unmarked: i64,
}

/// PostgreSQL's crash and restart.
#[derive(Debug)]
pub struct Outage {
    /// From the stop until it accepted connections again.
    pub down: Duration,
    /// From then until both replicas' `/health` said 200 again.
    pub replicas_back: Option<Duration>,
    /// From then until a relay led and the stream grew.
    pub relay_back: Option<Duration>,
}

/// Everything the faults measured, and when each ran (since the load started).
#[derive(Debug, Default)]
pub struct Record {
    pub takeovers: Vec<Takeover>,
    /// Replica, and how long it was down.
    pub replica_kills: Vec<(usize, Duration)>,
    pub outages: Vec<Outage>,
    /// When each replica kill and PostgreSQL restart started and when it was over: a write
    /// failing outside these (with a little slack) is a failure nothing explains.
    pub windows: Vec<Window>,
}

/// When a fault that stops writes started and when it was over, since the load started.
#[derive(Debug)]
pub struct Window {
    pub fault: String,
    pub from: Duration,
    pub to: Duration,
}

impl Record {
    /// The window a failure at `at` falls in (or `slack` after), if any.
    pub fn window_of(&self, at: Duration, slack: Duration) -> Option<&Window> {
        self.windows
            .iter()
            .find(|w| w.from <= at && at <= w.to + slack)
    }
}

/// Runs the `schedule` (each fault at its time since `load.started`, or at once when the
/// previous one ran late), then lets the load go on until `load_for` since it started.
pub async fn run(
    cluster: &mut Cluster,
    load: &Load,
    schedule: &[(Duration, Fault)],
    load_for: Duration,
) -> Record {
    let mut record = Record::default();
    for (at, fault) in schedule {
        cluster
            .pause(at.saturating_sub(load.started.elapsed()))
            .await;
        let from = load.started.elapsed();
        match *fault {
            // No write may fail for it: no window.
            Fault::KillLeadingRelay => {
                let takeover = kill_leading_relay(cluster).await;
                record.takeovers.push(takeover);
            }
            Fault::KillReplica(replica) => {
                let down = kill_replica(cluster, replica).await;
                record.replica_kills.push((replica, down));
                record.windows.push(Window {
                    fault: format!("api-{replica} killed"),
                    from,
                    to: load.started.elapsed(),
                });
            }
            Fault::RestartPostgres => {
                let outage = restart_postgres(cluster, load).await;
                record.outages.push(outage);
                record.windows.push(Window {
                    fault: "PostgreSQL down".to_owned(),
                    from,
                    to: load.started.elapsed(),
                });
            }
        }
    }
    cluster
        .pause(load_for.saturating_sub(load.started.elapsed()))
        .await;
    record
}

/// `kill -9`s the leading relay, measures the standby's takeover, then starts the killed
/// one again and waits until it stands by.
async fn kill_leading_relay(cluster: &mut Cluster) -> Takeover {
    let leader = cluster.leader().await;
    let standby = 1 - leader;
    let standby_sent = cluster.relays[standby].sent().await;
    cluster.relays[leader].proc.kill();
    let killed = Instant::now();
    // Marked first, then the stream: nothing but the standby can change either now, and it
    // waits up to half a second before it asks to lead.
    let synced = cluster.synced().await;
    let in_stream = cluster.in_stream().await;
    let mut took = None;
    while killed.elapsed() < GIVE_UP_AFTER {
        if cluster.relays[standby].leader().await == Some(1.0)
            && cluster.in_stream().await > in_stream
        {
            took = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let changes = cluster.leadership_changes(standby).await;
    cluster.relays[leader].restart();
    cluster.leader().await;
    Takeover {
        took,
        changes,
        standby_sent,
        unmarked: in_stream - synced,
    }
}

/// `kill -9`s replica `replica`, leaves it down a second, starts it again on its port;
/// returns how long it was down.
async fn kill_replica(cluster: &mut Cluster, replica: usize) -> Duration {
    cluster.apis[replica].proc.kill();
    let killed = Instant::now();
    // Not `pause`: its supervisor would take the dead replica for a crash and start it.
    tokio::time::sleep(REPLICA_DOWN).await;
    cluster.apis[replica].restart().await;
    killed.elapsed()
}

/// Stops PostgreSQL like a crash (`pg_ctl stop -m immediate`: SIGQUIT to the postmaster),
/// starts it again on the same data folder and port, and waits until the replicas write
/// and a relay publishes again, and a standby is back.
async fn restart_postgres(cluster: &mut Cluster, load: &Load) -> Outage {
    let port = cluster.pg.port();
    let stopped = Instant::now();
    cluster.outage = true;
    tokio::task::block_in_place(|| cluster.pg.stop(StopMode::Immediate))
        .expect("pg_ctl stop -m immediate");
    cluster.pause(POSTGRES_DOWN).await;
    tokio::task::block_in_place(|| {
        cluster.pg.start_again()?;
        cluster.pg.stop_when_process_exits()
    })
    .expect("PostgreSQL starts again");
    assert_eq!(
        cluster.pg.port(),
        port,
        "PostgreSQL came back on another port: nothing would find it"
    );
    let up = Instant::now();
    let down = up - stopped;

    let (acked, in_stream) = (load.acked(), cluster.in_stream().await);
    let (mut replicas_back, mut relay_back) = (None, None);
    while up.elapsed() < GIVE_UP_AFTER && (replicas_back.is_none() || relay_back.is_none()) {
        if replicas_back.is_none()
            && load.acked() > acked
            && healthy(&cluster.apis[0].base).await
            && healthy(&cluster.apis[1].base).await
        {
            replicas_back = Some(up.elapsed());
        }
        if relay_back.is_none()
            && cluster.roles().await.contains(&Some(1.0))
            && cluster.in_stream().await > in_stream
        {
            relay_back = Some(up.elapsed());
        }
        cluster.pause(Duration::from_millis(50)).await;
    }
    // The relay that led when the server went down exited (by design) and is started again
    // by the supervisor: wait until it stands by.
    cluster.leader().await;
    cluster.outage = false;
    Outage {
        down,
        replicas_back,
        relay_back,
    }
}

/// Whether `GET {base}/health` says 200.
async fn healthy(base: &str) -> bool {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("a client");
    client
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}
