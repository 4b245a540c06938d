//! Publishing a batch: sends pipelined back to back, acknowledgements awaited in order, at
//! most [`ACK_WINDOW`] outstanding.

use std::collections::VecDeque;

use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use bytes::Bytes;
use inventory_shared::outbox::StoredEvent;

use super::errors::{classify, error_means_no_stream};
use super::{ACK_WINDOW, NatsPublisher, subject_for};
use crate::publisher::{BatchFailure, PublishError};

impl NatsPublisher {
    pub(super) async fn publish_batch(
        &mut self,
        events: &[StoredEvent],
    ) -> Result<(), BatchFailure> {
        if events.is_empty() {
            return Ok(());
        }
        let context = self.ensure_stream().await.map_err(|error| BatchFailure {
            published: 0,
            error,
        })?;

        let mut inflight: VecDeque<PublishAckFuture> =
            VecDeque::with_capacity(ACK_WINDOW.min(events.len()));
        // The acknowledged prefix; the first failure ends it. Events acknowledged after a
        // failure are resent with the failed one and dropped by the server as duplicates (same
        // Nats-Msg-Id).
        let mut acked = 0;
        let mut failure: Option<(usize, PublishError)> = None;
        let mut send_error = None;
        let mut previous: Option<&str> = None;
        for event in events {
            if inflight.len() >= ACK_WINDOW
                && let Some(ack) = inflight.pop_front()
            {
                match ack.await {
                    Ok(_) => acked += 1,
                    Err(error) => {
                        failure = Some((acked, classify(&error)));
                        break;
                    }
                }
            }
            let mut message = jetstream::message::PublishMessage::build()
                .payload(Bytes::from(event.envelope_json()))
                .message_id(&event.id)
                .header("seq", event.seq.to_string().as_str())
                .header("event_type", event.event_type.as_str());
            // Each publish after the first of a batch is stored only if the stream's last
            // message is its predecessor. When the server dies mid-batch, the client flushes
            // what it had buffered after reconnecting while the messages in flight at the crash
            // may be lost; without this condition those later messages would be stored ahead
            // of the lost ones' resends, out of order. With it the server refuses them
            // ("wrong last message id", transient) and the next batch resends them in order.
            // The first of a batch needs none: everything before it was acknowledged.
            // (JetStream checks `Nats-Msg-Id` duplicates before this condition, so a resend of
            // something already stored is still acknowledged as a duplicate.)
            if let Some(previous) = previous {
                message = message.expected_last_message_id(previous);
            }
            previous = Some(event.id.as_str());
            match context.send_publish(subject_for(event), message).await {
                Ok(ack) => inflight.push_back(ack),
                Err(error) => {
                    send_error = Some(classify(&error));
                    break;
                }
            }
        }
        // Await what is still in flight, in order, until the first failure. Each ack's timeout
        // starts when it is awaited, so after a failure (typically a lost connection) the rest
        // are dropped, not awaited one timeout after another; whichever of them were stored are
        // found by `already_published` or dropped by the server as duplicates on the retry.
        for ack in inflight {
            if failure.is_some() {
                break;
            }
            match ack.await {
                Ok(_) => acked += 1,
                Err(error) => failure = Some((acked, classify(&error))),
            }
        }
        // Everything sent was acknowledged, but the next event could not even be sent.
        if failure.is_none()
            && let Some(error) = send_error
        {
            failure = Some((acked, error));
        }
        match failure {
            None => Ok(()),
            Some((published, error)) => {
                if error_means_no_stream(&error) {
                    self.stream_ready = false;
                }
                tracing::warn!(published, error = %error, "NATS batch not fully acknowledged");
                Err(BatchFailure { published, error })
            }
        }
    }
}
