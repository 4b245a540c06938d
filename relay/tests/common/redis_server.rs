//! A private `redis-server` per test: its own free port and temp dir, no persistence, killed by
//! PID on drop. A missing `redis-server` fails the test with a message naming it.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A private `redis-server` on its own port and temp dir, killed (by PID) on drop.
pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a new server on a free port. Fails the test when `redis-server` is not on PATH.
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("temp dir for redis"),
            child: None,
        };
        server.restart().await;
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL, by PID) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: no persistence).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", &self.dir.path().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(e) => panic!(
                "cannot start `redis-server` ({e}); the relay tests need redis-server on PATH \
                 (e.g. `apt-get install redis-server`)"
            ),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = self.connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .is_ok()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on port {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A fresh connection.
    pub async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        // Generous timeouts: the debug build parses large XRANGE pages slowly.
        let config =
            redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(30)));
        redis::Client::open(self.url())?
            .get_multiplexed_async_connection_with_config(&config)
            .await
    }

    /// Every entry of `stream`, oldest first, as field maps.
    pub async fn entries(&self, stream: &str) -> Vec<HashMap<String, String>> {
        let mut conn = self.connection().await.expect("connect to redis");
        let mut out = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg(stream)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(5000)
                .query_async(&mut conn)
                .await
                .expect("XRANGE");
            let Some(last) = page.ids.last() else { break };
            start = format!("({}", last.id);
            for entry in &page.ids {
                let fields = entry
                    .map
                    .iter()
                    .map(|(k, v)| {
                        let text: String = redis::from_redis_value_ref(v).expect("text field");
                        (k.clone(), text)
                    })
                    .collect();
                out.push(fields);
            }
        }
        out
    }

    /// The `seq` field of every entry, oldest first.
    pub async fn seqs(&self, stream: &str) -> Vec<i64> {
        self.entries(stream)
            .await
            .iter()
            .map(|e| e["seq"].parse().expect("numeric seq"))
            .collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
