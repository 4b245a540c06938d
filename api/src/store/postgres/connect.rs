//! Opening a connection with a deadline. sqlx's `PgConnection::connect_with` has none: a
//! PostgreSQL host that drops packets (a network partition, a dead load balancer) holds the
//! caller for the kernel's TCP retries, about two minutes, and a server that accepts and
//! never answers holds it for ever. The writer reconnects on its own thread, so every caller
//! queued behind it would wait that long instead of being answered 503 within seconds.

use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// How long opening a connection may take before PostgreSQL counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection with `options`, or an I/O `TimedOut` error after [`CONNECT_TIMEOUT`] (which
/// the writer reads as "connection lost": [`super::Failure`]).
pub async fn connect(options: &PgConnectOptions) -> sqlx::Result<PgConnection> {
    connect_within(options, CONNECT_TIMEOUT).await
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
