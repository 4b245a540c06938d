//! One received event, parsed from whichever form it arrived in: a Redis stream entry's
//! fields, a Kafka or NATS message value (the envelope JSON), or an audit-log page row.

use std::collections::HashMap;

use inventory_shared::events::{EventType, NewEvent};
use inventory_shared::time::{self, Timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Why a message could not be read as an event (it is acknowledged and counted, never applied).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A field the contract requires is missing.
    #[error("missing field `{0}`")]
    Missing(&'static str),
    /// A field has the wrong form.
    #[error("field `{field}`: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed event, ready to be applied.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// UUIDv7: the inbox key.
    pub id: String,
    /// Global commit order.
    pub seq: i64,
    /// Commit time.
    pub created_at: Timestamp,
    /// The typed payload.
    pub event: NewEvent,
}

impl Incoming {
    /// The event's type.
    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }

    /// Builds an event from its parts (the payload as JSON text).
    pub fn from_parts(
        id: &str,
        seq: &str,
        event_type: &str,
        created_at: &str,
        payload: &str,
    ) -> Result<Self, ParseError> {
        let invalid = |field, reason: String| ParseError::Invalid { field, reason };
        if id.is_empty() {
            return Err(ParseError::Missing("id"));
        }
        let seq = seq.parse().map_err(|e| invalid("seq", format!("{e}")))?;
        let kind = EventType::parse(event_type)
            .ok_or_else(|| invalid("event_type", format!("unknown type `{event_type}`")))?;
        let created_at =
            time::from_db(created_at).map_err(|e| invalid("created_at", e.to_string()))?;
        let event =
            NewEvent::from_stored(kind, payload).map_err(|e| invalid("payload", e.to_string()))?;
        Ok(Self {
            id: id.to_owned(),
            seq,
            created_at,
            event,
        })
    }

    /// A Redis stream entry's fields (`id`, `seq`, `event_type`, `created_at`, `payload`, …).
    pub fn from_redis_fields(fields: &HashMap<String, String>) -> Result<Self, ParseError> {
        let get = |name: &'static str| {
            fields
                .get(name)
                .map(String::as_str)
                .ok_or(ParseError::Missing(name))
        };
        Self::from_parts(
            get("id")?,
            get("seq")?,
            get("event_type")?,
            get("created_at")?,
            get("payload")?,
        )
    }

    /// The envelope JSON (Kafka and NATS message values) or an audit-log row, which has the
    /// same field names.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ParseError> {
        #[derive(Deserialize)]
        struct Wire<'a> {
            id: String,
            seq: i64,
            event_type: String,
            created_at: String,
            #[serde(borrow)]
            payload: &'a RawValue,
        }
        let wire: Wire<'_> = serde_json::from_slice(bytes).map_err(|e| ParseError::Invalid {
            field: "envelope",
            reason: e.to_string(),
        })?;
        Self::from_parts(
            &wire.id,
            &wire.seq.to_string(),
            &wire.event_type,
            &wire.created_at,
            wire.payload.get(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_parses_into_its_typed_payload() {
        let json = br#"{"id":"0190","seq":7,"event_type":"reservation.created",
            "aggregate_type":"reservation","aggregate_id":"r1","store_id":"MAD-001",
            "created_at":"2026-01-02T03:04:05.123Z","payload":{"reservation_id":"r1",
            "product_id":"p1","store_id":"MAD-001","quantity":2,"customer_id":"c",
            "expires_at":"2026-01-02T03:14:05.123Z","version":4}}"#;
        let event = Incoming::from_json(json).expect("parses");
        assert_eq!(event.seq, 7);
        match event.event {
            NewEvent::ReservationCreated(p) => assert_eq!((p.quantity, p.version), (2, 4)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_unknown_type_is_refused() {
        let error = Incoming::from_parts("x", "1", "stock.melted", "2026-01-02T03:04:05Z", "{}")
            .expect_err("refused");
        assert!(error.to_string().contains("event_type"), "{error}");
    }
}
