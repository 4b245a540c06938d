//! Page positions on PostgreSQL: SQLite compares an id in a position as text; here ids are
//! `uuid`, so a position's id becomes the `uuid` bound that selects the same rows.

use inventory_shared::time::{self, Timestamp};
use uuid::Uuid;

use crate::ops::page::AfterInstant;
use crate::ops::{OpError, OpResult};

/// The largest UUID whose canonical text (lower-case, hyphenated) is at most `text` in byte
/// order, or `None` when every UUID's text is greater. For a canonical `text`, that UUID.
///
/// Why: for every canonical UUID text `u`, `u > text` exactly when `u > floor(text)` (text order
/// of canonical texts is `uuid` order), so a position's id, whatever it is, becomes a `uuid`
/// bound that selects the rows SQLite's text comparison selects.
pub(super) fn floor(text: &str) -> Option<u128> {
    const HEX: &[u8] = b"0123456789abcdef";
    let is_hyphen = |i: usize| matches!(i, 8 | 13 | 18 | 23);
    let allowed = |i: usize, c: u8| {
        if is_hyphen(i) {
            c == b'-'
        } else {
            HEX.contains(&c)
        }
    };
    // The largest character allowed at `i` below `c`.
    let below = |i: usize, c: u8| -> Option<u8> {
        if is_hyphen(i) {
            (b'-' < c).then_some(b'-')
        } else {
            HEX.iter().rev().copied().find(|&h| h < c)
        }
    };
    let bytes = text.as_bytes();
    // Returns prefix[..i] + c + the largest completion.
    let build = |i: usize, c: u8| -> Option<u128> {
        let mut out: Vec<u8> = bytes[..i].to_vec();
        out.push(c);
        for j in i + 1..36 {
            out.push(if is_hyphen(j) { b'-' } else { b'f' });
        }
        let text = std::str::from_utf8(&out).ok()?;
        Uuid::try_parse(text).ok().map(|u| u.as_u128())
    };
    // Backtracks: the last position before `i` where a smaller character fits.
    let backtrack = |i: usize| -> Option<u128> {
        (0..i)
            .rev()
            .find_map(|j| below(j, bytes[j]).and_then(|c| build(j, c)))
    };
    for i in 0..36 {
        let Some(&c) = bytes.get(i) else {
            // `text` is a proper prefix of every completion, which is thus greater.
            return backtrack(i);
        };
        if !allowed(i, c) {
            return match below(i, c) {
                Some(smaller) => build(i, smaller),
                None => backtrack(i),
            };
        }
    }
    // The first 36 bytes are a canonical UUID: equal to `text`, or a prefix of it (smaller).
    std::str::from_utf8(&bytes[..36])
        .ok()
        .and_then(|t| Uuid::try_parse(t).ok())
        .map(|u| u.as_u128())
}

/// The smallest UUID whose canonical text is at least `text`, or `None` when every UUID's
/// text is smaller: `u < text` exactly when `u < ceiling(text)`.
pub(super) fn ceiling(text: &str) -> Option<u128> {
    match floor(text) {
        Some(f) if Uuid::from_u128(f).hyphenated().to_string() == text => Some(f),
        Some(f) => f.checked_add(1),
        None => Some(0),
    }
}

/// The smallest UUID whose canonical text is greater than `text`: `u > text` exactly when
/// `u >= after(text)`; `None` when no UUID's text is.
pub(super) fn after(text: &str) -> Option<u128> {
    floor(text).map_or(Some(0), |f| f.checked_add(1))
}

pub(super) fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// A position's instant (the cursor checked that it is exactly `time::to_db`'s text).
pub(super) fn instant(at: &str) -> OpResult<Timestamp> {
    time::from_db(at).map_err(|e| OpError::storage("a page position's instant", e))
}

/// The rows after (`at`, `id`) in (instant, id) order, where SQLite compares `id` as text:
/// `(instant, id) > (bound)` with a `uuid` bound.
pub(super) fn after_instant(position: &AfterInstant) -> OpResult<(Timestamp, Uuid)> {
    let at = instant(&position.at)?;
    Ok(match floor(&position.id) {
        Some(f) => (at, uuid(f)),
        // Every id's text is greater: every row at `at` or later, i.e. after (at - 1 µs, the
        // largest UUID) (instants are whole microseconds).
        None => (at - chrono::Duration::microseconds(1), Uuid::max()),
    })
}

/// The rows before (`at`, `id`) in (instant, id) order: `(instant, id) < (bound)`.
pub(super) fn before_instant(position: &AfterInstant) -> OpResult<(Timestamp, Uuid)> {
    let at = instant(&position.at)?;
    Ok(match ceiling(&position.id) {
        Some(c) => (at, uuid(c)),
        // Every id's text is smaller: every row at `at` or earlier.
        None => (at + chrono::Duration::microseconds(1), Uuid::nil()),
    })
}
