//! `MESSAGE_BROKER=kafka`: an idempotent `rdkafka` producer (bundled librdkafka) writing the
//! DESIGN §5 envelope to one topic.
//!
//! - Record key = the event's partition key (the product id); value = the envelope JSON;
//!   headers `event_id`, `event_type`, `seq`.
//! - `enable.idempotence=true`, `acks=all`, at most 5 requests in flight: librdkafka retries
//!   without reordering or duplicating the records of one partition.
//! - A batch counts as published only when every record of it is acknowledged: all records are
//!   queued at once (librdkafka batches them into few produce requests), then every delivery
//!   report is awaited in order.
//! - **The partition is chosen here**, not by librdkafka: `murmur2(key) % partitions`, the same
//!   function as the Java client's default partitioner, with the partition count read from the
//!   topic's metadata. Knowing each event's partition is what makes crash recovery exact:
//!   [`Publisher::already_published`] reads the last record of every partition and an event is
//!   already there iff its `seq` is at most the last `seq` on *its* partition. (Adding
//!   partitions to the topic remaps keys, as it does for every Kafka producer; the relay reads
//!   the new count when it restarts or after a failed batch.)
//! - The broker being down never fails construction: librdkafka connects in the background and
//!   publishing fails with [`PublishError::Transient`] until it answers.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Args;
use futures::future::BoxFuture;
use inventory_shared::config::parse_duration;
use inventory_shared::outbox::StoredEvent;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::{BatchFailure, PublishError, Publisher};

/// Kafka connection settings (any Kafka-protocol broker).
#[derive(Clone, Args)]
pub struct KafkaSettings {
    /// Bootstrap brokers, comma-separated `host:port`.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092")]
    pub kafka_brokers: String,

    /// Topic the events go to. It must exist (or the broker must auto-create it).
    #[arg(long, env = "KAFKA_TOPIC", default_value = "inventory-events")]
    pub kafka_topic: String,

    /// `security.protocol`: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` [default: plaintext].
    #[arg(long, env = "KAFKA_SECURITY_PROTOCOL")]
    pub kafka_security_protocol: Option<String>,

    /// `sasl.mechanism`, e.g. `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`.
    #[arg(long, env = "KAFKA_SASL_MECHANISM")]
    pub kafka_sasl_mechanism: Option<String>,

    /// SASL user name.
    #[arg(long, env = "KAFKA_SASL_USERNAME")]
    pub kafka_sasl_username: Option<String>,

    /// SASL password (never logged).
    #[arg(long, env = "KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub kafka_sasl_password: Option<String>,

    /// CA certificate file (PEM) to verify the brokers' TLS certificates.
    #[arg(long, env = "KAFKA_SSL_CA_LOCATION")]
    pub kafka_ssl_ca_location: Option<String>,

    /// How long a record may wait for the broker's acknowledgement (librdkafka
    /// `message.timeout.ms`) before the batch fails and is retried with backoff.
    #[arg(long, env = "KAFKA_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub kafka_timeout: Duration,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("kafka_brokers", &self.kafka_brokers)
            .field("kafka_topic", &self.kafka_topic)
            .field("kafka_security_protocol", &self.kafka_security_protocol)
            .field("kafka_sasl_mechanism", &self.kafka_sasl_mechanism)
            .field("kafka_sasl_username", &self.kafka_sasl_username)
            .field(
                "kafka_sasl_password",
                &self.kafka_sasl_password.as_ref().map(|_| "<redacted>"),
            )
            .field("kafka_ssl_ca_location", &self.kafka_ssl_ca_location)
            .field("kafka_timeout", &self.kafka_timeout)
            .finish()
    }
}

impl KafkaSettings {
    /// Settings for `brokers` and `topic`, everything else at its default.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            kafka_brokers: brokers.into(),
            kafka_topic: topic.into(),
            kafka_security_protocol: None,
            kafka_sasl_mechanism: None,
            kafka_sasl_username: None,
            kafka_sasl_password: None,
            kafka_ssl_ca_location: None,
            kafka_timeout: Duration::from_secs(30),
        }
    }

    /// The connection part of the librdkafka configuration (shared by the producer and the
    /// tail reader).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.kafka_brokers)
            .set("client.id", "inventory-relay");
        let optional = [
            ("security.protocol", &self.kafka_security_protocol),
            ("sasl.mechanism", &self.kafka_sasl_mechanism),
            ("sasl.username", &self.kafka_sasl_username),
            ("sasl.password", &self.kafka_sasl_password),
            ("ssl.ca.location", &self.kafka_ssl_ca_location),
        ];
        for (key, value) in optional {
            if let Some(value) = value.as_deref().filter(|v| !v.trim().is_empty()) {
                config.set(key, value.trim());
            }
        }
        config
    }

    /// Metadata look-ups and tail reads wait at most this long.
    fn metadata_timeout(&self) -> Duration {
        self.kafka_timeout
            .clamp(Duration::from_millis(500), Duration::from_secs(5))
    }
}

