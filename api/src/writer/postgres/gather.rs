//! Gathering a batch on PostgreSQL: when the writer is busy, a batch waits a fraction of a
//! millisecond for the callers that are about to send, so that fewer, larger batches commit.
//!
//! Why: callers that send again as soon as they are answered split into groups that take
//! turns. The writer takes what waits the moment it is free, which is the group that arrived
//! during the last commit, while the group it just answered is still on its way back; each
//! batch then holds about half of the callers. On PostgreSQL a batch's commit is a WAL flush
//! with its rows locked (and, across replicas, the outbox's `seq` lock held) until the flush
//! ends, so halving the number of batches for the same writes is what lets replicas that
//! share rows go faster (`docs/postgres.md`, "Gathering a batch": two replicas on 64 pairs
//! went from 8.1 to 11.5 jobs a batch).
//!
//! When: only while another writer (a replica) changes the same rows, as the tries of
//! batches from the replica's cache find out (`unlocking.rs`); only when the writer is busy:
//! its last batch held more than one job and it waited for this batch's first job less than
//! a recent batch's time (a write that finds the writer idle never waits); and only while
//! jobs keep coming (each within [`QUIET`] of the one before, or of the start), for at most
//! the shorter of `WRITE_GATHER` and a quarter of a recent batch's time (plus one look at
//! the queue), up to the batch's most jobs.
//!
//! SQLite's writer does not gather: its commit is cheap next to a PostgreSQL round trip
//! and it has no replicas to take turns with. Nor does a replica whose rows no other
//! writes: its batches mostly go as one statement from its cache, its writer is busy all
//! the time, and time spent waiting is lost (measured: 0.93 of the rate without).

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::super::queue::{Message, take_waiting};

/// How often the queue is looked at while gathering (a sleep: the tokio timer's resolution
/// is a millisecond, too coarse here).
const POLL: Duration = Duration::from_micros(50);

/// Gathering ends when no job came for this long.
pub(super) const QUIET: Duration = Duration::from_micros(150);

/// When the writer waits for more jobs, and for how long at most.
#[derive(Debug)]
pub(super) struct Gather {
    /// The longest a batch waits (`WRITE_GATHER`); zero: never.
    most: Duration,
    /// Gathering ends when no job came for this long.
    quiet: Duration,
    /// Jobs in the previous batch.
    last_jobs: usize,
    /// Whether another writer lately changed the rows this one writes.
    shared: bool,
    /// A recent batch's time from its start to its answers (a moving average).
    recent: Duration,
}

impl Gather {
    /// Waits at most `most` for more jobs (zero: never waits).
    pub fn new(most: Duration) -> Self {
        Self {
            most,
            quiet: QUIET,
            last_jobs: 0,
            shared: false,
            recent: Duration::ZERO,
        }
    }

    /// After [`super::super::queue::next_batch`] took what was waiting, having waited `idle`
    /// for the first job: takes the jobs that come within the gathering window (none when
    /// it does not apply), up to `max_batch`. Answers `true` when the writer must stop after
    /// this batch (as `next_batch` does).
    pub fn more<J>(
        &self,
        queue: &mut mpsc::Receiver<Message<J>>,
        batch: &mut Vec<J>,
        max_batch: usize,
        idle: Duration,
    ) -> bool {
        let window = self.window(idle);
        if window.is_zero() || batch.len() >= max_batch {
            return false;
        }
        let started = Instant::now();
        let mut last_arrival = started;
        loop {
            std::thread::sleep(POLL);
            let before = batch.len();
            if take_waiting(queue, batch, max_batch) {
                return true;
            }
            let now = Instant::now();
            if batch.len() > before {
                last_arrival = now;
            }
            if batch.len() >= max_batch
                || now.duration_since(last_arrival) >= self.quiet
                || now.duration_since(started) >= window
            {
                return false;
            }
        }
    }

    /// Records a batch of `jobs` that took `took` from its start to its answers; `shared`:
    /// another writer lately changed the rows this one writes.
    pub fn ended(&mut self, jobs: usize, took: Duration, shared: bool) {
        self.last_jobs = jobs;
        self.shared = shared;
        self.recent = if self.recent.is_zero() {
            took
        } else {
            (self.recent * 7 + took) / 8
        };
    }

