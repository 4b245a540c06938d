//! `inventory-consumer rebuild`: drops the projection and rebuilds it from the API's audit
//! log alone (state reconstruction from events), with a progress bar on a terminal.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::audit::{self, AuditLog};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::projection::Projection;

/// What a rebuild did.
#[derive(Debug, Clone, Copy)]
pub struct Rebuilt {
    /// Events read from the audit log.
    pub events: u64,
    /// Rows in the rebuilt projection.
    pub rows: i64,
    /// How long it took.
    pub elapsed: std::time::Duration,
}

/// Empties the projection at the settings' path and replays the whole audit log into it.
/// Prints the final line (`rebuilt … in …`) on `out`.
pub async fn run(settings: &Settings, out: &mut impl Write) -> anyhow::Result<Rebuilt> {
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
    let done = audit::catch_up(&projection, &audit, &metrics, 0, |n| bar.inc(n)).await?;
    bar.finish_and_clear();
    let rows = {
        let guard = projection
            .lock()
            .map_err(|_| anyhow::anyhow!("projection lock poisoned"))?;
        guard.row_count()?
    };
    let rebuilt = Rebuilt {
        events: done.read,
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
