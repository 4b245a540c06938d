//! `inventory-relay`: loads settings, starts logging, builds the relay, runs it until SIGINT or
//! SIGTERM, and reports how it ended. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use inventory_relay::Relay;
use inventory_relay::config::{Command, Settings};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = inventory_shared::config::load_dotenv() {
        eprintln!("inventory-relay: {e:#}");
        return ExitCode::from(2);
    }
    let settings = Settings::parse();
    if let Err(e) = inventory_shared::telemetry::init(&settings.log) {
        eprintln!("inventory-relay: {e:#}");
        return ExitCode::from(2);
    }
    let result = match settings.command.clone() {
        None | Some(Command::Run) => run(settings).await,
        Some(Command::Dead(command)) => {
            inventory_relay::dead::run(&settings, &command, &mut std::io::stdout().lock()).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "inventory-relay failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let relay = Relay::build(settings).await?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(inventory_shared::shutdown::cancel_on_signal(
        shutdown.clone(),
        "finishing the batch in flight",
    ));
    let result = relay.run(shutdown).await;
    signals.abort();
    result
}
