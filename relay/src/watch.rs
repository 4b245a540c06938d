//! The early wake-up: a dedicated connection polls `PRAGMA data_version`, which changes when
//! another connection commits to the file, and wakes the publish loop. This is what makes the
//! usual commit-to-broker delay milliseconds instead of `RELAY_POLL_INTERVAL`.
//!
//! It has its own connection (not one from the pools) because `data_version` is per
//! connection: it only reports commits made by *other* connections since this one last looked.

use std::sync::Arc;
use std::time::Duration;

use inventory_shared::config::DatabaseSettings;
use inventory_shared::db;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Polls `data_version` every `interval` and calls `notify_one` on `wake` when it changed,
/// until `shutdown` is cancelled. Errors are logged and retried; the periodic poll of the loop
/// still covers the outbox meanwhile.
pub async fn watch_commits(
    database: DatabaseSettings,
    interval: Duration,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut connection = db::open_watcher(&database).await?;
    let mut last = None;
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        match db::data_version(&mut connection).await {
            Ok(version) => {
                if last.is_some_and(|v| v != version) {
                    wake.notify_one();
                }
                last = Some(version);
                failing = false;
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(error = %error, "cannot read data_version; relying on polling");
            }
            Err(_) => {}
        }
    }
}
