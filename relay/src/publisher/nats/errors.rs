//! Error classes: which JetStream answers mean "retry later" (transient) and which mean "this
//! message will never be accepted" (rejected, parked after `RELAY_MAX_ATTEMPTS`).

use async_nats::jetstream::{self, ErrorCode, context::PublishErrorKind};

use crate::publisher::PublishError;

/// JetStream answers that say nothing about the message itself: retried, never parked.
const TRANSIENT_CODES: [ErrorCode; 12] = [
    ErrorCode::ACCOUNT_RESOURCES_EXCEEDED,
    ErrorCode::INSUFFICIENT_RESOURCES,
    ErrorCode::MEMORY_RESOURCES_EXCEEDED,
    ErrorCode::STORAGE_RESOURCES_EXCEEDED,
    ErrorCode::STREAM_STORE_FAILED,
    ErrorCode::CLUSTER_NOT_AVAILABLE,
    ErrorCode::CLUSTER_NO_PEERS,
    ErrorCode::CLUSTER_NOT_LEADER,
    ErrorCode::CLUSTER_NOT_ACTIVE,
    ErrorCode::JETSTREAM_NOT_ENABLED,
    ErrorCode::JETSTREAM_NOT_ENABLED_FOR_ACCOUNT,
    ErrorCode::STREAM_NOT_FOUND,
];

/// Rejected: the message is over the server's payload limit, or the stream answered with an
/// error about this message (e.g. larger than the stream's `max_msg_size`). Timeouts, "no
/// responders", lost connections and capacity problems are transient.
pub(super) fn classify(error: &jetstream::context::PublishError) -> PublishError {
    let text = error.to_string();
    match error.kind() {
        PublishErrorKind::MaxPayloadExceeded => PublishError::Rejected(text),
        PublishErrorKind::Other => {
            let server_error =
                std::error::Error::source(error).and_then(|s| s.downcast_ref::<jetstream::Error>());
            match server_error {
                Some(e) if !TRANSIENT_CODES.contains(&e.error_code()) => {
                    PublishError::Rejected(text)
                }
                _ => PublishError::Transient(text),
            }
        }
        PublishErrorKind::StreamNotFound => {
            PublishError::Transient(format!("no stream for the subject ({text})"))
        }
        _ => PublishError::Transient(text),
    }
}

pub(super) fn error_means_no_stream(error: &PublishError) -> bool {
    matches!(error, PublishError::Transient(text) if text.starts_with("no stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_transient_and_oversized_messages_rejected() {
        let timed_out = jetstream::context::PublishError::new(PublishErrorKind::TimedOut);
        assert!(matches!(classify(&timed_out), PublishError::Transient(_)));
        let too_big = jetstream::context::PublishError::new(PublishErrorKind::MaxPayloadExceeded);
        assert!(matches!(classify(&too_big), PublishError::Rejected(_)));
        let no_stream = jetstream::context::PublishError::new(PublishErrorKind::StreamNotFound);
        assert!(error_means_no_stream(&classify(&no_stream)));
    }
}
