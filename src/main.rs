//! The `tt-stats` binary: reads `.env`, parses the command line, sets up logging and hands
//! over to [`tt_stats::app::run`]. Errors are printed as one line and exit non-zero.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A missing .env is normal; a malformed one is worth a warning but not a stop.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("warning: ignoring .env: {e}");
    }
    let cli = tt_stats::cli::Cli::parse();
    // The database driver's own warnings (a connection dropped after a cancelled query,
    // slow statements) repeat what tt-stats reports itself; they show from debug on.
    let filter = if cli.log_level >= tracing::Level::DEBUG {
        tracing_subscriber::filter::Targets::new().with_default(cli.log_level)
    } else {
        tracing_subscriber::filter::Targets::new()
            .with_default(cli.log_level)
            .with_target("sqlx", tracing::Level::ERROR)
    };
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .init();
    match tt_stats::app::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", tt_stats::error_chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
