//! Redis Streams through a consumer group.
//!
//! - The group is created at the stream's start (`XGROUP CREATE … 0 MKSTREAM`), so a new
//!   group reads everything the stream still holds; what was trimmed shows up as a gap.
//! - At start a member first re-reads its own pending entries (`XREADGROUP … 0`): what it
//!   received but had not acknowledged when it stopped.
//! - Entries another member left pending longer than `CONSUMER_CLAIM_IDLE` are taken over with
//!   `XAUTOCLAIM` (checked every half idle time): a dead member's work is not lost.
//! - `XACK` only after the local commit.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::future::BoxFuture;
use inventory_shared::broker::RedisConnection;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;

use super::{AckToken, Delivery, Source};
use crate::event::Incoming;

/// How long `XREADGROUP` blocks waiting for new entries.
const BLOCK: Duration = Duration::from_millis(1000);

/// One stream entry: id and fields (`None` when the entry was trimmed while pending).
type Entry = (String, Option<HashMap<String, String>>);

/// A member of a Redis consumer group.
pub struct RedisSource {
    client: redis::Client,
    connection: Option<MultiplexedConnection>,
    timeout: Duration,
    stream: String,
    group: String,
    member: String,
    claim_idle: Duration,
    group_ready: bool,
    /// Cursor through our own pending entries at start; `None` once they are all re-read.
    own_pending: Option<String>,
    claim_cursor: String,
    next_claim: Instant,
}

impl RedisSource {
    /// Builds the source; connects lazily.
    pub fn new(
        settings: &RedisConnection,
        group: &str,
        member: &str,
        claim_idle: Duration,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(settings.url()).map_err(|e| {
            anyhow::anyhow!("REDIS_URL / REDIS_HOST / REDIS_PORT: not a Redis URL ({e})")
        })?;
        Ok(Self {
            client,
            connection: None,
            timeout: settings.redis_timeout.max(BLOCK + Duration::from_secs(1)),
            stream: settings.redis_stream.clone(),
            group: group.to_owned(),
            member: member.to_owned(),
            claim_idle,
            group_ready: false,
            own_pending: Some("0".to_owned()),
            claim_cursor: "0-0".to_owned(),
            next_claim: Instant::now(),
        })
    }

    async fn connection(&mut self) -> anyhow::Result<MultiplexedConnection> {
        if let Some(c) = &self.connection {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let mut connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .context("connecting to Redis")?;
        if !self.group_ready {
            let created: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&self.stream)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut connection)
                .await;
            match created {
                Ok(()) => {
                    tracing::info!(stream = %self.stream, group = %self.group, "consumer group created")
                }
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e).context("creating the consumer group"),
            }
            self.group_ready = true;
        }
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    async fn read(&mut self, max: usize) -> anyhow::Result<Vec<Entry>> {
        let mut connection = self.connection().await?;
        if let Some(cursor) = self.own_pending.clone() {
            let reply: Option<Vec<(String, Vec<Entry>)>> = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(&self.group)
                .arg(&self.member)
                .arg("COUNT")
                .arg(max)
                .arg("STREAMS")
                .arg(&self.stream)
                .arg(&cursor)
                .query_async(&mut connection)
                .await
                .context("XREADGROUP (own pending entries)")?;
            let entries: Vec<Entry> = reply.into_iter().flatten().flat_map(|(_, e)| e).collect();
            match entries.last() {
                Some((id, _)) => self.own_pending = Some(id.clone()),
                None => self.own_pending = None,
            }
            if !entries.is_empty() {
                tracing::info!(
                    count = entries.len(),
                    "re-reading entries left pending by this member"
                );
                return Ok(entries);
            }
        }
        if Instant::now() >= self.next_claim {
            let (next, claimed, _deleted): (String, Vec<Entry>, Vec<String>) =
                redis::cmd("XAUTOCLAIM")
                    .arg(&self.stream)
                    .arg(&self.group)
                    .arg(&self.member)
                    .arg(self.claim_idle.as_millis() as u64)
                    .arg(&self.claim_cursor)
                    .arg("COUNT")
                    .arg(max)
                    .query_async(&mut connection)
                    .await
                    .context("XAUTOCLAIM")?;
            if next == "0-0" {
                self.next_claim =
                    Instant::now() + (self.claim_idle / 2).max(Duration::from_millis(200));
            }
            self.claim_cursor = next;
            if !claimed.is_empty() {
                tracing::info!(
                    count = claimed.len(),
                    "claimed entries another member left pending"
                );
                return Ok(claimed);
            }
        }
        let reply: Option<Vec<(String, Vec<Entry>)>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.member)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">")
            .query_async(&mut connection)
            .await
            .context("XREADGROUP")?;
        Ok(reply.into_iter().flatten().flat_map(|(_, e)| e).collect())
    }
}

impl Source for RedisSource {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn next_batch(&mut self, max: usize) -> BoxFuture<'_, anyhow::Result<Vec<Delivery>>> {
        Box::pin(async move {
            let entries = self
                .read(max)
                .await
                .inspect_err(|_| self.connection = None)?;
            Ok(entries
                .into_iter()
                .map(|(id, fields)| Delivery {
                    event: match fields {
                        Some(fields) => Incoming::from_redis_fields(&fields),
                        None => Err(crate::event::ParseError::Missing("fields (entry trimmed)")),
                    },
                    ack: AckToken::Redis(id),
                })
                .collect())
        })
    }

    fn ack(&mut self, tokens: Vec<AckToken>) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let ids: Vec<String> = tokens
                .into_iter()
                .filter_map(|t| match t {
                    AckToken::Redis(id) => Some(id),
                    _ => None,
                })
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            let mut connection = self.connection().await?;
            let acked: redis::RedisResult<i64> = redis::cmd("XACK")
                .arg(&self.stream)
                .arg(&self.group)
                .arg(&ids)
                .query_async(&mut connection)
                .await;
            acked
                .inspect_err(|_| self.connection = None)
                .context("XACK")?;
            Ok(())
        })
    }
}
