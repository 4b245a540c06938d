//! The relay binary as a process on a database and a private Redis, and what its `/metrics`
//! says about leadership and publishing.

use std::path::{Path, PathBuf};

use super::brokers::Redis;
use super::{Proc, free_port, metric, workspace_bin};

/// A relay binary on a database (`DATABASE_URL`), publishing to a private Redis, and the
/// port of its `/metrics`.
pub struct Relay {
    pub proc: Proc,
    pub port: u16,
    database_url: String,
    redis_url: String,
    /// Where its log is (`<name>.log`), kept for [`Relay::restart`].
    dir: PathBuf,
}

impl Relay {
    /// Starts a relay named `name` (its log: `dir/<name>.log`).
    pub fn spawn(dir: &Path, name: &str, database_url: &str, redis: &Redis) -> Self {
        let (database_url, redis_url) = (database_url.to_owned(), redis.url());
        let port = free_port();
        let proc = relay_proc(dir, name, &database_url, &redis_url, port);
        Self {
            proc,
            port,
            database_url,
            redis_url,
            dir: dir.to_owned(),
        }
    }

    /// Starts the binary again (`kill -9`s the old process first if it still runs), as a
    /// supervisor restarts a relay that died; `/metrics` moves to a new free port.
    pub fn restart(&mut self) {
        self.proc.kill();
        let name = self.proc.name.clone();
        self.port = free_port();
        self.proc = relay_proc(
            &self.dir,
            &name,
            &self.database_url,
            &self.redis_url,
            self.port,
        );
    }

    /// `/metrics` as text, `None` while the relay does not answer.
    pub async fn metrics(&self) -> Option<String> {
        let response = reqwest::get(format!("http://127.0.0.1:{}/metrics", self.port))
            .await
            .ok()?;
        response.text().await.ok()
    }

    /// `relay_leader`, `None` while the relay does not answer.
    pub async fn leader(&self) -> Option<f64> {
        metric(&self.metrics().await?, "relay_leader")
    }

    /// Events this relay sent and marked (`relay_events_published_total`, every type).
    pub async fn sent(&self) -> Option<f64> {
        Some(sent(&self.metrics().await?))
    }
}

/// `relay_events_published_total` of a `/metrics` text, summed over every event type.
pub fn sent(metrics: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("relay_events_published_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn relay_proc(dir: &Path, name: &str, database_url: &str, redis_url: &str, port: u16) -> Proc {
    let env = [
        ("DATABASE_URL", database_url.to_owned()),
        ("REDIS_URL", redis_url.to_owned()),
        ("RELAY_HTTP_ADDR", format!("127.0.0.1:{port}")),
        // Small batches: a leader dies between batches, not after one big one.
        ("RELAY_BATCH_SIZE", "20".to_owned()),
    ];
    Proc::spawn(name, &workspace_bin("inventory-relay"), &[], &env, dir)
}
