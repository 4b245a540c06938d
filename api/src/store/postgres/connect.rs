//! Opening a connection with a deadline, and the writer's connection with its session
//! settings ([`writer`]). sqlx's `PgConnection::connect_with` has no deadline: a PostgreSQL
//! host that drops packets (a network partition, a dead load balancer) holds the caller for
//! the kernel's TCP retries, about two minutes, and a server that accepts and never answers
//! holds it for ever. The writer reconnects on its own thread, so every caller
//! queued behind it would wait that long instead of being answered 503 within seconds.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::settle;

/// How long opening a connection may take before PostgreSQL counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection with `options`, or an I/O `TimedOut` error after [`CONNECT_TIMEOUT`] (which
/// the writer reads as "connection lost": [`super::Failure`]).
pub async fn connect(options: &PgConnectOptions) -> sqlx::Result<PgConnection> {
    connect_within(options, CONNECT_TIMEOUT).await
}

/// The writer session's settings.
///
/// A replica that stalls inside a batch must not hold its row locks for long: its session is
/// ended after 10 s idle in a transaction; and a batch waits at most 5 s for a lock before it
/// is rerun (55P03), then answered 503.
///
/// Every statement the writer sends finds a few rows through an index (a stock row by product
/// and store, a reservation by id, a key by name, the expiry task's due reservations by
/// deadline), so an index lookup is always the right plan. The planner does not always see
/// that: after five runs of a statement on a connection it may switch to a generic plan, made
/// on the table as it was then, often small (a few pages: a sequential scan and a hash join
/// look cheapest), and keep it while a hot table fills with dead row versions between
/// autovacuum runs (every reservation's stock update leaves one, and is not HOT: `available`
/// is indexed). Measured on 64 stock rows: 587 pages after 20 s, scanned whole by each
/// batch's locking `SELECT` and stock `UPDATE`, and the rate falling as a run goes on
/// (`docs/postgres.md`, "Measured: key lookups in the writer's session"). So the writer's
/// session turns the sequential scan and the hash and merge joins off: a table with an index
/// on the keys is then always read through it (a statement with no such index would still
/// scan; none of the writer's has to). The counters' triggers run in the session of the
/// statement that fires them; they read their transition tables once and join nothing
/// (`migrations/postgres/20261205000002_counter_updates_without_join.sql`). Reads and
/// housekeeping run on other connections and keep the planner's defaults.
const WRITER_SESSION: &str = "SET idle_in_transaction_session_timeout = '10s'; \
    SET lock_timeout = '5s'; \
    SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off";

/// The writer's connection to `url`, its session set up ([`WRITER_SESSION`]) and identified
/// (for [`settle`]); the whole within [`CONNECT_TIMEOUT`] twice at most (opening, then the
/// set-up), or an I/O `TimedOut` error.
pub async fn writer(url: &str) -> sqlx::Result<(PgConnection, settle::Session)> {
    // Room for every shape of the batch's combined statement (one per set of kinds of change
    // it holds: `flush/`), so none is parsed again.
    let options = url
        .parse::<PgConnectOptions>()?
        .statement_cache_capacity(512);
    let mut conn = connect(&options).await?;
    let setup = async {
        sqlx::raw_sql(WRITER_SESSION).execute(&mut conn).await?;
        settle::session(&mut conn).await
    };
    let session = tokio::time::timeout(CONNECT_TIMEOUT, setup)
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "setting the PostgreSQL writer's session up timed out",
            ))
        })??;
    Ok((conn, session))
}

async fn connect_within(options: &PgConnectOptions, limit: Duration) -> sqlx::Result<PgConnection> {
    tokio::time::timeout(limit, PgConnection::connect_with(options))
        .await
        .unwrap_or_else(|_| {
            Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting to PostgreSQL took longer than {limit:?}"),
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_never_answers_is_given_up_on_at_the_deadline() {
        // Accepts the TCP connection and never says a word: the startup handshake waits.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("its address").port();
        let silent = std::thread::spawn(move || listener.accept().map(|(socket, _)| socket));
        let options: PgConnectOptions = format!("postgres://postgres@127.0.0.1:{port}/none")
            .parse()
            .expect("options");

        let started = std::time::Instant::now();
        let outcome = connect_within(&options, Duration::from_millis(300)).await;

        let Err(sqlx::Error::Io(e)) = outcome else {
            panic!("expected a timeout, got {outcome:?}");
        };
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        drop(silent.join());
    }
}
