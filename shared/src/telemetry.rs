//! `tracing` set-up for both binaries: JSON or text lines on stderr, filtered by `LOG_LEVEL`.
//! Text lines carry ANSI colours only when stderr is a terminal, so a log redirected to a file
//! or collected by systemd or a container runtime holds no escape codes. A log line that cannot
//! be written (the pipe to a log collector that died) is dropped: the service keeps serving.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber. Fails when `LOG_LEVEL` is not a valid filter.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(&settings.log_level).map_err(|e| {
        anyhow::anyhow!(
            "LOG_LEVEL: `{}` is not a log filter ({e})",
            settings.log_level
        )
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // By default a failed write is reported with `eprintln!` on the same stderr, which
        // panics when stderr is a closed pipe: one lost log line took the process down.
        .log_internal_errors(false);
    let result = match settings.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
