//! `inventory-consumer`: loads settings, starts logging, then consumes (default), rebuilds the
//! projection, or prints the AsyncAPI document. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;
use inventory_consumer::Consumer;
use inventory_consumer::config::{Command, Settings};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    if let Err(e) = inventory_shared::config::load_dotenv() {
        eprintln!("inventory-consumer: {e:#}");
        return ExitCode::from(2);
    }
    let settings = Settings::parse();
    if let Err(e) = inventory_shared::telemetry::init(&settings.log) {
        eprintln!("inventory-consumer: {e:#}");
        return ExitCode::from(2);
    }
    let result = match settings.command.clone() {
        None | Some(Command::Run) => run(settings).await,
        Some(Command::Rebuild { archive }) => {
            inventory_consumer::rebuild::run(&settings, archive.as_deref(), &mut std::io::stdout())
                .await
                .map(|_| ())
        }
        Some(Command::Asyncapi) => inventory_consumer::asyncapi::yaml().map(|doc| print!("{doc}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "inventory-consumer failed");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let consumer = Consumer::build(settings).await?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(inventory_shared::shutdown::cancel_on_signal(
        shutdown.clone(),
        "finishing the batch in flight",
    ));
    let result = consumer.run(shutdown).await;
    signals.abort();
    result
}
