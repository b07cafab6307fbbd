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
    tracing_subscriber::fmt()
        .with_max_level(cli.log_level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match tt_stats::app::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", tt_stats::error_chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
