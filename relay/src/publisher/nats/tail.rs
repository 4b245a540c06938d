//! Crash recovery: which pending events the stream's tail already holds (by their `seq`
//! header), so they are marked instead of resent.

use super::NatsPublisher;
use crate::publisher::PublishError;

impl NatsPublisher {
    pub(super) async fn find_already_published(
        &mut self,
        oldest: i64,
        window: usize,
    ) -> Result<Vec<i64>, PublishError> {
        let context = self.ensure_stream().await?;
        let mut stream = context
            .get_stream(&self.settings.connection.nats_stream)
            .await
            .map_err(|e| {
                PublishError::Transient(format!(
                    "reading stream {}: {e}",
                    self.settings.connection.nats_stream
                ))
            })?;
        let info = stream
            .info()
            .await
            .map_err(|e| PublishError::Transient(format!("reading stream info: {e}")))?;
        let (first_stream_seq, mut stream_seq) =
            (info.state.first_sequence, info.state.last_sequence);

        // Walk back from the newest message while it holds events at or after the oldest
        // pending one: what a relay left published but unmarked is the stream's last messages
        // (relay/src/step.rs), all of them pending, so at or above `oldest`. Bounded by the
        // reconciliation window, in case foreign messages share the subjects.
        let limit = window.max(1);
        let mut found = Vec::new();
        let mut scanned = 0;
        while stream_seq >= first_stream_seq.max(1) && scanned < limit {
            scanned += 1;
            let message = match stream.get_raw_message(stream_seq).await {
                Ok(message) => message,
                Err(e)
                    if matches!(
                        e.kind(),
                        async_nats::jetstream::stream::LastRawMessageErrorKind::NoMessageFound
                    ) =>
                {
                    stream_seq -= 1;
                    continue;
                }
                Err(e) => {
                    return Err(PublishError::Transient(format!(
                        "reading stream message {stream_seq}: {e}"
                    )));
                }
            };
            stream_seq -= 1;
            let Some(seq) = message
                .headers
                .get("seq")
                .and_then(|v| v.as_str().parse::<i64>().ok())
            else {
                continue;
            };
            if seq < oldest {
                break;
            }
            found.push(seq);
        }
        found.sort_unstable();
        found.dedup();
        if !found.is_empty() {
            tracing::info!(
                count = found.len(),
                "events already in the NATS stream (published before a restart)"
            );
        }
        Ok(found)
    }
}
