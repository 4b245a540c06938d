//! How full the read pool is: every pooled read takes its connection through [`acquire`],
//! which times the wait (`db_read_pool_wait_seconds`) and counts the waits that ran out
//! (`db_read_pool_timeouts_total`, answered 503 `QUERY_TIMEOUT`); [`record_gauges`], run on
//! every scrape, sets the connections in use and idle (`db_read_pool_connections{state}`) and
//! the pool's size (`db_read_pool_max_connections`). The names and the recording are in
//! [`crate::metrics`].
//!
//! Which reads are pooled: on PostgreSQL every read (point reads, lists, stats, the audit
//! log); on SQLite the lists and stats (its point reads and audit-log pages run on each
//! worker thread's own connection and never wait for one). `/health` has a connection of
//! its own on both and is not counted.
//!
//! A saturated pool shows as `in_use` equal to the size and a wait that grows; reads that
//! waited the whole read budget are the timeouts (`docs/operations.md`, "What to watch").

use std::time::Instant;

use sqlx::Database;
use sqlx::pool::{Pool, PoolConnection};

use crate::metrics::{record_read_pool, record_read_pool_wait};

/// A connection of `pool` for one read, its wait recorded. The errors are the pool's: a wait
/// that ran out is `PoolTimedOut` (`QUERY_TIMEOUT`), a closed pool `PoolClosed`.
pub async fn acquire<DB: Database>(pool: &Pool<DB>) -> sqlx::Result<PoolConnection<DB>> {
    let started = Instant::now();
    let connection = pool.acquire().await;
    record_read_pool_wait(
        started.elapsed(),
        matches!(connection, Err(sqlx::Error::PoolTimedOut)),
    );
    connection
}

/// Sets the gauges of `pool` (on each scrape, just before rendering).
pub fn record_gauges<DB: Database>(pool: &Pool<DB>) {
    let open = pool.size();
    // `num_idle` is counted apart from `size`: clamped, a race never shows a negative count.
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX).min(open);
    record_read_pool(open - idle, idle, pool.options().get_max_connections());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use metrics_exporter_prometheus::PrometheusBuilder;
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;

    /// The value of the sample line `series` in `text`.
    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// `text` rendered from a recorder of its own, after `record` ran with it (the global
    /// recorder is shared by every test of the process).
    fn rendered(record: impl FnOnce()) -> String {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, record);
        handle.render()
    }

    #[tokio::test]
    async fn a_full_pool_shows_every_connection_in_use_and_a_wait_that_ran_out() {
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_millis(100))
            .connect("sqlite::memory:")
            .await
            .expect("pool");
        let first = acquire(&pool).await.expect("first");
        let second = acquire(&pool).await.expect("second");
        let started = Instant::now();
        let third = acquire(&pool).await;
        assert!(matches!(third, Err(sqlx::Error::PoolTimedOut)), "{third:?}");
        assert!(started.elapsed() >= Duration::from_millis(100));

        let text = rendered(|| record_gauges(&pool));
        let in_use = "db_read_pool_connections{state=\"in_use\"}";
        let idle = "db_read_pool_connections{state=\"idle\"}";
        assert_eq!(value(&text, in_use), Some(2.0), "{text}");
        assert_eq!(value(&text, idle), Some(0.0), "{text}");
        assert_eq!(
            value(&text, "db_read_pool_max_connections"),
            Some(2.0),
            "{text}"
        );

        // A connection goes back to the pool on a task of its own once dropped.
        drop((first, second));
        let deadline = Instant::now() + Duration::from_secs(5);
        while pool.num_idle() < 2 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let text = rendered(|| record_gauges(&pool));
        assert_eq!(value(&text, in_use), Some(0.0), "{text}");
        assert_eq!(value(&text, idle), Some(2.0), "{text}");
    }

    #[test]
    fn a_wait_is_a_sample_and_one_that_ran_out_is_also_a_timeout() {
        let text = rendered(|| {
            record_read_pool_wait(Duration::from_millis(3), false);
            record_read_pool_wait(Duration::from_millis(100), true);
        });
        assert_eq!(
            value(&text, "db_read_pool_timeouts_total"),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            value(&text, "db_read_pool_wait_seconds_count"),
            Some(2.0),
            "{text}"
        );
    }
}
