//! The `tt-stats` binary: reads `.env`, parses the command line, sets up logging and hands
//! over to [`tt_stats::app::run`]. Errors are printed as one line and exit non-zero.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A missing .env is normal; a malformed one is worth a warning but not a stop.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        // Never the line itself: it may hold a password or a token.
        match e {
            dotenvy::Error::LineParse(_, at) => eprintln!(
                "warning: .env has a line that cannot be read (at character {at}; its text is not \
                 shown, it may hold a secret): that line and the ones after it are ignored; quote \
                 values with single quotes"
            ),
            other => eprintln!("warning: ignoring .env: {other}"),
        }
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
                // Colour codes only for a person at a terminal, never in files or `docker logs`.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
