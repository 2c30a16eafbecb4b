//! Logging set-up: human-readable by default, JSON lines with `--log-format json`.
//! Logs go to stderr so that stdout stays free for `--json` output.

use tracing_subscriber::filter::{FilterExt, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Crates whose debug output carries credentials or mail.
const WIRE_LOGGERS: [&str; 5] = ["async_imap", "imap_proto", "lettre", "ldap3", "lber"];

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("DOCKET_LOG")
        .unwrap_or_else(|_| EnvFilter::new("docket=info,warn"));
    // The protocol crates write what goes over the wire (passwords, tokens,
    // mail) at debug and trace. A second filter that must also pass holds
    // them at info, whatever DOCKET_LOG asks (however specific).
    let cap = WIRE_LOGGERS.iter().fold(
        Targets::new().with_default(LevelFilter::TRACE),
        |t, krate| t.with_target(*krate, LevelFilter::INFO),
    );
    // Colour only for a person at a terminal: an MTA's log (mailgate's stderr)
    // would be garbled by escape codes. https://no-color.org
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => tracing_subscriber::registry()
            .with(layer.with_filter(filter.and(cap)))
            .try_init(),
        LogFormat::Json => tracing_subscriber::registry()
            .with(layer.json().with_filter(filter.and(cap)))
            .try_init(),
    };
}
