//! `inventory-api backup PATH`: a consistent copy of the database while the API and the relay
//! keep running, through SQLite's online backup API.
//!
//! Why one read transaction around the whole copy: the backup API copies a batch of pages per
//! step, and a step that sees the file changed by another connection starts over; under a
//! steady write load it might never finish. Holding one read transaction open on the source
//! connection pins the snapshot the copy started from (WAL readers never block the writer,
//! which keeps committing to the `-wal` file meanwhile), so every step copies the same
//! snapshot: the copy holds exactly what was committed before it began. The price: the WAL
//! cannot be checkpointed past that snapshot until the copy ends, so it grows meanwhile.
//!
//! The copy is written to `PATH.partial`, fsynced, then renamed to `PATH`: a file at `PATH`
//! is always a whole backup. Restoring is copying it back while everything is stopped
//! (`docs/operations.md`, "Backup and restore").

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rusqlite::backup::{Backup, StepResult};

/// Pages copied per step (4 MiB with 4 KiB pages): progress moves often enough to be seen.
const PAGES_PER_STEP: i32 = 1024;

/// What a backup copied.
#[derive(Debug, Clone, Copy)]
pub struct Copied {
    /// Pages of the snapshot.
    pub pages: u64,
    /// Size of the copy.
    pub bytes: u64,
    /// Times the copy started over (0 while the snapshot is pinned; kept to prove it).
    pub restarts: u32,
    /// How long it took.
    pub elapsed: Duration,
}

/// Copies the database at `source` to `dest` (which must not exist), calling `progress` with
/// (pages copied, pages in all) after every step.
pub fn backup(
    source: &Path,
    dest: &Path,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Copied> {
    let started = Instant::now();
    if dest.exists() {
        bail!(
            "{} exists; a backup never overwrites a file",
            dest.display()
        );
    }
    anyhow::ensure!(
        source.exists(),
        "the database {} does not exist",
        source.display()
    );
    let partial = partial_path(dest);
    if partial.exists() {
        std::fs::remove_file(&partial)
            .with_context(|| format!("removing a stale {}", partial.display()))?;
    }
    let src = inventory_shared::db::open_reader(source)?;
    // The snapshot: a read transaction, really begun by its first read.
    src.execute_batch("BEGIN")?;
    src.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .context("starting the snapshot")?;
    let mut dst = rusqlite::Connection::open(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let (pages, restarts) = copy(&src, &mut dst, &mut progress)
        .with_context(|| format!("copying {} to {}", source.display(), partial.display()))?;
    src.execute_batch("COMMIT")?;
    dst.close()
        .map_err(|(_, e)| e)
        .context("closing the copy")?;
    let file = File::open(&partial)?;
    file.sync_all()
        .with_context(|| format!("fsyncing {}", partial.display()))?;
    let bytes = file.metadata()?.len();
    std::fs::rename(&partial, dest)
        .with_context(|| format!("renaming {} to {}", partial.display(), dest.display()))?;
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("fsyncing {}", dir.display()))?;
    }
    Ok(Copied {
        pages,
        bytes,
        restarts,
        elapsed: started.elapsed(),
    })
}

/// Steps the backup to its end; returns the pages copied and how often it started over.
fn copy(
    src: &rusqlite::Connection,
    dst: &mut rusqlite::Connection,
    progress: &mut impl FnMut(u64, u64),
) -> anyhow::Result<(u64, u32)> {
    let backup = Backup::new(src, dst)?;
    let mut restarts = 0;
    let mut last_remaining = i32::MAX;
    loop {
        let step = backup.step(PAGES_PER_STEP)?;
        let now = backup.progress();
        if now.remaining > last_remaining {
            restarts += 1;
        }
        last_remaining = now.remaining;
        let total = now.pagecount.max(0) as u64;
        progress(total - now.remaining.max(0) as u64, total);
        match step {
            StepResult::Done => return Ok((total, restarts)),
            StepResult::More => {}
            // Busy/Locked: the destination is in use by someone else; wait and retry.
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}
