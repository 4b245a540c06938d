//! `inventory-api`: loads the settings, starts logging, builds the app, serves until SIGINT or
//! SIGTERM, and reports how it ended.

use clap::Parser;
use inventory_api::{Application, config::Settings};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = inventory_shared::config::load_dotenv() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    if std::env::args().nth(1).as_deref() == Some("openapi") {
        return match inventory_api::openapi_yaml().await {
            Ok(yaml) => {
                print!("{yaml}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let settings = Settings::parse();
    if let Err(e) = inventory_shared::telemetry::init(&settings.log) {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    match run(settings).await {
        Ok(()) => {
            tracing::info!("inventory API stopped");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "inventory API failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(inventory_shared::shutdown::cancel_on_signal(
        shutdown.clone(),
        "draining requests in flight",
    ));
    let result = app.run(shutdown).await;
    signals.abort();
    result
}
