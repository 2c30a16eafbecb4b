//! Logging set-up: human-readable by default, JSON lines with `--log-format json`.
//! Logs go to stderr so that stdout stays free for `--json` output.

use tracing_subscriber::{EnvFilter, fmt};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Crates whose debug output carries credentials or mail.
const WIRE_LOGGERS: [&str; 5] = ["async_imap", "imap_proto", "lettre", "ldap3", "lber"];

pub fn init(format: LogFormat) {
    let mut filter = EnvFilter::try_from_env("DOCKET_LOG")
        .unwrap_or_else(|_| EnvFilter::new("docket=info,warn"));
    // The protocol crates write what goes over the wire (passwords, tokens,
    // mail) at debug and trace: never below info, whatever DOCKET_LOG asks.
    for quiet in WIRE_LOGGERS {
        if let Ok(d) = format!("{quiet}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    // Colour only for a person at a terminal: an MTA's log (mailgate's stderr)
    // would be garbled by escape codes. https://no-color.org
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let ansi = !no_color && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