/// Publishes to a Kafka topic with an idempotent producer.
pub struct KafkaPublisher {
    settings: KafkaSettings,
    /// `None` after a fatal producer error: rebuilt before the next batch.
    producer: Option<FutureProducer<RelayContext>>,
    /// The topic's partition count, read from metadata on first use and after failures.
    partitions: Option<i32>,
    /// Events acknowledged by the broker *after* an earlier event of their batch failed. The
    /// relay retries them with the failed one; they are not sent twice.
    acked_ahead: BTreeSet<i64>,
    /// The last `seq` on each partition as the last tail read found it (after a start or a
    /// failure). Events at or below it are in the topic already and are never sent again, even
    /// when the publish loop stops asking (it asks for one batch; a crashed relay may have left
    /// more than one batch unmarked, e.g. when `RELAY_BATCH_SIZE` was lowered).
    /// Keyed by the partition count it was read with (keys map elsewhere when it changes).
    known_tail: Option<(i32, HashMap<i32, i64>)>,
}

impl fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("settings", &self.settings)
            .field("partitions", &self.partitions)
            .field("acked_ahead", &self.acked_ahead.len())
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// Builds the publisher. Fails only on an invalid configuration, never because the broker
    /// is down (librdkafka connects in the background).
    pub fn new(settings: &KafkaSettings) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !settings.kafka_topic.trim().is_empty(),
            "KAFKA_TOPIC must not be empty"
        );
        let producer = build_producer(settings)
            .map_err(|e| anyhow::anyhow!("invalid Kafka configuration (KAFKA_*): {e}"))?;
        tracing::info!(
            brokers = %settings.kafka_brokers,
            topic = %settings.kafka_topic,
            security_protocol = settings.kafka_security_protocol.as_deref().unwrap_or("plaintext"),
            "Kafka publisher ready (idempotent, acks=all); connects in the background"
        );
        Ok(Self {
            settings: settings.clone(),
            producer: Some(producer),
            partitions: None,
            acked_ahead: BTreeSet::new(),
            known_tail: None,
        })
    }

    fn producer(&mut self) -> Result<FutureProducer<RelayContext>, PublishError> {
        if let Some(producer) = &self.producer {
            return Ok(producer.clone());
        }
        let producer = build_producer(&self.settings)
            .map_err(|e| PublishError::Transient(format!("creating the Kafka producer: {e}")))?;
        self.producer = Some(producer.clone());
        Ok(producer)
    }

    /// The topic's partition count: cached, or read from metadata when `refresh` or unknown.
    async fn partition_count(&mut self, refresh: bool) -> Result<i32, PublishError> {
        if let (Some(count), false) = (self.partitions, refresh) {
            return Ok(count);
        }
        let producer = self.producer()?;
        let topic = self.settings.kafka_topic.clone();
        let timeout = self.settings.metadata_timeout();
        let count =
            tokio::task::spawn_blocking(move || topic_partitions(&producer, &topic, timeout))
                .await
                .map_err(|e| PublishError::Transient(format!("metadata task failed: {e}")))??;
        self.partitions = Some(count);
        Ok(count)
    }

    /// After an error: a producer in a fatal state is replaced, and the partition count is
    /// read again before the next batch.
    fn after_failure(&mut self) {
        self.partitions = None;
        if let Some((code, reason)) = self
            .producer
            .as_ref()
            .and_then(|p| p.client().fatal_error())
        {
            tracing::warn!(%code, %reason, "Kafka producer hit a fatal error; creating a new one");
            self.producer = None;
        }
    }

    async fn publish_batch(&mut self, events: &[StoredEvent]) -> Result<(), BatchFailure> {
        if events.is_empty() {
            return Ok(());
        }
        // Anything older than the batch is published and marked already.
        self.acked_ahead = self.acked_ahead.split_off(&events[0].seq);
        let fail0 = |error| BatchFailure {
            published: 0,
            error,
        };
        let partitions = self.partition_count(false).await.map_err(fail0)?;
        let producer = self.producer().map_err(fail0)?;
        let topic = self.settings.kafka_topic.as_str();
        let timeout = self.settings.kafka_timeout;

        // Queue every record first so librdkafka can batch them; stop at the first record that
        // cannot even be queued (too large, or the queue stays full).
        let mut deliveries = Vec::with_capacity(events.len());
        let mut queue_error = None;
        for event in events {
            let partition = partition_for(event.partition_key.as_bytes(), partitions);
            let in_topic = self.known_tail.as_ref().is_some_and(|(count, tail)| {
                *count == partitions && tail.get(&partition).is_some_and(|last| event.seq <= *last)
            });
            if in_topic || self.acked_ahead.contains(&event.seq) {
                deliveries.push(None);
                continue;
            }
            let payload = event.envelope_json();
            let seq = event.seq.to_string();
            let headers = OwnedHeaders::new_with_capacity(3)
                .insert(Header {
                    key: "event_id",
                    value: Some(event.id.as_str()),
                })
                .insert(Header {
                    key: "event_type",
                    value: Some(event.event_type.as_str()),
                })
                .insert(Header {
                    key: "seq",
                    value: Some(seq.as_str()),
                });
            let mut record = FutureRecord::to(topic)
                .key(event.partition_key.as_str())
                .payload(payload.as_str())
                .partition(partition)
                .headers(headers);
            let queued_until = tokio::time::Instant::now() + timeout;
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(Some(delivery));
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if tokio::time::Instant::now() < queued_until =>
                    {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => {
                        queue_error = Some(classify(&error));
                        break;
                    }
                }
            }
            if queue_error.is_some() {
                break;
            }
        }

        // Await every delivery report, in order. The first failure ends the acknowledged
        // prefix; records acknowledged after it are remembered so the retry does not resend them.
        let mut first_failure: Option<(usize, PublishError)> = None;
        let grace = timeout + Duration::from_secs(5);
        let queued = deliveries.len();
        for (index, delivery) in deliveries.into_iter().enumerate() {
            let seq = events[index].seq;
            let outcome = match delivery {
                None => Ok(()),
                Some(delivery) => match tokio::time::timeout(grace, delivery).await {
                    Ok(Ok(Ok(_))) => Ok(()),
                    Ok(Ok(Err((error, _)))) => Err(classify(&error)),
                    Ok(Err(_canceled)) => Err(PublishError::Transient(
                        "the producer was closed before the broker answered".into(),
                    )),
                    Err(_) => Err(PublishError::Transient(
                        "no delivery report in time (outcome unknown)".into(),
                    )),
                },
            };
            match (outcome, &first_failure) {
                (Ok(()), None) => {
                    self.acked_ahead.remove(&seq);
                }
                (Ok(()), Some(_)) => {
                    self.acked_ahead.insert(seq);
                }
                (Err(error), None) => first_failure = Some((index, error)),
                (Err(_), Some(_)) => {}
            }
        }
        if first_failure.is_none()
            && let Some(error) = queue_error
        {
            // Everything queued was acknowledged; the record after them could not be queued.
            first_failure = Some((queued, error));
        }
        match first_failure {
            None => Ok(()),
            Some((published, error)) => {
                tracing::warn!(published, error = %error, topic, "Kafka batch not fully acknowledged");
                self.after_failure();
                Err(BatchFailure { published, error })
            }
        }
    }

    async fn find_already_published(
        &mut self,
        pending: &[StoredEvent],
    ) -> Result<Vec<i64>, PublishError> {
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let partitions = self.partition_count(true).await?;
        let settings = self.settings.clone();
        let last_seqs =
            tokio::task::spawn_blocking(move || last_seq_per_partition(&settings, partitions))
                .await
                .map_err(|e| PublishError::Transient(format!("tail read task failed: {e}")))??;
        self.known_tail = Some((partitions, last_seqs.clone()));
        let found: Vec<i64> = pending
            .iter()
            .filter(|event| {
                let partition = partition_for(event.partition_key.as_bytes(), partitions);
                self.acked_ahead.contains(&event.seq)
                    || last_seqs
                        .get(&partition)
                        .is_some_and(|last| event.seq <= *last)
            })
            .map(|event| event.seq)
            .collect();
        if !found.is_empty() {
            tracing::info!(
                count = found.len(),
                "events already in Kafka (published before a restart)"
            );
        }
        Ok(found)
    }
}

