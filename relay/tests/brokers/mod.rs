//! Test support for the broker tests: real broker processes on free ports (killed on drop,
//! even on panic), a temporary outbox database, read-back consumers, and the relay binary.
//!
//! Every test file that uses it declares `mod brokers;`; not every test uses every helper.
#![allow(dead_code, clippy::unwrap_used, missing_docs)]

#[path = "../common/db.rs"]
mod test_db;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use inventory_shared::events::{NewEvent, ReservationCancelled, StockUpdated};
use inventory_shared::outbox::{self, StoredEvent};

/// Upper bound for any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(60);

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

/// Finds `program` on PATH or in `~/.cargo/bin`; fails the test, naming it, when missing.
pub fn require_program(program: &str, hint: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`{program}` is not installed (not on PATH nor in ~/.cargo/bin): {hint}")
        })
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on port {port} after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed (SIGKILL) and reaped when dropped.
pub struct Guard {
    pub name: String,
    child: Option<Child>,
}

impl Guard {
    pub fn spawn(name: &str, command: &mut Command) -> Self {
        let child = command
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL now and reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait up to `within` for the exit; SIGKILL if it does not exit.
    pub fn terminate(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::File::create(dir.join(format!("{name}.log"))).expect("creating a log file")
}

// ---------------------------------------------------------------------------------------------
// Brokers

/// A `tansu` Kafka-protocol broker with in-memory storage.
pub struct Tansu {
    pub port: u16,
    pub process: Guard,
}

impl Tansu {
    pub fn brokers(port: u16) -> String {
        format!("127.0.0.1:{port}")
    }

    /// Starts tansu on `port` (without waiting).
    pub fn spawn(port: u16, logs: &Path) -> Self {
        let program = require_program(
            "tansu",
            "install it with `cargo install tansu --locked --features dynostore`",
        );
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(program);
        command
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .env("RUST_LOG", "warn")
            .stdout(log_file(logs, &format!("tansu-{port}")))
            .stderr(log_file(logs, &format!("tansu-{port}.err")));
        Self {
            port,
            process: Guard::spawn("tansu", &mut command),
        }
    }

    /// Starts tansu on a free port, waits for it, and creates `topic` with `partitions`.
    pub async fn start_with_topic(logs: &Path, topic: &str, partitions: i32) -> Self {
        let tansu = Self::spawn(free_port(), logs);
        wait_for_port(tansu.port, WAIT);
        create_topic(&Self::brokers(tansu.port), topic, partitions).await;
        tansu
    }

    pub fn brokers_addr(&self) -> String {
        Self::brokers(self.port)
    }
}

/// Creates a Kafka topic (retrying while the broker warms up).
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let deadline = Instant::now() + WAIT;
    loop {
        let new_topic = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(5)));
        match admin.create_topics([&new_topic], &options).await {
            Ok(results) => match results.into_iter().next() {
                Some(Ok(_)) => return,
                Some(Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))) => return,
                other => assert!(
                    Instant::now() < deadline,
                    "creating topic {topic}: {other:?}"
                ),
            },
            Err(e) => assert!(Instant::now() < deadline, "creating topic {topic}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One record read back from Kafka.
#[derive(Debug, Clone)]
pub struct KafkaRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub headers: HashMap<String, String>,
    pub payload: String,
}

impl KafkaRecord {
    pub fn seq(&self) -> i64 {
        self.headers["seq"].parse().expect("numeric seq header")
    }
}

/// Reads every record of `topic` from the start until `expected` records arrived, then keeps
/// reading for `settle` to catch extras (duplicates). Fails after [`WAIT`].
pub async fn read_kafka(
    brokers: &str,
    topic: &str,
    expected: usize,
    settle: Duration,
) -> Vec<KafkaRecord> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message};
    use rdkafka::{Offset, TopicPartitionList};
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(10))
            .expect("topic metadata");
        let partitions = metadata.topics()[0].partitions().len() as i32;
        assert!(partitions > 0, "topic {topic} has no partitions");
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition_offset(&topic, p, Offset::Beginning)
                .expect("assign");
        }
        consumer.assign(&list).expect("assign");
        let mut records = Vec::new();
        let deadline = Instant::now() + WAIT;
        let mut settle_until: Option<Instant> = None;
        loop {
            if records.len() >= expected && settle_until.is_none() {
                settle_until = Some(Instant::now() + settle);
            }
            if settle_until.is_some_and(|t| Instant::now() > t) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {expected} records arrived in {topic} within {WAIT:?}",
                records.len()
            );
            let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let message = message.expect("reading from Kafka");
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_owned(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(KafkaRecord {
                partition: message.partition(),
                offset: message.offset(),
                key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
                headers,
                payload: String::from_utf8_lossy(message.payload().unwrap_or_default())
                    .into_owned(),
            });
        }
        records
    })
    .await
    .expect("reader task")
}

