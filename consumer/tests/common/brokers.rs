//! Private brokers for the tests: `redis-server`, `tansu` (Kafka protocol) and
//! `nats-server -js`, each on a free port with its own temp dir, killed by PID on drop.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use inventory_consumer::event::Incoming;

use super::{Proc, free_port};

fn require(program: &str, hint: &str) -> std::path::PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{program}` is not on PATH; {hint}"))
}

fn wait_for_port(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private `redis-server` (no persistence).
pub struct Redis {
    pub port: u16,
    pub proc: Proc,
}

impl Redis {
    pub fn start(dir: &Path) -> Self {
        let program = require("redis-server", "apt-get install redis-server");
        let port = free_port();
        let args = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.display().to_string(),
        ]
        .map(str::to_owned);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::spawn("redis", &program, &args, &[], dir);
        wait_for_port(port, Duration::from_secs(10));
        Self { port, proc }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis connection")
    }

    /// `XLEN`.
    pub async fn xlen(&self, stream: &str) -> i64 {
        redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut self.connection().await)
            .await
            .expect("XLEN")
    }

    /// Every entry of `stream`, oldest first, read as the consumer reads them (`XRANGE`,
    /// page by page); panics on an entry that is not an event.
    pub async fn entries(&self, stream: &str) -> Vec<Incoming> {
        let mut conn = self.connection().await;
        let mut out = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .expect("XRANGE");
            let Some(last) = page.ids.last() else {
                return out;
            };
            start = format!("({}", last.id);
            for entry in &page.ids {
                let fields: HashMap<String, String> = entry
                    .map
                    .iter()
                    .map(|(k, v)| {
                        let text = redis::from_redis_value_ref::<String>(v)
                            .unwrap_or_else(|e| panic!("entry {}: field {k}: {e}", entry.id));
                        (k.clone(), text)
                    })
                    .collect();
                let event = Incoming::from_redis_fields(&fields)
                    .unwrap_or_else(|e| panic!("entry {} is not an event: {e}", entry.id));
                out.push(event);
            }
        }
    }

    /// Entries pending in a group (`XPENDING` summary count).
    pub async fn pending(&self, stream: &str, group: &str) -> i64 {
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .query_async(&mut self.connection().await)
            .await
            .expect("XPENDING");
        match reply {
            redis::Value::Array(items) => match items.first() {
                Some(redis::Value::Int(n)) => *n,
                _ => 0,
            },
            _ => 0,
        }
    }
}

/// A `tansu` broker with in-memory storage.
pub struct Tansu {
    pub port: u16,
    pub proc: Proc,
}

impl Tansu {
    pub async fn start_with_topic(dir: &Path, topic: &str, partitions: i32) -> Self {
        let program = require("tansu", "cargo install tansu --locked --features dynostore");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let proc = Proc::spawn(
            "tansu",
            &program,
            &[
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ],
            &[("RUST_LOG", "warn".to_owned())],
            dir,
        );
        wait_for_port(port, Duration::from_secs(30));
        let tansu = Self { port, proc };
        create_topic(&tansu.brokers(), topic, partitions).await;
        tansu
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let deadline = Instant::now() + Duration::from_secs(30);
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

/// A `nats-server -js` with its own store folder.
pub struct Nats {
    pub port: u16,
    pub proc: Proc,
}

impl Nats {
    pub fn start(dir: &Path) -> Self {
        let program = require("nats-server", "apt-get install nats-server");
        let port = free_port();
        let store = dir.join("nats-store");
        std::fs::create_dir_all(&store).expect("store dir");
        let proc = Proc::spawn(
            "nats",
            &program,
            &[
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-sd",
                &store.display().to_string(),
            ],
            &[],
            dir,
        );
        wait_for_port(port, Duration::from_secs(10));
        Self { port, proc }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}
