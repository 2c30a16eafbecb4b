//! Command-line interface. Names, flags, JSON fields and exit codes here are
//! a contract that scripts and MTAs rely on: add, never rename.

mod api;
mod args;
mod bench;
mod bench_hooks;
mod flow;
mod mail;
mod mailboxes;
mod outbox;
mod quarantine;
mod queues;
mod serve;
mod sla;
mod tickets;
mod users;

pub use args::*;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;

use crate::config::{Config, FileConfig, Overrides};
use crate::store::Db;
use crate::telemetry::{self, LogFormat};

/// sysexits.h: the command was used incorrectly.
pub const EX_USAGE: u8 = 64;
/// sysexits.h: temporary failure, the MTA should retry.
pub const EX_TEMPFAIL: u8 = 75;
/// sysexits.h: the input was wrong; mailgate says so for an over-size message
/// (the MTA tells the sender it was too large).
pub const EX_DATAERR: u8 = 65;

/// Parses arguments and runs; bad usage exits 64 (sysexits), as MTAs expect.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(EX_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The file's log_format counts too; a broken file is reported by `run`.
    let format = cli.log_format.unwrap_or_else(|| {
        FileConfig::load(cli.config.as_deref())
            .ok()
            .and_then(|f| f.log_format)
            .unwrap_or(LogFormat::Text)
    });
    telemetry::init(format);
    // One thread is enough (and fastest: fewer wake-ups between threads) for
    // every command but `serve`, which also answers web requests.
    let runtime = if matches!(cli.command, Command::Serve(_)) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("docket: cannot start the async runtime: {e}");
            return ExitCode::from(EX_TEMPFAIL);
        }
    };
    let is_mailgate = matches!(cli.command, Command::Mailgate(_));
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("docket: {e:#}");
            // For mailgate any failure means "not stored": the MTA must retry.
            if is_mailgate {
                ExitCode::from(EX_TEMPFAIL)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn config_of(cli: &Cli) -> Result<Config> {
    let file = FileConfig::load(cli.config.as_deref())?;
    Ok(Config::resolve(
        file,
        Overrides {
            database_url: cli.database_url.clone(),
            subject_tag: cli.subject_tag.clone(),
            max_message_bytes: cli.max_message_bytes,
            ack_rate_limit_per_hour: cli.ack_rate_limit_per_hour,
            instance_name: cli.instance_name.clone(),
            smtp_url: cli.smtp_url.clone(),
            listen: None,
        },
    ))
}

pub(crate) async fn connect(cfg: &Config) -> Result<Db> {
    Db::connect(
        &cfg.database_url,
        Duration::from_secs(cfg.busy_timeout_secs),
    )
    .await
    .with_context(|| format!("connecting to {}", redact_url(&cfg.database_url)))
}

/// Connects and brings the schema up to date (every admin command does; the
/// mailgate does not, so an MTA never races a migration).
pub(crate) async fn connect_migrated(cfg: &Config) -> Result<Db> {
    let db = connect(cfg).await?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

pub use crate::domain::secret::redact_url;

pub(crate) fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

pub(crate) fn print_line<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let cfg = config_of(&cli)?;
    match cli.command {
        Command::Migrate => {
            connect_migrated(&cfg).await?;
            println!("database is up to date");
        }
        Command::Queue(cmd) => queues::queue(&cfg, cmd).await?,
        Command::Mailgate(args) => return mail::mailgate(cfg, args).await,
        Command::Import(args) => mail::import(cfg, args).await?,
        Command::Ticket(cmd) => return tickets::ticket(&cfg, cmd).await,
        Command::Outbox(cmd) => return outbox::run(cfg, cmd).await,
        Command::User(cmd) => users::user(&cfg, cmd).await?,
        Command::Mailbox(cmd) => mailboxes::mailbox(&cfg, cmd).await?,
        Command::Poll(args) => return mailboxes::poll(cfg, args).await,
        Command::Serve(args) => serve::serve(cfg, args).await?,
        Command::Quarantine(cmd) => return quarantine::quarantine_cmd(cfg, cmd).await,
        Command::Bench(BenchCmd::Ingest(args)) => bench::ingest(&cfg, args).await?,
        Command::Dev(DevCmd::Seed { tickets }) => {
            let db = connect_migrated(&cfg).await?;
            let s = crate::service::demo::seed(&db, &cfg, tickets).await?;
            println!(
                "seeded: {} tickets; sign in as {} / {} (or alice@, bob@, carol@example.com)",
                s.tickets,
                s.admin,
                crate::service::demo::DEMO_PASSWORD
            );
        }
        Command::Bench(BenchCmd::Outbox(args)) => bench::outbox(&cfg, args).await?,
        Command::Bench(BenchCmd::Webhooks(args)) => bench_hooks::webhooks(&cfg, args).await?,
        Command::Wip { json } => return flow::wip(&cfg, json).await,
        Command::Triage {
            queue,
            stale_days,
            json,
        } => return flow::triage(&cfg, queue, stale_days, json).await,
        Command::Scheduler(cmd) => return flow::scheduler(&cfg, cmd).await,
        Command::Calendar(cmd) => return sla::calendar(&cfg, cmd).await,
        Command::Sla(cmd) => return sla::policy(&cfg, cmd).await,
        Command::Report(cmd) => return sla::report(&cfg, cmd).await,
        Command::Token(cmd) => return api::token(&cfg, cmd).await,
        Command::App(cmd) => return api::app(&cfg, cmd).await,
        Command::Feed(cmd) => return api::feed(&cfg, cmd).await,
        Command::Ldap(cmd) => return api::ldap(&cfg, cmd).await,
        Command::Config(ConfigCmd::Check) => {
            println!("database_url = {:?}", redact_url(&cfg.database_url));
            println!("subject_tag = {:?}", cfg.subject_tag);
            println!("max_message_bytes = {}", cfg.max_message_bytes);
            println!("ack_rate_limit_per_hour = {}", cfg.ack_rate_limit_per_hour);
            println!("instance_name = {:?}", cfg.instance_name);
            println!("busy_timeout_secs = {}", cfg.busy_timeout_secs);
            println!(
                "smtp_url = {}",
                cfg.smtp_url
                    .as_deref()
                    .map(|u| format!("{:?}", redact_url(u)))
                    .unwrap_or("(not set: mail waits in the outbox)".into())
            );
            println!("outbox_max_attempts = {}", cfg.outbox_max_attempts);
            println!("smtp_connections = {}", cfg.smtp_connections);
            println!(
                "reply_token_secret = {}",
                if cfg.reply_token_secret.is_some() {
                    "(set: per-ticket reply addresses)"
                } else {
                    "(not set)"
                }
            );
            println!("listen = {:?}", cfg.listen);
            println!("imap_lease_secs = {}", cfg.imap_lease_secs);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn read_stdin_text() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut s)
        .context("reading text from stdin")?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailboxes::parse_mailbox_url;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn mailbox_urls() {
        let (host, port, user, pass, folder, tls) = parse_mailbox_url(
            "imap://support%40example.com:p%40ss@mail.example.com:1143/Help%20Desk",
        )
        .unwrap();
        assert_eq!(
            (host.as_str(), port, user.as_str()),
            ("mail.example.com", 1143, "support@example.com")
        );
        assert_eq!(
            (pass.as_deref(), folder.as_str(), tls),
            (Some("p@ss"), "Help Desk", false)
        );
        let (_, port, _, pass, folder, tls) = parse_mailbox_url("imaps://u@h").unwrap();
        assert_eq!(
            (port, pass, folder.as_str(), tls),
            (993, None, "INBOX", true)
        );
        assert!(parse_mailbox_url("pop3://u@h").is_err());
    }
}