/// A `nats-server -js` on its own port and store folder.
pub struct NatsServer {
    pub port: u16,
    pub store: PathBuf,
    logs: PathBuf,
    pub process: Guard,
}

impl NatsServer {
    pub fn spawn(port: u16, store: &Path, logs: &Path) -> Self {
        let program = require_program(
            "nats-server",
            "install nats-server (apt install nats-server)",
        );
        let mut command = Command::new(program);
        command
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(store)
            .stdout(log_file(logs, &format!("nats-{port}")))
            .stderr(log_file(logs, &format!("nats-{port}.err")));
        Self {
            port,
            store: store.to_owned(),
            logs: logs.to_owned(),
            process: Guard::spawn("nats-server", &mut command),
        }
    }

    /// Starts on a free port with a store under `dir`, and waits until it accepts connections.
    pub fn start(dir: &Path) -> Self {
        let store = dir.join("nats-store");
        std::fs::create_dir_all(&store).expect("store dir");
        let server = Self::spawn(free_port(), &store, dir);
        wait_for_port(server.port, WAIT);
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts it again on the same port with the same store.
    pub fn restart(&mut self, down_for: Duration) {
        self.process.kill();
        std::thread::sleep(down_for);
        let again = Self::spawn(self.port, &self.store, &self.logs);
        self.process = again.process;
        wait_for_port(self.port, WAIT);
    }
}

/// One message read back from the JetStream stream.
#[derive(Debug, Clone)]
pub struct NatsRecord {
    pub stream_seq: u64,
    pub subject: String,
    pub headers: HashMap<String, String>,
    pub payload: String,
}

impl NatsRecord {
    pub fn seq(&self) -> i64 {
        self.headers["seq"].parse().expect("numeric seq header")
    }
}

/// The stream's message count.
pub async fn nats_stream_count(url: &str, stream: &str) -> u64 {
    let client = async_nats::connect(url).await.expect("connecting to NATS");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(stream).await.expect("stream exists");
    stream.info().await.expect("stream info").state.messages
}

/// Waits until the stream holds at least `expected` messages, then reads them all (in stream
/// order).
pub async fn read_nats(url: &str, stream_name: &str, expected: u64) -> Vec<NatsRecord> {
    let client = async_nats::connect(url).await.expect("connecting to NATS");
    let js = async_nats::jetstream::new(client);
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        if let Ok(stream) = js.get_stream(stream_name).await {
            break stream;
        }
        assert!(
            Instant::now() < deadline,
            "stream {stream_name} never appeared"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        let count = stream.info().await.expect("stream info").state.messages;
        if count >= expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {count} of {expected} messages in {stream_name} within {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = stream.info().await.expect("stream info").state.clone();
    let mut records = Vec::new();
    for stream_seq in state.first_sequence..=state.last_sequence {
        let message = stream
            .get_raw_message(stream_seq)
            .await
            .expect("stream message");
        let headers = message
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.first().map(|v| v.as_str().to_owned()).unwrap_or_default(),
                )
            })
            .collect();
        records.push(NatsRecord {
            stream_seq,
            subject: message.subject.to_string(),
            headers,
            payload: String::from_utf8_lossy(&message.payload).into_owned(),
        });
    }
    records
}

/// A private `redis-server` (no persistence).
pub struct RedisServer {
    pub port: u16,
    pub process: Guard,
}

impl RedisServer {
    pub fn start(dir: &Path) -> Self {
        let program = require_program("redis-server", "install redis-server");
        let port = free_port();
        let mut command = Command::new(program);
        command
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .stdout(log_file(dir, &format!("redis-{port}")))
            .stderr(log_file(dir, &format!("redis-{port}.err")));
        let server = Self {
            port,
            process: Guard::spawn("redis-server", &mut command),
        };
        wait_for_port(port, WAIT);
        server
    }
}

// ---------------------------------------------------------------------------------------------
// The outbox

/// A temporary database file with the migrations applied.
pub struct TestDb {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub db: test_db::Pools,
}

