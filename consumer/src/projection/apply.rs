//! Applying events: the exactly-once and in-order rules.
//!
//! A batch is one `BEGIN IMMEDIATE` transaction; inside it every event either takes effect
//! together with its inbox row or not at all, so a crash at any point leaves each event
//! applied completely or not at all, and a redelivery finds the inbox row and is skipped.
//!
//! Order is checked per (product, store) with the stock row `version` the event carries: an
//! event applies only when it brings the row to exactly `version + 1`. Lower or equal means it
//! is already reflected (a duplicate); higher means events are missing: a [`Gap`], and the
//! batch stops there so the caller can repair from the audit log and then go on.

use inventory_shared::events::{EventType, NewEvent};
use inventory_shared::time::{self, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};

use super::{Projection, Via};
use crate::event::Incoming;

/// Events are missing before this one for one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// Index in the batch of the event that revealed it (not applied).
    pub index: usize,
    /// The event's `seq`.
    pub seq: i64,
    /// Product.
    pub product_id: String,
    /// Store.
    pub store_id: String,
    /// The row's version here.
    pub have: i64,
    /// The version the event brings it to.
    pub got: i64,
}

/// What applying a batch did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    /// The type of each event applied, in order.
    pub applied: Vec<EventType>,
    /// Events skipped because they were applied before.
    pub duplicates: u64,
    /// Set when the batch stopped at a gap; events from `gap.index` on were not looked at.
    pub gap: Option<Gap>,
    /// `seq` and commit time of the last event applied or skipped.
    pub last: Option<(i64, Timestamp)>,
}

/// How one event changes one row.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Absolute on-hand quantity (and reserved when the event states it).
    Set {
        quantity: i64,
        reserved: Option<i64>,
    },
    /// Relative change (reservations).
    Delta { quantity: i64, reserved: i64 },
}

#[derive(Debug, Clone, Copy)]
struct Step<'a> {
    product_id: &'a str,
    store_id: &'a str,
    /// The row's version after the event; 0 for events written before versions were carried.
    version: i64,
    change: Change,
}

fn steps(event: &NewEvent) -> Vec<Step<'_>> {
    let delta = |product_id, store_id, version, quantity, reserved| Step {
        product_id,
        store_id,
        version,
        change: Change::Delta { quantity, reserved },
    };
    match event {
        NewEvent::StockCreated(p) => vec![Step {
            product_id: &p.product_id,
            store_id: &p.store_id,
            version: p.version,
            change: Change::Set {
                quantity: p.quantity,
                reserved: Some(0),
            },
        }],
        NewEvent::StockUpdated(p) => vec![Step {
            product_id: &p.product_id,
            store_id: &p.store_id,
            version: p.version,
            change: Change::Set {
                quantity: p.new_quantity,
                reserved: Some(p.reserved),
            },
        }],
        NewEvent::StockTransferred(p) => vec![
            Step {
                product_id: &p.product_id,
                store_id: &p.from_store,
                version: p.from_version,
                change: Change::Set {
                    quantity: p.from_new_quantity,
                    reserved: None,
                },
            },
            Step {
                product_id: &p.product_id,
                store_id: &p.to_store,
                version: p.to_version,
                change: Change::Set {
                    quantity: p.to_new_quantity,
                    reserved: None,
                },
            },
        ],
        NewEvent::ReservationCreated(p) => {
            vec![delta(&p.product_id, &p.store_id, p.version, 0, p.quantity)]
        }
        NewEvent::ReservationConfirmed(p) => vec![delta(
            &p.product_id,
            &p.store_id,
            p.version,
            -p.quantity,
            -p.quantity,
        )],
        NewEvent::ReservationCancelled(p) => {
            vec![delta(&p.product_id, &p.store_id, p.version, 0, -p.quantity)]
        }
        NewEvent::ReservationExpired(p) => {
            vec![delta(&p.product_id, &p.store_id, p.version, 0, -p.quantity)]
        }
        // Only the deadline moved: no stock row changes (and the event carries no version).
        NewEvent::ReservationExtended(_) => vec![],
    }
}

/// (quantity, reserved, version) of a row.
type Current = (i64, i64, i64);

enum Verdict {
    Apply(Current),
    AlreadyThere,
    Missing { have: i64 },
}

