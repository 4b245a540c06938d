//! `inventory-relay dead list` and `inventory-relay dead retry [--seq N]`: the operator's path
//! for events the broker kept rejecting and the relay parked.
//!
//! Retrying clears `dead_at` and the attempt count; a running relay notices the change through
//! its commit watcher and publishes the events again. A revived event is published after the
//! newer events that went ahead while it was parked (its `seq` tells consumers where it
//! belongs).

use std::io::Write;

use anyhow::Context;
use inventory_shared::db::Database;
use inventory_shared::outbox;

use crate::config::{DeadCommand, Settings};

/// Runs a `dead` subcommand, writing its report to `out`.
pub async fn run(
    settings: &Settings,
    command: &DeadCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let db = Database::open(&settings.database, 1).await?;
    let result = match command {
        DeadCommand::List { limit } => list(&db, *limit, out).await,
        DeadCommand::Retry { seq } => retry(&db, *seq, out).await,
    };
    db.close().await;
    result
}

async fn list(db: &Database, limit: i64, out: &mut impl Write) -> anyhow::Result<()> {
    let dead = outbox::list_dead(&db.reader, limit.max(1))
        .await
        .context("listing parked events")?;
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
            event.dead_at,
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

async fn retry(db: &Database, seq: Option<i64>, out: &mut impl Write) -> anyhow::Result<()> {
    let revived = outbox::revive_dead(&db.writer, seq)
        .await
        .context("reviving parked events")?;
    match seq {
        Some(seq) if revived == 0 => {
            anyhow::bail!("event {seq} is not parked (or already published)")
        }
        _ => writeln!(
            out,
            "revived {revived} event(s); the running relay will publish them"
        )?,
    }
    Ok(())
}
