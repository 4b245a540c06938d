//! Reading the topic back: its partition count, and the `seq`s of the last records of every
//! partition (crash recovery).

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

/// The `seq` headers at or above `oldest` among the last `window` records of every partition
/// (blocking), in ascending order.
///
/// Membership, not "at most the partition's last `seq`": on PostgreSQL a partition is not in
/// `seq` order (a smaller `seq` can commit, and be published, after a larger one), so an event
/// below the last `seq` of its partition may still be missing. Reads from `window` records
/// before the high watermark to the end of each partition: to the end (end-of-partition event,
/// or no new record for [`TAIL_IDLE`]) rather than to `high - 1`, because some Kafka-protocol
/// brokers report a coarse high watermark (tansu reports the last *batch*). Records without a
/// `seq` header (another producer's) are skipped. Nothing writes to the topic while this
/// runs: the relay is the only producer and it is between batches.
pub(super) fn tail_seqs(
    settings: &KafkaSettings,
    partitions: i32,
    oldest: i64,
    window: usize,
) -> Result<Vec<i64>, PublishError> {
    let window = i64::try_from(window.max(1)).unwrap_or(i64::MAX);
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
        return Ok(Vec::new());
    }
    consumer
        .assign(&assignment)
        .map_err(|e| transient("assigning partitions", e))?;
    let deadline = Instant::now() + timeout * 2;
    loop {
        let now = Instant::now();
        reading.retain(|_, last| last.is_none_or(|at| now.duration_since(at) < TAIL_IDLE));
        if reading.is_empty() {
            return Ok(seqs.into_iter().collect());
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
        }) && seq >= oldest
        {
            seqs.insert(seq);
        }
    }
}

/// How long the tail reader waits for more records of a partition that sent no
/// end-of-partition event.
const TAIL_IDLE: Duration = Duration::from_millis(500);
