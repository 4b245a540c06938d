//! The AsyncAPI 3.0 document of the published events, generated from the Rust event types
//! (payload schemas derived with `schemars`), like `openapi.yaml` is generated from the API.
//! `inventory-consumer asyncapi > asyncapi.yaml` writes the committed copy; a test fails when
//! the two differ.
//!
//! Message schemas are self-contained JSON Schema (draft 07, which the AsyncAPI schema format
//! extends): the envelope with its payload inlined, so a consumer can validate one message
//! with any validator and no reference resolution.

use inventory_shared::events::{
    EventType, ReservationCancelled, ReservationConfirmed, ReservationCreated, ReservationExpired,
    ReservationExtended, StockCreated, StockTransferred, StockUpdated,
};
use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

/// The Redis stream, Kafka topic and NATS subject prefix the relay uses by default.
const STREAM: &str = "inventory-events";
const SUBJECT_PREFIX: &str = "inventory.events";

fn payload_schema<T: JsonSchema>() -> Value {
    let mut schema = SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(object) = schema.as_object_mut() {
        object.remove("$schema");
        // Every field is always sent by the API; `version` and `hold_id` are
        // `#[serde(default)]` only so that events written before they existed still parse.
        let keys: Vec<Value> = object
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().map(Value::String).collect())
            .unwrap_or_default();
        object.insert("required".to_owned(), Value::Array(keys));
        if let Some(Value::Object(properties)) = object.get_mut("properties") {
            for property in properties.values_mut() {
                if let Some(p) = property.as_object_mut() {
                    p.remove("default");
                }
            }
        }
    }
    schema
}

/// The payload schema of one event type.
pub fn payload_schema_of(event_type: EventType) -> Value {
    match event_type {
        EventType::StockCreated => payload_schema::<StockCreated>(),
        EventType::StockUpdated => payload_schema::<StockUpdated>(),
        EventType::StockTransferred => payload_schema::<StockTransferred>(),
        EventType::ReservationCreated => payload_schema::<ReservationCreated>(),
        EventType::ReservationConfirmed => payload_schema::<ReservationConfirmed>(),
        EventType::ReservationCancelled => payload_schema::<ReservationCancelled>(),
        EventType::ReservationExpired => payload_schema::<ReservationExpired>(),
        EventType::ReservationExtended => payload_schema::<ReservationExtended>(),
    }
}