impl Publisher for KafkaPublisher {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn publish<'a>(
        &'a mut self,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), BatchFailure>> {
        Box::pin(self.publish_batch(events))
    }

    fn already_published<'a>(
        &'a mut self,
        pending: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<Vec<i64>, PublishError>> {
        Box::pin(self.find_already_published(pending))
    }

    fn ping(&mut self) -> BoxFuture<'_, Result<(), PublishError>> {
        Box::pin(async {
            let producer = self.producer()?;
            let topic = self.settings.kafka_topic.clone();
            let timeout = self.settings.metadata_timeout().min(Duration::from_secs(2));
            tokio::task::spawn_blocking(move || topic_partitions(&producer, &topic, timeout))
                .await
                .map_err(|e| PublishError::Transient(format!("metadata task failed: {e}")))?
                .map(|_| ())
        })
    }
}

fn build_producer(settings: &KafkaSettings) -> Result<FutureProducer<RelayContext>, KafkaError> {
    let timeout_ms = settings
        .kafka_timeout
        .as_millis()
        .clamp(1, i32::MAX as u128)
        .to_string();
    settings
        .client_config()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("message.timeout.ms", &timeout_ms)
        // The relay hands over a whole batch at once, so librdkafka batches well without
        // lingering; a short linger keeps the per-batch round trip (and the lag) small.
        .set("linger.ms", "1")
        .set("queue.buffering.max.messages", "200000")
        .create_with_context(RelayContext::default())
}

