//! `inventory-api`: loads the settings, starts logging, builds the app, serves until SIGINT or
//! SIGTERM, and reports how it ended; or runs a one-off command (`openapi`, `backup PATH`).

use clap::Parser;
use inventory_api::Application;
use inventory_api::config::{Command, Settings};
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
    if let Some(Command::Backup { path }) = settings.command.clone() {
        return backup(&settings, &path);
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

/// `inventory-api backup PATH`, with a progress bar on a terminal (hidden when piped).
fn backup(settings: &Settings, path: &std::path::Path) -> std::process::ExitCode {
    if let Err(e) = settings.database.require_sqlite() {
        eprintln!("error: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let bar =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} backing up [{bar:40}] {percent}% of {len} pages ({eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let result = inventory_api::backup::backup(&settings.database.path(), path, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    match result {
        Ok(copied) => {
            println!(
                "backed up {} pages ({:.1} MB) to {} in {:.2}s",
                copied.pages,
                copied.bytes as f64 / 1e6,
                path.display(),
                copied.elapsed.as_secs_f64()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "backup failed");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