/// `stock.created` → `StockCreated`.
pub fn message_name(event_type: EventType) -> String {
    event_type
        .as_str()
        .split(['.', '_'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The schema of one event type's envelope (what Kafka and NATS carry as the value, and what
/// a Redis entry's fields spell out), payload inlined.
pub fn envelope_schema(event_type: EventType) -> Value {
    json!({
        "type": "object",
        "title": format!("{}Envelope", message_name(event_type)),
        "description": format!("A `{}` event as published (DESIGN §5).", event_type.as_str()),
        "required": ["id", "seq", "event_type", "aggregate_type", "aggregate_id", "store_id", "created_at", "payload"],
        "properties": {
            "id": {"type": "string", "format": "uuid", "description": "UUIDv7; the deduplication key."},
            "seq": {"type": "integer", "format": "int64", "minimum": 1, "description": "Global commit order."},
            "event_type": {"const": event_type.as_str()},
            "aggregate_type": {"const": event_type.aggregate_type()},
            "aggregate_id": {"type": "string", "description": "Product id (stock events) or reservation id (reservation events)."},
            "store_id": {"type": ["string", "null"], "description": "The store the event is about (a transfer's source store)."},
            "created_at": {"type": "string", "format": "date-time", "description": "Commit time (RFC 3339, UTC)."},
            "payload": payload_schema_of(event_type),
        }
    })
}

fn headers_schema() -> Value {
    json!({
        "type": "object",
        "description": "Kafka record headers `event_id`, `event_type`, `seq`; NATS headers `Nats-Msg-Id` (the event id: the server drops re-publishes inside the stream's duplicate window), `event_type`, `seq`. Redis entries carry no headers (the envelope fields are the entry's fields).",
        "properties": {
            "event_id": {"type": "string", "description": "Kafka: the event id."},
            "Nats-Msg-Id": {"type": "string", "description": "NATS: the event id."},
            "event_type": {"type": "string"},
            "seq": {"type": "string", "description": "The envelope's seq, in decimal."}
        }
    })
}

/// The document as a JSON value.
pub fn document() -> Value {
    let mut messages = Map::new();
    let mut schemas = Map::new();
    let mut refs = Map::new();
    for event_type in EventType::ALL {
        let name = message_name(event_type);
        schemas.insert(format!("{name}Envelope"), envelope_schema(event_type));
        messages.insert(
            name.clone(),
            json!({
                "name": event_type.as_str(),
                "title": event_type.as_str(),
                "summary": payload_schema_of(event_type).get("description").cloned().unwrap_or(Value::Null),
                "contentType": "application/json",
                "headers": headers_schema(),
                "payload": {"$ref": format!("#/components/schemas/{name}Envelope")},
                "bindings": {"kafka": {
                    "key": {"type": "string", "description": "The product id: one product's events share a partition, in order."},
                    "bindingVersion": "0.5.0"
                }}
            }),
        );
        refs.insert(
            name.clone(),
            json!({"$ref": format!("#/components/messages/{name}")}),
        );
    }
    let channel_refs = |channel: &str| -> Vec<Value> {
        EventType::ALL
            .iter()
            .map(|t| json!({"$ref": format!("#/channels/{channel}/messages/{}", message_name(*t))}))
            .collect()
    };
    let event_types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Inventory events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every stock and reservation change of the inventory service, published in commit (`seq`) order by inventory-relay from the transactional outbox. Delivery is at least once: deduplicate on `id`. Every event that changes a stock row carries the row's resulting `version` (`from_version`/`to_version` for transfers): apply an event for a (product, store) only when it is that row's next version, and treat a jump as missed events (repair from `GET /api/v1/events?after_seq=`). See docs/events.md and the reference consumer (inventory-consumer).",
            "license": {"name": "MIT"}
        },
        "defaultContentType": "application/json",
        "servers": {
            "redis": {"host": "localhost:6379", "protocol": "redis", "description": "MESSAGE_BROKER=redis (REDIS_URL)."},
            "kafka": {"host": "localhost:9092", "protocol": "kafka", "description": "MESSAGE_BROKER=kafka (KAFKA_BROKERS)."},
            "nats": {"host": "localhost:4222", "protocol": "nats", "description": "MESSAGE_BROKER=nats (NATS_URL), JetStream stream INVENTORY_EVENTS (NATS_STREAM)."}
        },
        "channels": {
            "redisStream": {
                "address": STREAM,
                "title": "Redis stream (REDIS_STREAM)",
                "description": "One entry per event, appended with `XADD MAXLEN ~ N`. The entry's fields are the envelope's: `id`, `seq` (decimal), `event_type`, `aggregate_type`, `aggregate_id`, `store_id` (empty when none), `created_at`, `payload` (the payload JSON as text), plus `timestamp` (when the relay sent it). Read with a consumer group (`XREADGROUP`, `XACK` after applying).",
                "servers": [{"$ref": "#/servers/redis"}],
                "messages": refs.clone()
            },
            "kafkaTopic": {
                "address": STREAM,
                "title": "Kafka topic (KAFKA_TOPIC)",
                "description": "Value: the envelope JSON. Key: the product id (murmur2 partitioning, so one product's events are in order on one partition). Headers: `event_id`, `event_type`, `seq`.",
                "servers": [{"$ref": "#/servers/kafka"}],
                "messages": refs.clone(),
                "bindings": {"kafka": {"topic": STREAM, "bindingVersion": "0.5.0"}}
            },
            "natsSubjects": {
                "address": format!("{SUBJECT_PREFIX}.{{eventType}}"),
                "title": "NATS JetStream subjects",
                "description": "One subject per event type, all captured by the stream (subjects `inventory.events.>`). Value: the envelope JSON. Headers: `Nats-Msg-Id` (the event id), `event_type`, `seq`.",
                "servers": [{"$ref": "#/servers/nats"}],
                "parameters": {"eventType": {"enum": event_types, "description": "The event type, e.g. `stock.updated`."}},
                "messages": refs
            }
        },
        "operations": {
            "receiveFromRedis": {"action": "receive", "channel": {"$ref": "#/channels/redisStream"}, "summary": "Read the stream through a consumer group.", "messages": channel_refs("redisStream")},
            "receiveFromKafka": {"action": "receive", "channel": {"$ref": "#/channels/kafkaTopic"}, "summary": "Read the topic through a consumer group.", "messages": channel_refs("kafkaTopic")},
            "receiveFromNats": {"action": "receive", "channel": {"$ref": "#/channels/natsSubjects"}, "summary": "Read the stream through a durable consumer with explicit ack.", "messages": channel_refs("natsSubjects")}
        },
        "components": {
            "schemas": schemas,
            "messages": messages
        }
    })
}

/// The document as YAML (the committed `asyncapi.yaml`).
pub fn yaml() -> anyhow::Result<String> {
    Ok(serde_yaml::to_string(&document())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_are_pascal_case() {
        assert_eq!(message_name(EventType::StockCreated), "StockCreated");
        assert_eq!(
            message_name(EventType::ReservationExpired),
            "ReservationExpired"
        );
    }

    #[test]
    fn reservation_payloads_require_the_version() {
        let schema = payload_schema_of(EventType::ReservationCancelled);
        let required = schema["required"].as_array().expect("required list");
        assert!(required.contains(&json!("version")), "{schema}");
    }
}
