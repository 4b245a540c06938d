//! `MESSAGE_BROKER=redis`: Redis Streams.
//!
//! Each event becomes one entry `XADD <stream> MAXLEN ~ N * id .. seq .. event_type ..
//! aggregate_type .. aggregate_id .. store_id .. created_at .. payload .. timestamp ..`
//! (`docs/relay.md`, "What lands in Redis"); a batch is one pipeline, so one round trip.
//! `timestamp` is when the relay sent the entry (RFC 3339), `created_at` when the change was
//! committed.
//!
//! The connection is opened lazily and dropped after any transport error, so the relay starts
//! while Redis is down and reconnects by itself when it returns.

use std::collections::HashSet;
use std::time::Duration;

use clap::Args;
use futures::future::BoxFuture;
use inventory_shared::broker::RedisConnection;
use inventory_shared::outbox::StoredEvent;
use inventory_shared::time;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamRangeReply;
use redis::{AsyncConnectionConfig, RedisError, RedisResult};

use super::{BatchFailure, PublishError, Publisher};

/// Redis settings of the relay: where to publish, and how long the stream may grow.
#[derive(Debug, Clone, Args)]
pub struct RedisSettings {
    /// Server and stream (the same variables the consumer reads).
    #[command(flatten)]
    pub connection: RedisConnection,

    /// Approximate cap on the stream length (`XADD … MAXLEN ~ N`); older entries are trimmed.
    #[arg(long, env = "REDIS_STREAM_MAXLEN", default_value_t = 1_000_000)]
    pub redis_stream_maxlen: u64,
}

/// Publishes to a Redis stream.
pub struct RedisPublisher {
    client: redis::Client,
    connection: Option<MultiplexedConnection>,
    stream: String,
    maxlen: u64,
    timeout: Duration,
}

impl std::fmt::Debug for RedisPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPublisher")
            .field("stream", &self.stream)
            .field("connected", &self.connection.is_some())
            .finish_non_exhaustive()
    }
}

impl RedisPublisher {
    /// Builds the publisher; connects lazily. Fails only on a malformed URL, never because
    /// Redis is down.
    pub fn new(settings: &RedisSettings) -> anyhow::Result<Self> {
        let connection = &settings.connection;
        let client = redis::Client::open(connection.url()).map_err(|e| {
            anyhow::anyhow!(
                "REDIS_URL / REDIS_HOST / REDIS_PORT: `{}` is not a Redis URL ({e})",
                connection.url_for_logs()
            )
        })?;
        Ok(Self {
            client,
            connection: None,
            stream: connection.redis_stream.clone(),
            maxlen: settings.redis_stream_maxlen,
            timeout: connection.redis_timeout,
        })
    }

    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, PublishError> {
        if self.connection.is_none() {
            let config = AsyncConnectionConfig::new()
                .set_connection_timeout(Some(self.timeout))
                .set_response_timeout(Some(self.timeout));
            let connection = self
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(transient)?;
            self.connection = Some(connection);
        }
        self.connection
            .as_mut()
            .ok_or_else(|| PublishError::Transient("not connected".to_owned()))
    }

