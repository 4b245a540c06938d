//! When the PostgreSQL writer tries a batch from the stock rows it remembers
//! (`store::postgres::cache`), and how misses back the tries off.

use std::time::Duration;

/// When the writer tries a batch on the stock rows it remembers, without locking them first
/// (`PgTx::begin_unlocked`, `docs/postgres.md`).
///
/// Only right after another batch ([`Unlocking::BUSY_WITHIN`]): such a batch is one
/// statement that commits on its own, so a connection found dead during it leaves the
/// outcome unknown (answered as a storage error, as a connection lost at `COMMIT` is),
/// whereas a batch begun the usual way finds a dead connection at `BEGIN`, before anything
/// was sent, and runs on a new one. A server that restarted while the writer was idle is
/// found that way; under load, where it matters, batches follow each other closely.
///
/// Each time a row turned out to have changed (another replica writes it), the next tries
/// are skipped for twice as many batches as after the last miss, up to
/// [`Unlocking::MAX_SKIP`]; each commit halves that. So one replica alone writes almost
/// every batch unlocked, and replicas that share hot rows, where most tries miss (and a
/// miss costs a statement's work, under the rows' locks), try about one batch in 257.
#[derive(Debug, Default)]
pub(super) struct Unlocking {
    skip: u32,
    penalty: u32,
    /// When the last batch ended.
    last_batch: Option<std::time::Instant>,
}

impl Unlocking {
    const MAX_SKIP: u32 = 256;
    const BUSY_WITHIN: Duration = Duration::from_millis(250);

    pub(super) fn try_now(&mut self) -> bool {
        let busy = self
            .last_batch
            .is_some_and(|ended| ended.elapsed() < Self::BUSY_WITHIN);
        if !busy {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        true
    }

    /// Whether another writer has lately been changing the rows this one writes: a try
    /// found a row changed and commits since have not worked the back-off down to nothing.
    pub(super) fn rows_shared(&self) -> bool {
        self.penalty > 0
    }

    pub(super) fn batch_ended(&mut self) {
        self.last_batch = Some(std::time::Instant::now());
    }

    pub(super) fn committed(&mut self) {
        self.penalty /= 2;
        crate::metrics::record_write_unlocked("committed");
    }

    /// The batch runs again locked. `stale`: its statement found a row changed (backs the
    /// next tries off); otherwise a job needed the database and nothing was sent (a batch
    /// with the expiry task's job, say), which costs only the jobs' work in memory.
    pub(super) fn locked_instead(&mut self, stale: bool) {
        if stale {
            self.penalty = (self.penalty * 2).clamp(1, Self::MAX_SKIP);
            self.skip = self.penalty;
        }
        crate::metrics::record_write_unlocked("locked_instead");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_shared_from_a_stale_miss_until_commits_work_the_back_off_off() {
        let mut unlocking = Unlocking::default();
        assert!(!unlocking.rows_shared(), "a new writer shares nothing");
        unlocking.locked_instead(false);
        assert!(
            !unlocking.rows_shared(),
            "a job that needed the database says nothing about other writers"
        );
        for _ in 0..4 {
            unlocking.locked_instead(true);
        }
        assert!(unlocking.rows_shared());
        assert_eq!(unlocking.skip, 8);
        for _ in 0..3 {
            unlocking.committed();
            assert!(unlocking.rows_shared());
        }
        unlocking.committed();
        assert!(!unlocking.rows_shared(), "four commits halve 8 to nothing");
    }
}