/// Reads the topic's partition count from the broker (blocking).
fn topic_partitions(
    producer: &FutureProducer<RelayContext>,
    topic: &str,
    timeout: Duration,
) -> Result<i32, PublishError> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| PublishError::Transient(format!("reading metadata of topic {topic}: {e}")))?;
    let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
        return Err(PublishError::Transient(format!("topic {topic} not found")));
    };
    if let Some(error) = found.error()
        && error != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR
    {
        let code = RDKafkaErrorCode::from(error);
        return Err(PublishError::Transient(format!("topic {topic}: {code}")));
    }
    match i32::try_from(found.partitions().len()) {
        Ok(count) if count > 0 => Ok(count),
        _ => Err(PublishError::Transient(format!(
            "topic {topic} has no partitions (yet)"
        ))),
    }
}

/// For every non-empty partition, the largest `seq` header among its last records (blocking).
///
/// Reads from a few records before the high watermark to the end of each partition: a few
/// records rather than one, so that a stray record without a `seq` header (written by another
/// producer) does not hide ours; to the end (end-of-partition event, or no new record for
/// [`TAIL_IDLE`]) rather than to `high - 1`, because some Kafka-protocol brokers report a
/// coarse high watermark (tansu reports the last *batch*). Nothing writes to the topic while
/// this runs: the relay is the only producer and it is between batches.
fn last_seq_per_partition(
    settings: &KafkaSettings,
    partitions: i32,
) -> Result<HashMap<i32, i64>, PublishError> {
    const TAIL: i64 = 8;
    let topic = settings.kafka_topic.as_str();
    let timeout = settings.metadata_timeout();
    let transient = |what: &str, e: KafkaError| PublishError::Transient(format!("{what}: {e}"));
    let consumer: BaseConsumer<RelayContext> = settings
        .client_config()
        .set("group.id", "inventory-relay-tail-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest")
        .create_with_context(RelayContext::default())
        .map_err(|e| transient("creating the Kafka tail reader", e))?;

    let mut assignment = TopicPartitionList::new();
    // Partitions still being read, with when their last record arrived.
    let mut reading: HashMap<i32, Option<Instant>> = HashMap::new();
    for partition in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, timeout)
            .map_err(|e| transient("reading partition offsets", e))?;
        if high > low {
            assignment
                .add_partition_offset(topic, partition, Offset::Offset((high - TAIL).max(low)))
                .map_err(|e| transient("assigning partitions", e))?;
            reading.insert(partition, None);
        }
    }
    let mut last_seqs = HashMap::new();
    if reading.is_empty() {
        return Ok(last_seqs);
    }
    consumer
        .assign(&assignment)
        .map_err(|e| transient("assigning partitions", e))?;
    let deadline = Instant::now() + timeout * 2;
    loop {
        let now = Instant::now();
        reading.retain(|_, last| last.is_none_or(|at| now.duration_since(at) < TAIL_IDLE));
        if reading.is_empty() {
            return Ok(last_seqs);
        }
        if now > deadline {
            return Err(PublishError::Transient(format!(
                "timed out reading the last records of {} partition(s) of {topic}",
                reading.len()
            )));
        }
        let message = match consumer.poll(Duration::from_millis(50)) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                reading.remove(&partition);
                continue;
            }
            Some(Err(e)) => return Err(transient("reading the topic tail", e)),
            Some(Ok(message)) => message,
        };
        let partition = message.partition();
        if let Some(last) = reading.get_mut(&partition) {
            *last = Some(Instant::now());
        }
        if let Some(seq) = message.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == "seq")
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .and_then(|v| v.parse::<i64>().ok())
        }) {
            let entry = last_seqs.entry(partition).or_insert(seq);
            *entry = (*entry).max(seq);
        }
    }
}

