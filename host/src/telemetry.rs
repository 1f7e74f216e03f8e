//! Logging: `tracing` to stderr, human-readable by default or one JSON
//! object per line (`--log-format json`), filtered by `RUST_LOG` (default
//! `info`). Spans carry `pod`, `profile` and `plugin`.

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// For a terminal.
    #[default]
    Text,
    /// One JSON object per line, for a log pipeline.
    Json,
}

/// Installs the global subscriber; call once, at start.
pub fn init(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).init(),
    }
}