fn judge(step: &Step<'_>, current: Option<Current>) -> Verdict {
    let have = current.map_or(0, |c| c.2);
    let base = current.unwrap_or((0, 0, 0));
    if step.version == 0 {
        // An event from before versions were carried: trust the delivery order.
        return match (current, step.change) {
            (None, Change::Delta { .. }) => Verdict::Missing { have },
            _ => Verdict::Apply(base),
        };
    }
    if step.version <= have {
        Verdict::AlreadyThere
    } else if step.version == have + 1 {
        Verdict::Apply(base)
    } else {
        Verdict::Missing { have }
    }
}

enum EventResult {
    Applied,
    Duplicate,
    Gap(Gap),
}

impl Projection {
    /// Applies `events` in order in one transaction; stops at the first gap (see [`Gap`]).
    pub fn apply_batch(&mut self, events: &[Incoming], via: Via) -> rusqlite::Result<BatchOutcome> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcome = BatchOutcome::default();
        let applied_us = time::now().timestamp_micros();
        for (index, incoming) in events.iter().enumerate() {
            match apply_one(&tx, incoming, via, applied_us, index)? {
                EventResult::Applied => outcome.applied.push(incoming.event_type()),
                EventResult::Duplicate => outcome.duplicates += 1,
                EventResult::Gap(gap) => {
                    outcome.gap = Some(gap);
                    break;
                }
            }
            outcome.last = Some((incoming.seq, incoming.created_at));
        }
        if let Some((seq, _)) = outcome.last {
            tx.prepare_cached(
                "INSERT INTO consumer_state (key, value) VALUES ('last_seq', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
            )?
            .execute([seq])?;
        }
        tx.commit()?;
        Ok(outcome)
    }
}

fn apply_one(
    tx: &Transaction<'_>,
    incoming: &Incoming,
    via: Via,
    applied_us: i64,
    index: usize,
) -> rusqlite::Result<EventResult> {
    let seen = tx
        .prepare_cached("SELECT 1 FROM inbox WHERE event_id = ?")?
        .query_row([&incoming.id], |_| Ok(()))
        .optional()?;
    if seen.is_some() {
        return Ok(EventResult::Duplicate);
    }
    let steps = steps(&incoming.event);
    let mut plan = Vec::with_capacity(steps.len());
    for step in &steps {
        let current: Option<Current> = tx
            .prepare_cached(
                "SELECT quantity, reserved, version FROM availability \
                 WHERE product_id = ? AND store_id = ?",
            )?
            .query_row(params![step.product_id, step.store_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()?;
        match judge(step, current) {
            Verdict::Apply(base) => plan.push((step, base)),
            Verdict::AlreadyThere => {}
            Verdict::Missing { have } => {
                return Ok(EventResult::Gap(Gap {
                    index,
                    seq: incoming.seq,
                    product_id: step.product_id.to_owned(),
                    store_id: step.store_id.to_owned(),
                    have,
                    got: step.version,
                }));
            }
        }
    }
    let updated_at = time::to_db(&incoming.created_at);
    for (step, (quantity, reserved, version)) in &plan {
        let (quantity, reserved) = match step.change {
            Change::Set {
                quantity,
                reserved: new_reserved,
            } => (quantity, new_reserved.unwrap_or(*reserved)),
            Change::Delta {
                quantity: dq,
                reserved: dr,
            } => (quantity + dq, reserved + dr),
        };
        let version = if step.version > 0 {
            step.version
        } else {
            version + 1
        };
        tx.prepare_cached(
            "INSERT INTO availability (product_id, store_id, quantity, reserved, version, \
             updated_at, last_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (product_id, store_id) DO UPDATE SET quantity = excluded.quantity, \
             reserved = excluded.reserved, version = excluded.version, \
             updated_at = excluded.updated_at, last_seq = excluded.last_seq",
        )?
        .execute(params![
            step.product_id,
            step.store_id,
            quantity,
            reserved,
            version,
            updated_at,
            incoming.seq
        ])?;
    }
    tx.prepare_cached(
        "INSERT INTO inbox (event_id, seq, event_type, created_us, applied_us, via) \
         VALUES (?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        incoming.id,
        incoming.seq,
        incoming.event_type().as_str(),
        incoming.created_at.timestamp_micros(),
        applied_us,
        via.as_str()
    ])?;
    // An event that changes no row (`reservation.extended`) is applied: its inbox row is
    // written and it counts as applied, not as a duplicate.
    Ok(if plan.is_empty() && !steps.is_empty() {
        EventResult::Duplicate
    } else {
        EventResult::Applied
    })
}