/// How long the tail reader waits for more records of a partition that sent no
/// end-of-partition event.
const TAIL_IDLE: Duration = Duration::from_millis(500);

/// librdkafka's own logging, toned down: while a broker is down librdkafka reports every
/// failed connection attempt as an error, and the relay already says "broker down" once (and
/// on `/health`). Each librdkafka facility is logged at `warn` at most every 30 s; repeats in
/// between go to `debug`. Global errors repeat what the log callback said and go to `debug`.
#[derive(Default)]
pub struct RelayContext {
    last_warned: Mutex<HashMap<String, Instant>>,
}

impl ClientContext for RelayContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        match level {
            RDKafkaLogLevel::Debug | RDKafkaLogLevel::Info | RDKafkaLogLevel::Notice => {
                tracing::debug!(target: "librdkafka", fac, "{log_message}");
            }
            _ => {
                let now = Instant::now();
                let mut last = self
                    .last_warned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let due = last
                    .get(fac)
                    .is_none_or(|at| now.duration_since(*at) >= Duration::from_secs(30));
                if due {
                    last.insert(fac.to_owned(), now);
                    tracing::warn!(target: "librdkafka", fac, "{log_message}");
                } else {
                    tracing::debug!(target: "librdkafka", fac, "{log_message}");
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, "{reason}");
    }
}

impl ConsumerContext for RelayContext {}

/// Which partition a key goes to: the Java client's default partitioner
/// (`toPositive(murmur2(key)) % partitions`), so other Kafka clients agree with us.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as i32;
    positive % partitions.max(1)
}

/// Kafka's murmur2 (seed `0x9747b28c`), as in `org.apache.kafka.common.utils.Utils`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// Rejected: the broker (or librdkafka's local checks) refuses this record for itself, so
/// retrying cannot help. Everything else (unreachable, timeouts, queue full, leader changes,
/// authorization, unknown outcome) is transient.
fn classify(error: &KafkaError) -> PublishError {
    use RDKafkaErrorCode as C;
    match error.rdkafka_error_code() {
        Some(
            C::MessageSizeTooLarge
            | C::InvalidMessageSize
            | C::InvalidRecord
            | C::MessageBatchTooLarge
            | C::InvalidTimestamp
            | C::BadMessage,
        ) => PublishError::Rejected(error.to_string()),
        _ => PublishError::Transient(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_the_java_client() {
        // Vectors from Kafka's UtilsTest.testMurmur2.
        let cases: [(&str, i32); 6] = [
            ("21", -973_932_308),
            ("foobar", -790_332_482),
            ("a-little-bit-long-string", -985_981_536),
            ("a-little-bit-longer-string", -1_486_304_829),
            (
                "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            ("abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key.as_bytes()) as i32, expected, "{key}");
        }
    }

    #[test]
    fn partitions_are_stable_and_in_range() {
        for key in ["p-1", "p-2", "0194c2a8-0000-7000-8000-000000000001"] {
            let p = partition_for(key.as_bytes(), 3);
            assert!((0..3).contains(&p));
            assert_eq!(p, partition_for(key.as_bytes(), 3));
        }
        assert_eq!(partition_for(b"anything", 1), 0);
    }

    #[test]
    fn size_errors_are_rejections_and_the_rest_transient() {
        let too_large = KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(matches!(classify(&too_large), PublishError::Rejected(_)));
        let timed_out = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
        assert!(matches!(classify(&timed_out), PublishError::Transient(_)));
        let queue_full = KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull);
        assert!(matches!(classify(&queue_full), PublishError::Transient(_)));
    }

    #[test]
    fn the_password_is_never_printed() {
        let mut settings = KafkaSettings::new("b:9092", "t");
        settings.kafka_sasl_password = Some("hunter2".into());
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>"));
    }
}
