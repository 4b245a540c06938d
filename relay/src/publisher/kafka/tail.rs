//! Reading the topic back: its partition count, and the `seq`s at the end of every partition
//! (crash recovery).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaSettings, RelayContext};
use crate::publisher::PublishError;

/// Reads the topic's partition count from the broker (blocking).
pub(super) fn topic_partitions(
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

/// The `seq` headers of the last `window` records (at least [`TAIL`]) of every partition
/// (blocking).
///
/// A set, not each partition's largest `seq`: on PostgreSQL a row can commit below a `seq`
/// its partition already holds (across products `seq` order is not commit order), so "the
/// partition reached `seq` N" does not mean every smaller `seq` is there; only finding the
/// event itself does. Reads to the end (end-of-partition event, or no new record for
/// [`TAIL_IDLE`]) rather than to `high - 1`, because some Kafka-protocol brokers report a
/// coarse high watermark (tansu reports the last *batch*). Nothing writes to the topic while
/// this runs: the relay is the only producer and it is between batches.
pub(super) fn seqs_in_tail(
    settings: &KafkaSettings,
    partitions: i32,
    window: usize,
) -> Result<BTreeSet<i64>, PublishError> {
    let window = i64::try_from(window).unwrap_or(i64::MAX).max(TAIL);
    let topic = settings.connection.kafka_topic.as_str();
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
                .add_partition_offset(
                    topic,
                    partition,
                    Offset::Offset(high.saturating_sub(window).max(low)),
                )
                .map_err(|e| transient("assigning partitions", e))?;
            reading.insert(partition, None);
        }
    }
    let mut seqs = BTreeSet::new();
    if reading.is_empty() {
        return Ok(seqs);
    }
    consumer
        .assign(&assignment)
        .map_err(|e| transient("assigning partitions", e))?;
    let deadline = Instant::now() + timeout * 2;
    loop {
        let now = Instant::now();
        reading.retain(|_, last| last.is_none_or(|at| now.duration_since(at) < TAIL_IDLE));
        if reading.is_empty() {
            return Ok(seqs);
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
            seqs.insert(seq);
        }
    }
}

/// The fewest records read back from each partition, so that a few stray records without a
/// `seq` header (written by another producer) do not hide ours.
const TAIL: i64 = 8;

/// How long the tail reader waits for more records of a partition that sent no
/// end-of-partition event.
const TAIL_IDLE: Duration = Duration::from_millis(500);