    /// Forgets the connection after a transport error so the next call reconnects.
    fn disconnect_on<T>(&mut self, result: Result<T, PublishError>) -> Result<T, PublishError> {
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn send_batch(&mut self, events: &[StoredEvent]) -> Result<(), BatchFailure> {
        let at_start = |error| BatchFailure {
            published: 0,
            error,
        };
        let mut pipe = redis::pipe();
        let sent_at = time::to_wire(&time::now());
        for event in events {
            pipe.cmd("XADD")
                .arg(&self.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.maxlen)
                .arg("*")
                .arg("id")
                .arg(&event.id)
                .arg("seq")
                .arg(event.seq)
                .arg("event_type")
                .arg(&event.event_type)
                .arg("aggregate_type")
                .arg(&event.aggregate_type)
                .arg("aggregate_id")
                .arg(&event.aggregate_id)
                .arg("store_id")
                .arg(event.store_id.as_deref().unwrap_or(""))
                .arg("created_at")
                .arg(time::to_wire(&event.created_at))
                .arg("payload")
                .arg(event.payload.get())
                .arg("timestamp")
                .arg(&sent_at);
        }
        // `ignore_errors` turns one entry's error reply into an `Err` item instead of failing
        // the whole batch, so we know exactly which entries the server took.
        pipe.ignore_errors();
        let connection = self.connection().await.map_err(at_start)?;
        let replies: RedisResult<Vec<RedisResult<String>>> = pipe.query_async(connection).await;
        let replies = self
            .disconnect_on(replies.map_err(transient))
            .map_err(at_start)?;
        let Some(failed) = replies.iter().position(Result::is_err) else {
            return Ok(());
        };
        let error = match &replies[failed] {
            Err(e) => classify_reply_error(e),
            Ok(_) => PublishError::Transient("unexpected reply".to_owned()),
        };
        // Later entries of the pipeline may have been appended after the failed one. Remove
        // them, so the stream holds exactly the acknowledged prefix and they are re-sent in
        // order after the failed event; if that fails, the outcome is unknown (transient), and
        // `already_published` sorts it out.
        let appended_after: Vec<&String> = replies[failed + 1..].iter().flatten().collect();
        if !appended_after.is_empty() {
            let removed: RedisResult<i64> = redis::cmd("XDEL")
                .arg(&self.stream)
                .arg(&appended_after)
                .query_async(self.connection().await.map_err(at_start)?)
                .await;
            if let Err(e) = removed {
                self.connection = None;
                return Err(BatchFailure {
                    published: failed,
                    error: transient(e),
                });
            }
        }
        Err(BatchFailure {
            published: failed,
            error,
        })
    }

    /// The seqs of the stream's tail back to the first entry older than `oldest`, and at
    /// least the last `page` entries: every entry a crashed relay may have left published but
    /// unmarked (the step's reconciliation window, [`crate::step`]). Read newest first, `page`
    /// entries at a time, at most [`RECONCILE_SCAN_LIMIT`] entries.
    async fn stream_seqs(
        &mut self,
        oldest: i64,
        page: usize,
    ) -> Result<HashSet<i64>, PublishError> {
        let stream = self.stream.clone();
        let mut seqs = HashSet::new();
        let mut end = "+".to_owned();
        let mut scanned = 0;
        while scanned < RECONCILE_SCAN_LIMIT {
            let connection = self.connection().await?;
            let reply: RedisResult<StreamRangeReply> = redis::cmd("XREVRANGE")
                .arg(&stream)
                .arg(&end)
                .arg("-")
                .arg("COUNT")
                .arg(page.max(1))
                .query_async(connection)
                .await;
            let reply = self.disconnect_on(reply.map_err(transient))?;
            let mut reached_older = false;
            for entry in &reply.ids {
                match entry
                    .get::<String>("seq")
                    .and_then(|s| s.parse::<i64>().ok())
                {
                    Some(seq) if seq < oldest => reached_older = true,
                    Some(seq) => {
                        seqs.insert(seq);
                    }
                    None => {}
                }
            }
            scanned += reply.ids.len();
            match reply.ids.last() {
                Some(last) if !reached_older && reply.ids.len() == page.max(1) => {
                    end = format!("({}", last.id);
                }
                _ => break,
            }
        }
        Ok(seqs)
    }
}

impl Publisher for RedisPublisher {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn publish<'a>(
        &'a mut self,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(async move {
            if events.is_empty() {
                return Ok(());
            }
            self.send_batch(events).await
        })
    }

    /// Reads the stream tail ([`RedisPublisher::stream_seqs`]) and returns the seqs found
    /// there at or above `oldest`. Matching each seq rather than "everything up to the tail's
    /// seq" means an event missing from the stream is never marked, even if a later one made
    /// it.
    fn already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> BoxFuture<'_, Result<Vec<i64>, PublishError>> {
        Box::pin(async move {
            let mut in_stream: Vec<i64> = self
                .stream_seqs(oldest, window)
                .await?
                .into_iter()
                .collect();
            in_stream.sort_unstable();
            Ok(in_stream)
        })
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async move {
            let connection = self.connection().await?;
            let pong: RedisResult<String> = redis::cmd("PING").query_async(connection).await;
            self.disconnect_on(pong.map(|_| ()).map_err(transient))
        })
    }
}

/// The most stream entries a reconciliation reads back from the tail.
pub const RECONCILE_SCAN_LIMIT: usize = 100_000;

fn transient(error: RedisError) -> PublishError {
    PublishError::Transient(error.to_string())
}

/// Error replies that describe the server's state, not the entry: every event would get them,
/// so they must not count towards parking.
const SERVER_STATE_CODES: [&str; 13] = [
    "OOM",
    "READONLY",
    "MISCONF",
    "NOAUTH",
    "WRONGPASS",
    "NOPERM",
    "LOADING",
    "BUSY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "WRONGTYPE",
    "NOREPLICAS",
];

/// An error reply for one entry: a rejection of that event, unless it describes the server.
fn classify_reply_error(error: &RedisError) -> PublishError {
    let code = error.code().unwrap_or_default();
    if SERVER_STATE_CODES.contains(&code) || error.is_io_error() || error.is_timeout() {
        PublishError::Transient(error.to_string())
    } else {
        PublishError::Rejected(error.to_string())
    }
}
