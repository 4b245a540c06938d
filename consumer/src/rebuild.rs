//! `inventory-consumer rebuild [--archive DIR]`: drops the projection and rebuilds it from
//! the API's audit log (state reconstruction from events), with a progress bar on a terminal.
//!
//! With `--archive`, the events the API's retention archived and deleted are read back from
//! the archive folder first, merged by `seq` with what the audit log still holds from that
//! time (pending and parked events are never archived; an event archived just before a crash
//! may be in both, and is applied once), then the rest of the audit log follows.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::audit::{self, AuditLog, SharedProjection};
use crate::config::Settings;
use crate::event::Incoming;
use crate::metrics::Metrics;
use crate::projection::{Projection, Via};

/// What a rebuild did.
#[derive(Debug, Clone, Copy)]
pub struct Rebuilt {
    /// Events read from the archive and the audit log (each counted once).
    pub events: u64,
    /// Rows in the rebuilt projection.
    pub rows: i64,
    /// How long it took.
    pub elapsed: std::time::Duration,
}

/// Empties the projection at the settings' path and replays the archive (when given) and
/// the whole audit log into it. Prints the final line (`rebuilt … in …`) on `out`.
pub async fn run(
    settings: &Settings,
    archive: Option<&Path>,
    out: &mut impl Write,
) -> anyhow::Result<Rebuilt> {
    let started = Instant::now();
    let audit = AuditLog::new(&settings.api)?;
    let mut projection = Projection::open(&settings.database_path())?;
    projection.clear().context("emptying the projection")?;
    let projection = Arc::new(Mutex::new(projection));
    let total = audit.total().await.context("counting the audit log")?;
    // `stderr()` draws only on a terminal: piped or in CI the bar stays hidden.
    let bar =
        ProgressBar::with_draw_target(Some(total.max(0) as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} rebuilding [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let metrics = Metrics::new();
    let (from_archive, after_seq) = match archive {
        Some(dir) => {
            let batch = settings.consumer_batch_size as usize;
            replay_archive(&projection, &audit, dir, batch, &bar).await?
        }
        None => (0, 0),
    };
    let done = audit::catch_up(&projection, &audit, &metrics, after_seq, |n| bar.inc(n)).await?;
    bar.finish_and_clear();
    let rows = {
        let guard = projection
            .lock()
            .map_err(|_| anyhow::anyhow!("projection lock poisoned"))?;
        guard.row_count()?
    };
    let rebuilt = Rebuilt {
        events: from_archive + done.read,
        rows,
        elapsed: started.elapsed(),
    };
    writeln!(
        out,
        "rebuilt {} events into {} rows in {:.2}s",
        rebuilt.events,
        rebuilt.rows,
        rebuilt.elapsed.as_secs_f64()
    )?;
    Ok(rebuilt)
}

/// Applies the archive merged by `seq` with the audit log's events up to the archive's end;
/// returns how many events it applied and the last `seq`, where the audit log takes over.
async fn replay_archive(
    projection: &SharedProjection,
    audit: &AuditLog,
    dir: &Path,
    batch: usize,
    bar: &ProgressBar,
) -> anyhow::Result<(u64, i64)> {
    let mut archived = crate::archive::stream(dir, batch);
    let mut from_archive: VecDeque<Incoming> = VecDeque::new();
    let mut from_log: VecDeque<Incoming> = VecDeque::new();
    let mut log_after = 0;
    let mut log_done = false;
    let mut archive_done = false;
    let mut ready: Vec<Incoming> = Vec::with_capacity(batch);
    let (mut applied, mut last_seq) = (0_u64, 0_i64);
    loop {
        if from_archive.is_empty() && !archive_done {
            match archived.recv().await {
                Some(events) => {
                    let events = events.context("reading the archive")?;
                    bar.inc_length(events.len() as u64);
                    from_archive.extend(events);
                }
                None => archive_done = true,
            }
            continue;
        }
        let Some(next_archived) = from_archive.front().map(|e| e.seq) else {
            break;
        };
        if from_log.is_empty() && !log_done && log_after < next_archived {
            let page = audit.page(log_after).await?;
            match (page.events.last(), page.next_after_seq) {
                (Some(last), more) => {
                    log_after = last.seq;
                    log_done = more.is_none();
                }
                (None, _) => log_done = true,
            }
            from_log.extend(page.events);
            continue;
        }
        let event = match from_log.front().map(|e| e.seq) {
            Some(seq) if seq < next_archived => from_log.pop_front(),
            Some(seq) if seq == next_archived => {
                from_log.pop_front();
                from_archive.pop_front()
            }
            _ => from_archive.pop_front(),
        };
        let Some(event) = event else { break };
        if event.seq <= last_seq {
            continue;
        }
        last_seq = event.seq;
        ready.push(event);
        if ready.len() >= batch {
            applied += apply(projection, std::mem::take(&mut ready), bar).await?;
        }
    }
    applied += apply(projection, ready, bar).await?;
    Ok((applied, last_seq))
}

/// Applies one merged batch; a gap here means the archive and the log together lack events.
async fn apply(
    projection: &SharedProjection,
    events: Vec<Incoming>,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let count = events.len() as u64;
    if count == 0 {
        return Ok(0);
    }
    let outcome = audit::apply(projection, events, Via::AuditLog).await?;
    if let Some(gap) = outcome.gap {
        anyhow::bail!(
            "the archive and the audit log lack events of ({}, {}) between version {} and {} \
             (seq {}): was retention on before EVENTS_ARCHIVE_DIR was set?",
            gap.product_id,
            gap.store_id,
            gap.have,
            gap.got,
            gap.seq
        );
    }
    bar.inc(count);
    Ok(count)
}
