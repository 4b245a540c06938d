//! Relay benchmarks, driven by `bench/relay_bench.sh` (release build, private redis-server).
//!
//! - `drain N`: writes a backlog of N events, starts the relay binary, and times the drain.
//! - `bare N`: publishes N events with the Redis publisher alone (no database), in batches of
//!   500: the ceiling the relay's own overhead is compared with.
//! - `lag RATE SECONDS`: a writer commits RATE single-event transactions a second while the
//!   relay runs; reports commit-to-stream lag percentiles (commit return → the Redis entry ID's
//!   millisecond clock) and the relay's own `relay_publish_lag_seconds` histogram.
//! - `stream-lag STREAM` and `stream-gaps STREAM KILL_MS`: read what a relay wrote to STREAM
//!   under `bench/pipeline.sh` ([`stream`]): commit→stream percentiles from the entries, and,
//!   around a leader kill, the takeover gap and the exactly-once checks.
//!
//! Every mode prints the relay's peak RSS where a relay runs. Environment: `REDIS_PORT` (a
//! running private server), `RELAY_BIN` (the binary to start).

mod stream;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use inventory_relay::publisher::Publisher;
use inventory_relay::publisher::redis::{RedisPublisher, RedisSettings};
use inventory_shared::broker::RedisConnection;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::db;
use inventory_shared::events::{NewEvent, StockUpdated};
use inventory_shared::outbox::{self, StoredEvent};
use inventory_shared::time;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port: u16 = std::env::var("REDIS_PORT").context("REDIS_PORT")?.parse()?;
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["drain", n] => drain(port, n.parse()?).await,
        ["bare", n] => bare(port, n.parse()?).await,
        ["lag", rate, secs] => lag(port, rate.parse()?, secs.parse()?).await,
        ["stream-lag", stream] => stream::lag(port, stream).await,
        ["stream-gaps", stream, kill_ms] => stream::gaps(port, stream, kill_ms.parse()?).await,
        _ => bail!(
            "usage: relay_bench drain N | bare N | lag RATE SECONDS | stream-lag STREAM \
             | stream-gaps STREAM KILL_MS"
        ),
    }
}

fn event(i: usize) -> NewEvent {
    NewEvent::StockUpdated(StockUpdated {
        product_id: format!("0190a1b2-c3d4-7e5f-8a9b-{:012}", i % 500),
        store_id: ["MAD-001", "BCN-001", "VAL-001", "SEV-001"][i % 4].to_owned(),
        previous_quantity: i as i64,
        new_quantity: i as i64 + 3,
        change: 3,
        reason: "restock".into(),
        reserved: 1,
        version: i as i64 + 2,
    })
}

/// The bench's database: a read pool for counts and a writer connection like the API's.
struct BenchDb {
    reader: sqlx::SqlitePool,
    writer: rusqlite::Connection,
}

/// Appends events `from..from + count` in one transaction, as the API's writer would.
fn append(db: &BenchDb, from: usize, count: usize) -> anyhow::Result<Vec<i64>> {
    db.writer.execute_batch("BEGIN IMMEDIATE")?;
    let seqs = (from..from + count)
        .map(|i| outbox::append_event(&db.writer, &event(i), &time::now()))
        .collect::<Result<Vec<_>, _>>()?;
    db.writer.execute_batch("COMMIT")?;
    Ok(seqs)
}

struct RelayChild(Child);

impl RelayChild {
    fn spawn(db: &Path, port: u16, stream: &str, http: u16) -> anyhow::Result<Self> {
        let bin = std::env::var("RELAY_BIN").context("RELAY_BIN")?;
        let child = Command::new(bin)
            .env("DATABASE_URL", db)
            .env("REDIS_URL", format!("redis://127.0.0.1:{port}"))
            .env("REDIS_STREAM", stream)
            .env("RELAY_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env(
                "LOG_LEVEL",
                std::env::var("BENCH_RELAY_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(match std::env::var("BENCH_RELAY_STDERR") {
                Ok(path) => Stdio::from(std::fs::File::create(path)?),
                Err(_) => Stdio::inherit(),
            })
            .spawn()?;
        Ok(Self(child))
    }

