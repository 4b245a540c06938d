//! `inventory-relay dead list` and `inventory-relay dead retry [--seq N]`: the operator's path
//! for events the broker kept rejecting and the relay parked.
//!
//! Retrying clears `dead_at` and the attempt count; a running relay notices the change through
//! its commit watcher (on PostgreSQL the retry notifies it) and publishes the events again. A
//! revived event is published after the newer events that went ahead while it was parked (its
//! `seq` tells consumers where it belongs).

use std::io::Write;

use anyhow::Context;
use inventory_shared::config::{DatabaseSettings, Engine};
use inventory_shared::outbox::{self, StoredEvent};
use inventory_shared::{db, time};
use sqlx::Connection;

use crate::config::{DeadCommand, Settings};

/// How long `dead` waits for PostgreSQL to accept the connection.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Runs a `dead` subcommand, writing its report to `out`.
pub async fn run(
    settings: &Settings,
    command: &DeadCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match settings.database.engine() {
        Engine::Sqlite(_) => {
            db::migrate(&settings.database).await?;
            match command {
                DeadCommand::List { limit } => {
                    let conn = db::open_reader(&settings.database.path())?;
                    let dead = outbox::list_dead(&conn, (*limit).max(1))
                        .context("listing parked events")?;
                    list(&dead, out)
                }
                DeadCommand::Retry { seq } => {
                    let revived = retry_sqlite(&settings.database, *seq).await?;
                    report_retry(*seq, revived, out)
                }
            }
        }
        Engine::Postgres(url) => {
            let options = crate::pg_session::connect_options(&url)?;
            let mut conn =
                tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&options))
                    .await
                    .map_err(|_| anyhow::anyhow!("no answer within {CONNECT_TIMEOUT:?}"))
                    .and_then(|conn| conn.map_err(anyhow::Error::from))
                    .with_context(|| format!("connecting to PostgreSQL ({url})"))?;
            inventory_shared::postgres::MIGRATOR
                .run(&mut conn)
                .await
                .context("applying the PostgreSQL migrations")?;
            match command {
                DeadCommand::List { limit } => {
                    let dead = outbox::postgres::list_dead(&mut conn, (*limit).max(1))
                        .await
                        .context("listing parked events")?;
                    list(&dead, out)
                }
                DeadCommand::Retry { seq } => {
                    let revived = outbox::postgres::revive_dead(&mut conn, *seq)
                        .await
                        .context("reviving parked events")?;
                    report_retry(*seq, revived, out)
                }
            }
        }
    }
}

fn list(dead: &[StoredEvent], out: &mut impl Write) -> anyhow::Result<()> {
    if dead.is_empty() {
        writeln!(out, "no parked events")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>10}  {:<36}  {:<22}  {:>8}  {:<27}  last_error",
        "seq", "id", "event_type", "attempts", "dead_at"
    )?;
    for event in dead {
        writeln!(
            out,
            "{:>10}  {:<36}  {:<22}  {:>8}  {:<27}  {}",
            event.seq,
            event.id,
            event.event_type,
            event.attempts,
            event.dead_at.as_ref().map(time::to_db).unwrap_or_default(),
            event
                .last_error
                .as_deref()
                .unwrap_or("-")
                .replace('\n', " ")
        )?;
    }
    writeln!(out, "{} parked event(s)", dead.len())?;
    Ok(())
}

async fn retry_sqlite(database: &DatabaseSettings, seq: Option<i64>) -> anyhow::Result<u64> {
    let mut conn = db::open_admin(database).await?;
    outbox::revive_dead(&mut conn, seq)
        .await
        .context("reviving parked events")
}

fn report_retry(seq: Option<i64>, revived: u64, out: &mut impl Write) -> anyhow::Result<()> {
    match seq {
        Some(seq) if revived == 0 => {
            anyhow::bail!("event {seq} is not parked (or already synced)")
        }
        _ => writeln!(
            out,
            "revived {revived} event(s); the running relay will publish them"
        )?,
    }
    Ok(())
}
