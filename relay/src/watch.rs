//! The early wake-up: a dedicated connection polls `PRAGMA data_version`, which changes when
//! another connection commits to the file, and wakes the publish loop. This is what makes the
//! usual commit-to-broker delay milliseconds instead of `RELAY_POLL_INTERVAL`.
//!
//! It has its own connection (not one from the pools) because `data_version` is per
//! connection: it only reports commits made by *other* connections since this one last looked.
//!
//! On PostgreSQL the writers `NOTIFY` at commit (`outbox::postgres::append_events`) and
//! [`listen`] wakes the loop on each notification. What was sent while the listener was away
//! is gone, so [`listen`] also wakes the loop after every (re)connect, and probes a quiet
//! connection so a half-open socket is rebuilt rather than waited on forever. A notification
//! only wakes the loop early; the loop's poll (`RELAY_POLL_INTERVAL`) is what guarantees every
//! event is seen.

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

/// How long a quiet `LISTEN` connection goes before it is probed (`SELECT 1`).
pub const LISTEN_PROBE: Duration = Duration::from_secs(5);

/// How long a probe may take before the connection counts as dead (a half-open socket).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `LISTEN`s to the outbox channel on a connection of `pool` and calls `notify_one` on `wake`
/// for each notification, until `shutdown` is cancelled.
///
/// A notification sent while nobody listens is gone, so the listener is rebuilt, and wakes
/// the loop once it listens again, whenever it may have missed some: when sqlx reports the
/// connection lost (`try_recv` answers `None`; plain `recv` would reconnect without telling)
/// and when a quiet connection fails its probe (every [`LISTEN_PROBE`], within
/// [`PROBE_TIMEOUT`]: a half-open socket would otherwise block `recv` forever). A failing
/// listener is logged once per outage.
pub async fn listen(
    pool: PgPool,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut failing = false;
    let mut listener: Option<PgListener> = None;
    loop {
        let Some(connected) = listener.as_mut() else {
            let connect = async {
                let mut new = PgListener::connect_with(&pool).await?;
                new.listen(CHANNEL).await?;
                Ok::<_, sqlx::Error>(new)
            };
            let result = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                result = connect => result,
            };
            match result {
                Ok(new) => {
                    listener = Some(new);
                    if std::mem::take(&mut failing) {
                        tracing::info!("LISTEN connection back");
                    }
                    // Whatever was committed while nobody listened: look now.
                    wake.notify_one();
                }
                Err(error) => {
                    lost(&mut failing, &error.to_string());
                    tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
            continue;
        };
        let received = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            received = connected.try_recv() => Some(received),
            () = tokio::time::sleep(LISTEN_PROBE) => None,
        };
        // Any loss drops the listener: the next turn builds a new one and, once it listens,
        // wakes the loop for what the gap may have hidden.
        match received {
            Some(Ok(Some(_))) => wake.notify_one(),
            Some(Ok(None)) => {
                lost(&mut failing, "the connection dropped");
                listener = None;
            }
            Some(Err(error)) => {
                lost(&mut failing, &error.to_string());
                listener = None;
            }
            None => {
                let probe = sqlx::query("SELECT 1").execute(&mut *connected);
                match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => {
                        lost(&mut failing, &error.to_string());
                        listener = None;
                    }
                    Err(_) => {
                        lost(&mut failing, "no answer to a probe");
                        listener = None;
                    }
                }
            }
        }
    }
}

/// Logs a lost `LISTEN` connection once per outage.
fn lost(failing: &mut bool, error: &str) {
    if !std::mem::replace(failing, true) {
        tracing::warn!(
            error,
            "LISTEN connection lost; rebuilding it, and polling meanwhile"
        );
    }
}
