//! Graceful shutdown on SIGINT or SIGTERM, the same way for every binary.

use tokio_util::sync::CancellationToken;

/// Waits for the first SIGINT or SIGTERM, logs which one with `what_stops` (what the binary
/// does now, e.g. "finishing the batch in flight"), and cancels `shutdown`. When SIGTERM
/// cannot be listened for, only SIGINT stops the process (and that is logged).
pub async fn cancel_on_signal(shutdown: CancellationToken, what_stops: &'static str) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the process");
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
            return;
        }
    };
    let signal = tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    };
    tracing::info!(signal, "shutting down: {what_stops}");
    shutdown.cancel();
}