impl TestDb {
    pub async fn new() -> Self {
        // KEEP_TEST_DIRS=1 keeps the folder (database, broker and relay logs) for a post-mortem.
        let dir = tempfile::Builder::new()
            .prefix("relay-broker-test-")
            .disable_cleanup(std::env::var_os("KEEP_TEST_DIRS").is_some())
            .tempdir()
            .expect("temp dir");
        let path = dir.path().join("inventory.db");
        let db = test_db::Pools::open(&path).await;
        Self { dir, path, db }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Appends `rounds` `stock.updated` events for each of `products` products, interleaved
    /// (round 0 of every product, then round 1, ...), in transactions of up to 1,000 events.
    /// Returns how many were appended.
    pub async fn seed(&self, products: usize, rounds: usize) -> usize {
        self.seed_with(products, rounds, |_, _| "restock".to_owned())
            .await
    }

    /// Like [`TestDb::seed`], with the `reason` of each event chosen by `reason(product, round)`.
    pub async fn seed_with(
        &self,
        products: usize,
        rounds: usize,
        reason: impl Fn(usize, usize) -> String,
    ) -> usize {
        self.seed_events(products, rounds, |p, r| stock_updated(p, r, reason(p, r)))
            .await
    }

    /// Appends `make(product, round)` for every round and product, interleaved, in
    /// transactions of up to 1,000 events. Returns how many were appended.
    pub async fn seed_events(
        &self,
        products: usize,
        rounds: usize,
        make: impl Fn(usize, usize) -> NewEvent,
    ) -> usize {
        let all: Vec<(usize, usize)> = (0..rounds)
            .flat_map(|r| (0..products).map(move |p| (p, r)))
            .collect();
        for chunk in all.chunks(1000) {
            test_db::append_in_one_tx(&self.path, chunk.iter().map(|&(p, r)| make(p, r)));
        }
        all.len()
    }

    /// Two event types taking turns (`stock.updated`, `reservation.cancelled`), so ordering can
    /// be checked per subject as well as per product.
    pub async fn seed_mixed(&self, products: usize, rounds: usize) -> usize {
        self.seed_events(products, rounds, |p, r| {
            if r % 2 == 0 {
                stock_updated(p, r, "restock".to_owned())
            } else {
                NewEvent::ReservationCancelled(ReservationCancelled {
                    reservation_id: format!("res-{p:04}-{r:06}"),
                    product_id: product_id(p),
                    store_id: "BCN-001".to_owned(),
                    quantity: 1,
                    reason: "manual_cancellation".to_owned(),
                    version: 0,
                })
            }
        })
        .await
    }

    pub async fn pending(&self, limit: i64) -> Vec<StoredEvent> {
        let conn = inventory_shared::db::open_reader(&self.path).expect("reader");
        outbox::fetch_pending(&conn, limit).expect("fetching pending events")
    }

    pub async fn mark(&self, seqs: &[i64]) {
        outbox::mark_synced(&self.db.writer, seqs, &inventory_shared::time::now())
            .await
            .expect("marking events synced");
    }

    pub async fn count_pending(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE synced_at IS NULL")
            .fetch_one(&self.db.reader)
            .await
            .expect("counting pending events")
    }

    pub async fn count_all(&self) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.db.reader)
            .await
            .expect("counting events")
    }

    /// Waits until no event is pending.
    pub async fn wait_drained(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let pending = self.count_pending().await;
            if pending == 0 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{pending} events still pending after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until at least `count` events are published.
    pub async fn wait_published_at_least(&self, count: i64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let published = self.count_all().await - self.count_pending().await;
            if published >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {published} of {count} events published after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn stock_updated(p: usize, r: usize, reason: String) -> NewEvent {
    NewEvent::StockUpdated(StockUpdated {
        product_id: product_id(p),
        store_id: "MAD-001".to_owned(),
        previous_quantity: r as i64,
        new_quantity: r as i64 + 1,
        change: 1,
        reason,
        reserved: 0,
        version: r as i64 + 2,
    })
}

pub fn product_id(p: usize) -> String {
    format!("prod-{p:04}")
}

/// The envelope every broker must carry for `event`, as a JSON value.
pub fn expected_envelope(event: &StoredEvent) -> serde_json::Value {
    serde_json::from_str(&event.envelope_json()).expect("envelope JSON")
}

// ---------------------------------------------------------------------------------------------
// The relay binary

/// The `inventory-relay` binary, killed on drop.
pub struct Relay {
    pub process: Guard,
}

impl Relay {
    /// Starts the binary on `db` with `envs` (MESSAGE_BROKER and the broker's settings).
    pub fn start(db: &TestDb, envs: &[(&str, String)]) -> Self {
        let name = format!("relay-{}", free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_inventory-relay"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db.path)
            .env("RELAY_HTTP_ADDR", "127.0.0.1:0")
            .env("RELAY_BACKOFF_MAX", "1s")
            .env("RELAY_POLL_INTERVAL", "1s")
            .env("LOG_LEVEL", "info")
            .current_dir(db.dir())
            .stdout(log_file(db.dir(), &name))
            .stderr(log_file(db.dir(), &format!("{name}.err")));
        for (key, value) in envs {
            command.env(key, value);
        }
        Self {
            process: Guard::spawn("inventory-relay", &mut command),
        }
    }
}

/// CPU time (user + system) a process used so far, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12 (clock ticks of 1/100 s).
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `body` with a hard time limit, so a hung broker fails the test instead of the suite.
pub async fn within<F: std::future::Future<Output = T>, T>(limit: Duration, body: F) -> T {
    tokio::time::timeout(limit, body)
        .await
        .unwrap_or_else(|_| panic!("test did not finish within {limit:?}"))
}