    /// How long the next batch may wait: nothing when no other writer shares the rows, or
    /// when the writer is not busy (its last batch held one job, or it waited `idle` for
    /// this batch's first job longer than a recent batch takes), else the shorter of `most`
    /// and a quarter of a recent batch's time.
    fn window(&self, idle: Duration) -> Duration {
        if !self.shared || self.last_jobs < 2 || idle > self.recent {
            return Duration::ZERO;
        }
        self.most.min(self.recent / 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that shares its rows and ran batches of 10 jobs taking 40 s each: a window of
    /// 10 s unless `most` is shorter, and lulls of `quiet`. Long enough for a loaded machine.
    fn busy(most: Duration, quiet: Duration) -> Gather {
        let mut gather = Gather::new(most);
        gather.quiet = quiet;
        gather.ended(10, Duration::from_secs(40), true);
        gather
    }

    const BUSY: Duration = Duration::ZERO;

    #[test]
    fn a_busy_writer_takes_the_jobs_that_keep_coming() {
        // Each job comes 100 ms after the one before: more than a poll, well within the lull
        // (measured from the last job: from the start, the third would be past it).
        let gather = busy(Duration::from_secs(10), Duration::from_millis(250));
        let (send, mut queue) = mpsc::channel(16);
        let keep = send.clone();
        let sender = std::thread::spawn(move || {
            for job in 1..=3 {
                std::thread::sleep(Duration::from_millis(100));
                send.try_send(Message::Job(job)).expect("room");
            }
        });
        let mut batch = vec![0];
        assert!(!gather.more(&mut queue, &mut batch, 8, BUSY));
        assert_eq!(batch, [0, 1, 2, 3]);
        sender.join().expect("sender");
        drop(keep);
    }

    #[test]
    fn gathering_ends_at_a_lull_the_batch_size_or_the_window() {
        let (send, mut queue) = mpsc::channel::<Message<u32>>(16);
        // Nothing comes: it waits about the lull, not the 10 s window.
        let gather = busy(Duration::from_secs(10), Duration::from_millis(10));
        let started = Instant::now();
        assert!(!gather.more(&mut queue, &mut vec![0], 8, BUSY));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(10), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");

        // A full batch takes nothing more, though a job waits.
        send.try_send(Message::Job(9)).expect("room");
        let gather = busy(Duration::from_secs(10), Duration::from_secs(10));
        let mut batch: Vec<u32> = (0..8).collect();
        assert!(!gather.more(&mut queue, &mut batch, 8, BUSY));
        assert_eq!(batch.len(), 8);
        assert!(matches!(queue.try_recv(), Ok(Message::Job(9))));

        // Jobs that keep coming stop at the window (200 ms), not at the 10 s lull.
        let keep = send.clone();
        let sender = std::thread::spawn(move || {
            for job in 1..=1_000 {
                match send.try_send(Message::Job(job)) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => break,
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        let gather = busy(Duration::from_millis(200), Duration::from_secs(10));
        let started = Instant::now();
        let mut batch = vec![0];
        assert!(!gather.more(&mut queue, &mut batch, 100_000, BUSY));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200), "{waited:?}");
        assert!(waited < Duration::from_secs(8), "{waited:?}");
        assert!(batch.len() > 2, "{batch:?}");
        drop(queue);
        sender.join().expect("sender");
        drop(keep);
    }

    #[test]
    fn an_idle_writer_a_caller_alone_rows_of_its_own_or_a_zero_setting_never_wait() {
        let ten = Duration::from_secs(10);
        let mut alone = busy(ten, ten);
        alone.ended(1, Duration::from_secs(40), true);
        let mut own_rows = busy(ten, ten);
        own_rows.ended(10, Duration::from_secs(40), false);
        let mut off = busy(Duration::ZERO, ten);
        off.ended(10, Duration::from_secs(40), true);
        let cases = [
            ("last batch of one job", alone, BUSY),
            ("no other writer", own_rows, BUSY),
            ("WRITE_GATHER=0", off, BUSY),
            (
                "idle longer than a batch",
                busy(ten, ten),
                Duration::from_secs(41),
            ),
        ];
        for (case, gather, idle) in cases {
            let (send, mut queue) = mpsc::channel::<Message<u32>>(4);
            send.try_send(Message::Job(1)).expect("room");
            let mut batch = vec![0];
            // Gathering would take the waiting job (and then wait out a 10 s lull).
            assert!(!gather.more(&mut queue, &mut batch, 8, idle), "{case}");
            assert_eq!(batch, [0], "{case}");
            assert!(matches!(queue.try_recv(), Ok(Message::Job(1))), "{case}");
        }
    }

    #[test]
    fn a_stop_while_gathering_stops_after_the_batch_with_every_queued_job() {
        let gather = busy(Duration::from_secs(10), Duration::from_secs(10));
        let (send, mut queue) = mpsc::channel(16);
        send.try_send(Message::Job(1)).expect("room");
        send.try_send(Message::Stop).expect("room");
        send.try_send(Message::Job(2)).expect("room");
        let mut batch = vec![0];
        assert!(gather.more(&mut queue, &mut batch, 8, BUSY));
        assert_eq!(batch, [0, 1, 2]);
    }
}
