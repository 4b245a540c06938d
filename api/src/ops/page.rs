//! Keyset pages: every list is read as one index range scan that starts *after* the last row of
//! the previous page (`WHERE (k1, k2) > (?, ?) ORDER BY k1, k2 LIMIT ?`), never with `OFFSET`.
//!
//! Why keyset: a page costs O(log n + limit) wherever it starts, and a row that exists for the
//! whole walk is seen exactly once even while other rows are added or removed (an offset shifts
//! under inserts and deletes, so rows repeat or vanish). Each key ends with a unique column, so
//! rows with equal sort values still have a strict order. The keys are plain positions; the
//! HTTP edge turns them into opaque cursors (`crate::http::cursor`).
//!
//! A read fetches `limit + 1` rows: the extra row only tells that another page exists, so no
//! read ever holds more than `limit + 1` rows however large the table grows.

/// Largest page any list serves.
pub const MAX_LIMIT: i64 = 1000;

/// Page size when the client does not name one.
pub const DEFAULT_LIMIT: i64 = 100;

/// One page: at most `limit` rows, and the position of the last one when more rows follow.
#[derive(Debug, Clone)]
pub struct Page<T, K> {
    /// The rows, in the list's order.
    pub rows: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<K>,
}

impl<T, K> Page<T, K> {
    /// The page of `limit` rows out of up to `limit + 1` fetched ones.
    pub fn from_rows(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more { rows.last().map(key) } else { None };
        Self { rows, next }
    }
}

/// How many rows a page reads: one more than it returns.
pub(crate) fn fetch_count(limit: i64) -> i64 {
    limit.clamp(1, MAX_LIMIT) + 1
}

/// Position in a list ordered by one text column (a store's stock by product id, a product's
/// stock by store id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterText(pub String);

/// Position in the low-stock list: available units, then product, then store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterAvailable {
    /// `quantity - reserved` of the last row.
    pub available: i64,
    /// Its product.
    pub product_id: String,
    /// Its store.
    pub store_id: String,
}

/// Position in a list ordered by a stored instant, ties broken by id (pending reservations by
/// deadline, a product's reservations by creation, products by creation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterInstant {
    /// The instant in the stored format (fixed width, so text order is time order).
    pub at: String,
    /// The row's id.
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_row_only_says_that_more_follow() {
        let more = Page::from_rows(vec![1, 2, 3], 2, |n| *n);
        let last = Page::from_rows(vec![1, 2], 2, |n| *n);
        let empty = Page::from_rows(Vec::<i32>::new(), 2, |n| *n);

        assert_eq!((more.rows, more.next), (vec![1, 2], Some(2)));
        assert_eq!((last.rows, last.next), (vec![1, 2], None));
        assert_eq!((empty.rows, empty.next), (vec![], None));
    }
}