    /// (current RSS, peak RSS) in KiB from /proc.
    fn rss_kib(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn ps_rss_kib(&self) -> String {
        Command::new("ps")
            .args(["-o", "rss=", "-p", &self.0.id().to_string()])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

impl Drop for RelayChild {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

async fn open_db(dir: &Path) -> anyhow::Result<(BenchDb, std::path::PathBuf)> {
    let path = dir.join("bench.db");
    let settings = DatabaseSettings::at(&path);
    db::migrate(&settings).await?;
    let bench = BenchDb {
        reader: db::open_read_pool(&settings, 2).await?,
        writer: db::open_writer(&settings)?,
    };
    Ok((bench, path))
}

async fn pending(db: &BenchDb) -> anyhow::Result<i64> {
    Ok(outbox::pending_summary(&db.reader).await?.count)
}

async fn redis(port: u16) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    Ok(redis::Client::open(format!("redis://127.0.0.1:{port}"))?
        .get_multiplexed_async_connection()
        .await?)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn drain(port: u16, n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (db, path) = open_db(dir.path()).await?;
    let started = Instant::now();
    for from in (0..n).step_by(1000) {
        append(&db, from, 1000.min(n - from))?;
    }
    println!("backlog: {n} events written in {:.2?}", started.elapsed());
    let stream = format!("bench-drain-{}", std::process::id());
    let relay = RelayChild::spawn(&path, port, &stream, free_port()?)?;
    let started = Instant::now();
    let mut peak_sampled = 0;
    while pending(&db).await? > 0 {
        peak_sampled = peak_sampled.max(relay.rss_kib().0);
        tokio::time::sleep(Duration::from_millis(10)).await;
        if started.elapsed() > Duration::from_secs(300) {
            bail!("drain did not finish in 5 minutes");
        }
    }
    let took = started.elapsed();
    let (first, last): (String, String) =
        sqlx::query_as("SELECT MIN(synced_at), MAX(synced_at) FROM events")
            .fetch_one(&db.reader)
            .await?;
    let span = time::from_db(&last)? - time::from_db(&first)?;
    let span = span.num_microseconds().unwrap_or(1) as f64 / 1e6;
    let len: usize = redis::cmd("XLEN")
        .arg(&stream)
        .query_async(&mut redis(port).await?)
        .await?;
    println!(
        "drain: {n} events in {took:.2?} from process start = {:.0} events/s; \
         first→last mark {span:.3} s = {:.0} events/s; stream length {len}",
        n as f64 / took.as_secs_f64(),
        n as f64 / span
    );
    let (rss, hwm) = relay.rss_kib();
    println!(
        "relay RSS after drain: {rss} KiB (ps -o rss: {} KiB), peak sampled {peak_sampled} KiB, VmHWM {hwm} KiB",
        relay.ps_rss_kib()
    );
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis(port).await?)
        .await?;
    Ok(())
}

async fn bare(port: u16, n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (db, _) = open_db(dir.path()).await?;
    for from in (0..n).step_by(1000) {
        append(&db, from, 1000.min(n - from))?;
    }
    // Read the rows once, outside the timing: this measures Redis and the pipeline alone.
    let events: Vec<StoredEvent> = outbox::fetch_pending(&db.writer, n as i64)?;
    let stream = format!("bench-bare-{}", std::process::id());
    let settings = RedisSettings {
        connection: RedisConnection {
            redis_url: Some(format!("redis://127.0.0.1:{port}")),
            redis_host: String::new(),
            redis_port: 0,
            redis_stream: stream.clone(),
            redis_timeout: Duration::from_secs(10),
        },
        redis_stream_maxlen: 1_000_000,
    };
    let mut publisher = RedisPublisher::new(&settings)?;
    let started = Instant::now();
    for chunk in events.chunks(500) {
        publisher
            .publish(chunk)
            .await
            .map_err(|f| anyhow::anyhow!("{:?}", f.error))?;
    }
    let took = started.elapsed();
    println!(
        "bare pipelined XADD (same entries, 500 per round trip, no database): {n} in {took:.2?} = {:.0} events/s",
        n as f64 / took.as_secs_f64()
    );
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis(port).await?)
        .await?;
    Ok(())
}

async fn lag(port: u16, rate: u64, secs: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (db, path) = open_db(dir.path()).await?;
    let stream = format!("bench-lag-{}", std::process::id());
    let http = free_port()?;
    let relay = RelayChild::spawn(&path, port, &stream, http)?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut committed: HashMap<i64, i64> = HashMap::new();
    let interval = Duration::from_micros(1_000_000 / rate);
    let mut ticker = tokio::time::interval(interval);
    let total = rate * secs;
    let mut peak = 0;
    let started = Instant::now();
    for i in 0..total as usize {
        ticker.tick().await;
        let seq = append(&db, i, 1)?[0];
        committed.insert(seq, chrono::Utc::now().timestamp_micros());
        if i % 500 == 0 {
            peak = peak.max(relay.rss_kib().0);
        }
    }
    let wrote = started.elapsed();
    while pending(&db).await? > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut conn = redis(port).await?;
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(&stream)
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await?;
    let mut lags_ms: Vec<f64> = entries
        .ids
        .iter()
        .filter_map(|e| {
            let seq: i64 = e.get::<String>("seq")?.parse().ok()?;
            let stream_ms: i64 = e.id.split('-').next()?.parse().ok()?;
            let commit_us = committed.get(&seq)?;
            Some((stream_ms * 1000 - commit_us) as f64 / 1000.0)
        })
        .collect();
    lags_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| lags_ms[((lags_ms.len() as f64 * p) as usize).min(lags_ms.len() - 1)];
    println!(
        "lag: {total} single-event commits in {wrote:.2?} ({:.0}/s); {} entries; commit→stream \
         (1 ms clock resolution) p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        total as f64 / wrote.as_secs_f64(),
        lags_ms.len(),
        pct(0.50),
        pct(0.99),
        lags_ms.last().copied().unwrap_or_default()
    );
    let metrics = reqwest::get(format!("http://127.0.0.1:{http}/metrics"))
        .await?
        .text()
        .await?;
    let buckets: Vec<(f64, f64)> = metrics
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("relay_publish_lag_seconds_bucket{le=\"")?;
            let (le, value) = rest.split_once("\"} ")?;
            Some((le.parse().ok()?, value.trim().parse().ok()?))
        })
        .collect();
    let count = buckets.last().map_or(0.0, |b| b.1);
    let p99_bucket = buckets.iter().find(|b| b.1 >= count * 0.99).map(|b| b.0);
    println!(
        "relay_publish_lag_seconds (created_at → broker ack): {count} samples, p99 ≤ {} s bucket",
        p99_bucket.map_or("?".to_owned(), |b| b.to_string())
    );
    let (rss, hwm) = relay.rss_kib();
    println!("relay RSS under load: {rss} KiB now, peak sampled {peak} KiB, VmHWM {hwm} KiB");
    let _: i64 = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut conn)
        .await?;
    Ok(())
}
