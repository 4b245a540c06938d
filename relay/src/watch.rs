//! The early wake-up: a dedicated connection polls `PRAGMA data_version`, which changes when
//! another connection commits to the file, and wakes the publish loop. This is what makes the
//! usual commit-to-broker delay milliseconds instead of `RELAY_POLL_INTERVAL`.
//!
//! It has its own connection (not one from the pools) because `data_version` is per
//! connection: it only reports commits made by *other* connections since this one last looked.
//!
//! On PostgreSQL the writers `NOTIFY` at commit (`outbox::postgres::append_events`) and
//! [`listen`] wakes the loop on each notification. sqlx's `PgListener` reconnects by itself,
//! but what was sent while it was away is gone: a notification only wakes the loop early, the
//! loop's poll (`RELAY_POLL_INTERVAL`) is what guarantees every event is seen.

use std::sync::Arc;
use std::time::Duration;

use inventory_shared::config::DatabaseSettings;
use inventory_shared::db;
use inventory_shared::outbox::postgres::CHANNEL;
use sqlx::postgres::{PgListener, PgPool};
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

/// `LISTEN`s to the outbox channel on a connection of `pool` and calls `notify_one` on `wake`
/// for each notification, until `shutdown` is cancelled. A lost connection is logged once and
/// retried every second (the listener reconnects on the next receive); polling covers the gap.
pub async fn listen(
    pool: PgPool,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut failing = false;
    let mut listener: Option<PgListener> = None;
    loop {
        let received = match listener.as_mut() {
            Some(listener) => tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                received = listener.recv() => received.map(drop),
            },
            None => {
                let connected = async {
                    let mut new = PgListener::connect_with(&pool).await?;
                    new.listen(CHANNEL).await?;
                    Ok::<_, sqlx::Error>(new)
                };
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    connected = connected => connected.map(|new| {
                        listener = Some(new);
                        // Whatever was committed while nobody listened: look now.
                    }),
                }
            }
        };
        match received {
            Ok(()) => {
                wake.notify_one();
                failing = false;
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(error = %error, "LISTEN connection lost; relying on polling");
                    failing = true;
                }
                listener = None;
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
}
