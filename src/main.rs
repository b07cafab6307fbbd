//! The `tt-stats` binary: reads `.env`, parses the command line, sets up logging and hands
//! over to [`tt_stats::app::run`]. Errors are printed as one line and exit non-zero.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tune_the_allocator();
    // A missing .env is normal; a malformed one is worth a warning but not a stop.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        // Never the line itself: it may hold a password or a token.
        match e {
            dotenvy::Error::LineParse(line, _) => eprintln!(
                "warning: .env{} cannot be read (its text is not shown, it may hold a secret): \
                 that line and the ones after it are ignored; quote values with single quotes",
                env_line_number(&line).map_or(String::new(), |n| format!(" line {n}"))
            ),
            other => eprintln!("warning: ignoring .env: {other}"),
        }
    }
    let cli = tt_stats::cli::Cli::parse();
    init_logging(cli.effective_log_level(), cli.log_format);
    let json = cli.log_format == tt_stats::cli::LogFormat::Json;
    match tt_stats::app::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let message = tt_stats::error_chain(e.as_ref());
            if json {
                // The line that says why the process ended must parse like the others.
                tracing::error!("{message}");
            } else {
                eprintln!("error: {message}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to standard error: text (colour only at a terminal, never in files or
/// `docker logs`) or one JSON object per line.
fn init_logging(level: tracing::Level, format: tt_stats::cli::LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // The database driver's own warnings (a connection dropped after a cancelled query,
    // slow statements) repeat what tt-stats reports itself; they show from debug on.
    let mut filter = tracing_subscriber::filter::Targets::new().with_default(level);
    if level < tracing::Level::DEBUG {
        filter = filter.with_target("sqlx", tracing::Level::ERROR);
    }
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        tt_stats::cli::LogFormat::Json => registry.with(layer.json().flatten_event(true)).init(),
        tt_stats::cli::LogFormat::Text => registry
            .with(layer.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())))
            .init(),
    }
}

/// The number of the first line of the `.env` file dotenvy reads (the working directory's,
/// else the nearest parent's) that is `line`, to point at a line without printing it.
fn env_line_number(line: &str) -> Option<usize> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        let file = dir.join(".env");
        if let Ok(text) = std::fs::read_to_string(&file) {
            // A quote left open makes the "line" run on to the end of the file.
            let wanted = line.lines().next().unwrap_or_default().trim();
            return text
                .lines()
                .position(|l| l.trim() == wanted || (!wanted.is_empty() && l.contains(wanted)))
                .map(|i| i + 1);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// A chart is drawn in buffers of a few MiB that are freed at once. glibc serves the first
/// from `mmap` and then, by its dynamic threshold, raises the `mmap` limit to that size, so
/// later ones come from the heap and stay resident after they are freed: a bot that has
/// drawn the three all-time graphs kept about 10 MiB more than it uses. A fixed threshold
/// (glibc's default of 128 KiB) keeps returning them to the system, and one arena instead
/// of one per thread (up to 8 per core) keeps the freed small blocks in one place: the
/// bot's peak at 10M downloads went from 36 to 28 MiB with two arenas, and from 30.0 to
/// 27.7–29.6 MiB with one (`benches/README.md`, "Bot memory benchmark"). The bot's threads are few and mostly wait on
/// the network, so they hardly contend for it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_the_allocator() {
    // SAFETY: `mallopt` only changes an allocator setting, under glibc's own arena lock,
    // so it is sound while other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_the_allocator() {}
