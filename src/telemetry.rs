//! Logging set-up: human-readable by default, JSON lines with `--log-format json`.
//! Logs go to stderr so that stdout stays free for `--json` output.

use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("DOCKET_LOG")
        .unwrap_or_else(|_| EnvFilter::new("docket=info,warn"));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
