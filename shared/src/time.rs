//! Timestamps: stored as fixed-width RFC 3339 text in UTC (`2026-01-02T03:04:05.123456Z`) so
//! that string order is time order, and sent on the wire as RFC 3339 with `Z`.

use chrono::{DateTime, SecondsFormat, Utc};

/// A UTC instant.
pub type Timestamp = DateTime<Utc>;

/// The current instant, truncated to microseconds (the precision we store).
pub fn now() -> Timestamp {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Formats an instant for storage: fixed width, so text order is time order.
pub fn to_db(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored instant. Stored values are written by [`to_db`]; anything else is a bug.
pub fn from_db(text: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// Formats an instant for the wire (RFC 3339, `Z`, milliseconds).
pub fn to_wire(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_text_sorts_like_time() {
        let a = DateTime::from_timestamp(1_000, 5_000).expect("valid");
        let b = DateTime::from_timestamp(1_000, 50_000_000).expect("valid");
        let c = DateTime::from_timestamp(10_000, 0).expect("valid");
        let (sa, sb, sc) = (to_db(&a), to_db(&b), to_db(&c));
        assert!(sa < sb && sb < sc, "{sa} {sb} {sc}");
        assert_eq!(from_db(&sb).expect("parses"), b);
        assert_eq!(sa.len(), sc.len());
    }
}
