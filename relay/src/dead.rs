//! `inventory-relay dead list` and `inventory-relay dead retry [--seq N]`: the operator's path
//! for events the broker kept rejecting and the relay parked.
//!
//! Retrying clears `dead_at` and the attempt count; a running relay notices the change through
//! its commit watcher and publishes the events again. A revived event is published after the
//! newer events that went ahead while it was parked (its `seq` tells consumers where it
//! belongs).

use std::io::Write;

use anyhow::Context;
use inventory_shared::config::DatabaseSettings;
use inventory_shared::db;
use inventory_shared::outbox;
use inventory_shared::time;

use crate::config::{DeadCommand, Settings};

/// Runs a `dead` subcommand, writing its report to `out`.
pub async fn run(
    settings: &Settings,
    command: &DeadCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    settings.database.require_sqlite()?;
    db::migrate(&settings.database).await?;
    match command {
        DeadCommand::List { limit } => list(&settings.database, *limit, out),
        DeadCommand::Retry { seq } => retry(&settings.database, *seq, out).await,
    }
}

fn list(database: &DatabaseSettings, limit: i64, out: &mut impl Write) -> anyhow::Result<()> {
    let conn = db::open_reader(&database.path())?;
    let dead = outbox::list_dead(&conn, limit.max(1)).context("listing parked events")?;
    if dead.is_empty() {
        writeln!(out, "no parked events")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:>10}  {:<36}  {:<22}  {:>8}  {:<27}  last_error",
        "seq", "id", "event_type", "attempts", "dead_at"
    )?;
    for event in &dead {
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

async fn retry(
    database: &DatabaseSettings,
    seq: Option<i64>,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut conn = db::open_admin(database).await?;
    let revived = outbox::revive_dead(&mut conn, seq)
        .await
        .context("reviving parked events")?;
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
