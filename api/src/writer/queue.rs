//! A writer thread's queue, the same for both backends: callers send their jobs, the thread
//! takes them in batches, one transaction (one commit) per batch.

use tokio::sync::mpsc;

/// What a writer's queue carries: a job, or the request to finish and stop.
pub(super) enum Message<J> {
    /// A caller's write.
    Job(J),
    /// Finish what is queued, then stop.
    Stop,
}

impl<J> std::fmt::Debug for Message<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Job(_) => "Job",
            Self::Stop => "Stop",
        })
    }
}

/// Waits for the next job, then takes every other one already waiting, up to `max_batch` in
/// all, into `batch`: one commit for all of them. Answers `true` when the writer must stop
/// after this batch (asked to, or every sender gone); the queue is then closed and what was
/// still in it is in `batch` too, since those callers are waiting for an answer.
pub(super) fn next_batch<J>(
    queue: &mut mpsc::Receiver<Message<J>>,
    batch: &mut Vec<J>,
    max_batch: usize,
) -> bool {
    match queue.blocking_recv() {
        Some(Message::Job(job)) => batch.push(job),
        Some(Message::Stop) | None => return stop(queue, batch),
    }
    take_waiting(queue, batch, max_batch)
}

/// Takes the jobs already waiting, without waiting, until `batch` holds `max_batch`. Answers
/// `true` when the writer must stop after this batch, as [`next_batch`] does.
pub(super) fn take_waiting<J>(
    queue: &mut mpsc::Receiver<Message<J>>,
    batch: &mut Vec<J>,
    max_batch: usize,
) -> bool {
    while batch.len() < max_batch {
        match queue.try_recv() {
            Ok(Message::Job(job)) => batch.push(job),
            Ok(Message::Stop) | Err(mpsc::error::TryRecvError::Disconnected) => {
                return stop(queue, batch);
            }
            Err(mpsc::error::TryRecvError::Empty) => break,
        }
    }
    false
}

/// Closes the queue and takes what is still in it: those callers wait for an answer.
fn stop<J>(queue: &mut mpsc::Receiver<Message<J>>, batch: &mut Vec<J>) -> bool {
    queue.close();
    while let Ok(message) = queue.try_recv() {
        if let Message::Job(job) = message {
            batch.push(job);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_what_waits_up_to_its_size_and_a_stop_takes_the_rest() {
        let (send, mut queue) = mpsc::channel(16);
        for job in 0..5 {
            send.try_send(Message::Job(job)).expect("room");
        }
        let mut batch = Vec::new();
        assert!(!next_batch(&mut queue, &mut batch, 3));
        assert_eq!(batch, [0, 1, 2]);

        batch.clear();
        send.try_send(Message::Stop).expect("room");
        send.try_send(Message::Job(9)).expect("room");
        assert!(next_batch(&mut queue, &mut batch, 3));
        assert_eq!(
            batch,
            [3, 4, 9],
            "queued callers are served before the stop"
        );
        assert!(send.try_send(Message::Job(10)).is_err(), "closed");
    }

    #[test]
    fn taking_what_waits_stops_once_every_sender_is_gone_and_keeps_their_jobs() {
        let (send, mut queue) = mpsc::channel(4);
        send.try_send(Message::Job(1)).expect("room");
        let mut batch = vec![0];
        assert!(!take_waiting(&mut queue, &mut batch, 8), "a sender is left");
        assert_eq!(batch, [0, 1]);
        send.try_send(Message::Job(2)).expect("room");
        drop(send);
        assert!(take_waiting(&mut queue, &mut batch, 8));
        assert_eq!(batch, [0, 1, 2]);
    }

    #[test]
    fn every_sender_gone_stops_the_writer() {
        let (send, mut queue) = mpsc::channel::<Message<u8>>(1);
        drop(send);
        let mut batch = Vec::new();
        assert!(next_batch(&mut queue, &mut batch, 8));
        assert!(batch.is_empty());
    }
}
