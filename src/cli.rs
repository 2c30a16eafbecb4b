//! Command-line interface. Names, flags, JSON fields and exit codes here are
//! a contract that scripts and MTAs rely on: add, never rename.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::config::{Config, FileConfig, Overrides};
use crate::mail::inbound::import::import_path;
use crate::mail::inbound::ingest::Hints;
use crate::mail::inbound::route::Action;
use crate::mail::inbound::{Ingestor, Outcome, Source};
use crate::store::{self, Db, outbox, quarantine, queues, tickets};
use crate::telemetry::{self, LogFormat};

/// sysexits.h: the command was used incorrectly.
pub const EX_USAGE: u8 = 64;
/// sysexits.h: temporary failure, the MTA should retry.
pub const EX_TEMPFAIL: u8 = 75;
/// sysexits.h: the input was wrong; mailgate says so for an over-size message
/// (the MTA tells the sender it was too large).
pub const EX_DATAERR: u8 = 65;

#[derive(Debug, Parser)]
#[command(name = "docket", version, about = "Email-centric ticket gateway")]
pub struct Cli {
    /// Configuration file (default: ./docket.toml when present).
    #[arg(long, global = true, env = "DOCKET_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://docket.db) or postgres://…
    #[arg(long, global = true, env = "DOCKET_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Log format on stderr.
    /// Log format on stderr (default: `log_format` in docket.toml, else text).
    #[arg(long, global = true, value_enum, env = "DOCKET_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Subject tag text, as in "[Docket #12]".
    #[arg(long, global = true, env = "DOCKET_SUBJECT_TAG")]
    pub subject_tag: Option<String>,
    /// Largest accepted message in bytes; larger ones are quarantined.
    #[arg(long, global = true, env = "DOCKET_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Acknowledgements per sender per hour.
    #[arg(long, global = true, env = "DOCKET_ACK_RATE_LIMIT_PER_HOUR")]
    pub ack_rate_limit_per_hour: Option<u32>,
    /// Name of this installation, used in X-Loop and Message-IDs.
    #[arg(long, global = true, env = "DOCKET_INSTANCE_NAME")]
    pub instance_name: Option<String>,
    /// Outgoing mail server: smtp://host:port, smtp://user:pass@host:587?tls=required, smtps://…
    #[arg(long, global = true, env = "DOCKET_SMTP_URL")]
    pub smtp_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or update the database schema.
    Migrate,
    /// Manage queues.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Read one message on stdin and store it (like RT's rt-mailgate).
    Mailgate(MailgateArgs),
    /// Import an mbox file or a Maildir.
    Import(ImportArgs),
    /// Look at tickets.
    #[command(subcommand)]
    Ticket(TicketCmd),
    /// Look at the outbox of mail to send.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Mail that could not be taken in.
    #[command(subcommand)]
    Quarantine(QuarantineCmd),
    /// Staff users.
    #[command(subcommand)]
    User(UserCmd),
    /// IMAP mailboxes polled into queues.
    #[command(subcommand)]
    Mailbox(MailboxCmd),
    /// Fetch mail from the IMAP mailboxes.
    Poll(PollArgs),
    /// Run Docket: the outbox sender (and, as they land, the web UI and IMAP pollers).
    Serve(ServeArgs),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(BenchCmd),
    /// Development helpers.
    #[command(subcommand)]
    Dev(DevCmd),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
}

#[derive(Debug, Subcommand)]
pub enum QueueCmd {
    /// Add a queue.
    Add {
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        comment_address: Option<String>,
        /// Subject tag for this queue (default: the global tag).
        #[arg(long)]
        tag: Option<String>,
    },
    /// List queues.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActionArg {
    Correspond,
    Comment,
}

#[derive(Debug, Args)]
pub struct MailgateArgs {
    /// Queue for mail whose recipients match no queue address.
    #[arg(long)]
    pub queue: Option<String>,
    /// Force correspond or comment regardless of the recipient address.
    #[arg(long, value_enum)]
    pub action: Option<ActionArg>,
    /// Print one JSON line with the outcome.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// An mbox file, a Maildir, or a directory of message files.
    pub path: PathBuf,
    #[arg(long)]
    pub queue: Option<String>,
    #[arg(long)]
    pub json: bool,
    /// Messages per database transaction.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
}

#[derive(Debug, Subcommand)]
pub enum TicketCmd {
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Reply to the requestors (text on stdin) as a staff member.
    Reply {
        id: i64,
        #[arg(long = "as")]
        actor: String,
    },
    /// Add an internal comment (text on stdin).
    Comment {
        id: i64,
        #[arg(long = "as")]
        actor: String,
    },
    /// Change the status; the requestors are told, with the reason and ETA.
    Status {
        id: i64,
        status: String,
        #[arg(long = "as")]
        actor: String,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        eta: Option<String>,
    },
    /// Give the ticket to OWNER (none: back to the queue).
    Assign {
        id: i64,
        owner: Option<String>,
        #[arg(long = "as")]
        actor: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send due mail: with --once what is due now, then exit (cron, tests);
    /// without, keep sending every few seconds until stopped.
    Send {
        /// Send what is due now, then exit.
        #[arg(long)]
        once: bool,
        #[arg(long)]
        json: bool,
    },
    /// Put a dead or waiting row back in the queue, due now.
    Retry { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add or update a staff user; the password is read from stdin (empty: none).
    Add {
        email: String,
        #[arg(long, value_parser = ["admin", "staff"], default_value = "staff")]
        role: String,
        /// Queues this user works (repeatable).
        #[arg(long = "queue")]
        queues: Vec<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Clear the bouncing mark on an address so it is mailed again.
    ClearBounce { email: String },
}

#[derive(Debug, Subcommand)]
pub enum MailboxCmd {
    /// Add a mailbox: imap://USER:PASS@HOST:PORT/FOLDER (imaps:// for implicit TLS).
    Add {
        name: String,
        #[arg(long)]
        url: String,
        /// Queue for mail whose recipients match no queue address.
        #[arg(long)]
        queue: String,
        /// none, starttls or tls (default: tls for imaps://, starttls for imap://).
        #[arg(long, value_parser = ["none", "starttls", "tls"])]
        tls: Option<String>,
        /// After a message is stored: seen (flag \Seen and $Docket), move=FOLDER, or delete.
        #[arg(long, default_value = "seen")]
        after: String,
        /// Read the password from this environment variable instead of the URL.
        #[arg(long)]
        password_env: Option<String>,
        /// Read the password from this file instead of the URL.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Move a message over max_message_bytes to this folder (default: it
        /// stays where it is, unread). Its header is quarantined either way.
        #[arg(long)]
        oversize_folder: Option<String>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// Health of each mailbox: last success, last error, backlog.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct PollArgs {
    /// Ingest everything waiting now, then exit (without it: keep polling
    /// until stopped).
    #[arg(long)]
    pub once: bool,
    #[arg(long)]
    pub mailbox: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "DOCKET_LISTEN")]
    pub listen: Option<String>,
    /// Seconds between outbox runs.
    #[arg(long, default_value_t = 5)]
    pub outbox_interval: u64,
    /// Start on a seeded throw-away SQLite database (sign in as admin@example.com).
    #[arg(long)]
    pub demo: bool,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCmd {
    List {
        #[arg(long)]
        json: bool,
    },
    /// Run a quarantined message through ingest again.
    Retry {
        id: i64,
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Print a quarantined message's raw bytes.
    Show { id: i64 },
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// Ingest throughput: import into SQLite (and PostgreSQL when given), and sequential mailgate runs.
    Ingest(crate::bench::IngestBenchArgs),
    /// Outbox drain rate to an SMTP server.
    Outbox(crate::bench::OutboxBenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum DevCmd {
    /// Fill the database with realistic queues, staff and tickets.
    Seed {
        #[arg(long, default_value_t = 1000)]
        tickets: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Print the effective configuration.
    Check,
}

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

async fn connect(cfg: &Config) -> Result<Db> {
    Db::connect(
        &cfg.database_url,
        Duration::from_secs(cfg.busy_timeout_secs),
    )
    .await
    .with_context(|| format!("connecting to {}", redact_url(&cfg.database_url)))
}

/// Connects and brings the schema up to date (every admin command does; the
/// mailgate does not, so an MTA never races a migration).
async fn connect_migrated(cfg: &Config) -> Result<Db> {
    let db = connect(cfg).await?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

/// Hides a password in a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..s + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

fn print_json<T: Serialize>(v: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn print_line<T: Serialize>(v: &T) -> Result<()> {
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
        Command::Queue(cmd) => queue(&cfg, cmd).await?,
        Command::Mailgate(args) => return mailgate(cfg, args).await,
        Command::Import(args) => import(cfg, args).await?,
        Command::Ticket(cmd) => return ticket(&cfg, cmd).await,
        Command::Outbox(OutboxCmd::Send { once, json }) => outbox_send(cfg, once, json).await?,
        Command::Outbox(OutboxCmd::Retry { id }) => {
            let db = connect_migrated(&cfg).await?;
            let mut conn = db.pool.acquire().await?;
            if !outbox::requeue(&mut conn, id, store::now_ms()).await? {
                eprintln!("docket: no unsent outbox row {id}");
                return Ok(ExitCode::FAILURE);
            }
            println!("outbox row {id} queued again");
        }
        Command::User(cmd) => user(&cfg, cmd).await?,
        Command::Mailbox(cmd) => mailbox(&cfg, cmd).await?,
        Command::Poll(args) => return poll(cfg, args).await,
        Command::Serve(args) => serve(cfg, args).await?,
        Command::Outbox(OutboxCmd::List { status, json }) => {
            let db = connect_migrated(&cfg).await?;
            let mut conn = db.pool.acquire().await?;
            let items = outbox::list(&mut conn, status.as_deref()).await?;
            if json {
                print_json(&items)?;
            } else {
                for i in items {
                    println!(
                        "{:>6} #{:<6} {:<8} {:<30} {}",
                        i.id,
                        i.ticket,
                        i.status,
                        i.to.join(","),
                        i.subject
                    );
                }
            }
        }
        Command::Quarantine(cmd) => return quarantine_cmd(cfg, cmd).await,
        Command::Bench(BenchCmd::Ingest(args)) => crate::bench::ingest(&cfg, args).await?,
        Command::Dev(DevCmd::Seed { tickets }) => {
            let db = connect_migrated(&cfg).await?;
            let s = crate::dev::seed(&db, &cfg, tickets).await?;
            println!(
                "seeded: {} tickets; sign in as {} / {} (or alice@, bob@, carol@example.com)",
                s.tickets,
                s.admin,
                crate::dev::DEMO_PASSWORD
            );
        }
        Command::Bench(BenchCmd::Outbox(args)) => crate::bench::outbox(&cfg, args).await?,
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

async fn queue(cfg: &Config, cmd: QueueCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        QueueCmd::Add {
            name,
            address,
            comment_address,
            tag,
        } => {
            let addr = crate::domain::address::normalise(&address)
                .with_context(|| format!("{address:?} is not an e-mail address"))?;
            let comment = match comment_address {
                Some(c) => Some(
                    crate::domain::address::normalise(&c)
                        .with_context(|| format!("{c:?} is not an e-mail address"))?,
                ),
                None => None,
            };
            let id = queues::add(
                &mut conn,
                &name,
                &addr,
                comment.as_deref(),
                tag.as_deref(),
                store::now_ms(),
            )
            .await
            .with_context(|| {
                format!("adding queue {name:?} (name and addresses must be unused)")
            })?;
            println!("queue {name} added (id {id}) for {addr}");
        }
        QueueCmd::List { json } => {
            let list = queues::list(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for q in list {
                    println!(
                        "{:<20} {:<30} {}",
                        q.name,
                        q.correspond_address,
                        q.comment_address.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

fn hints(queue: Option<String>, action: Option<ActionArg>) -> Hints {
    Hints {
        queue,
        action: action.map(|a| match a {
            ActionArg::Correspond => Action::Correspond,
            ActionArg::Comment => Action::Comment,
        }),
    }
}

async fn check_queue(db: &Db, name: Option<&str>) -> Result<()> {
    if let Some(name) = name {
        let mut conn = db.pool.acquire().await?;
        if !queues::list(&mut conn)
            .await?
            .iter()
            .any(|q| q.name == name)
        {
            bail!("no queue named {name:?} (see `docket queue list`)");
        }
    }
    Ok(())
}

/// RT's rt-mailgate. Exit 0 once the message is durable (stored, a
/// duplicate, or quarantined), 65 for a message over the size limit, and 75
/// for everything an operator can fix — a database that is missing, not
/// migrated or unreachable, an unknown queue — so the MTA holds the mail
/// instead of bouncing it to its sender.
async fn mailgate(cfg: Config, args: MailgateArgs) -> Result<ExitCode> {
    use crate::mail::inbound::bounded::{Input, read_bounded};
    let input = read_bounded(std::io::stdin().lock(), cfg.max_message_bytes)
        .context("reading the message from stdin")?;
    let url = redact_url(&cfg.database_url);
    let db = match Db::connect_existing(
        &cfg.database_url,
        Duration::from_secs(cfg.busy_timeout_secs),
    )
    .await
    {
        Ok(db) => db,
        Err(store::StoreError::Missing(path)) => {
            return Ok(defer(&format!(
                "the database {path} does not exist: fix --database-url \
                 (sqlite:///absolute/path) or create it with `docket migrate`"
            )));
        }
        Err(e) => return Ok(defer(&format!("cannot open the database {url}: {e}"))),
    };
    match db.pending_migrations().await {
        Ok(0) => {}
        Ok(n) => {
            return Ok(defer(&format!(
                "the database {url} is not migrated ({n} migrations pending): run `docket migrate`"
            )));
        }
        Err(e) => return Ok(defer(&format!("cannot read the database {url}: {e}"))),
    }
    if let Some(name) = args.queue.as_deref() {
        match check_queue(&db, Some(name)).await {
            Ok(()) => {}
            Err(e) => return Ok(defer(&format!("{e:#}: fix --queue or add the queue"))),
        }
    }
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    let raw = match input {
        Input::Whole(raw) => raw,
        Input::TooLarge { header, size } => {
            let limit = ingestor.config().max_message_bytes;
            if let Err(e) = ingestor
                .quarantine_oversize(&header, &size.to_string(), &Source::Mailgate)
                .await
            {
                tracing::warn!(error = %e, "could not keep the over-size message's header");
            }
            db.close().await;
            eprintln!(
                "docket: message too large: {size} bytes, over the limit of {limit} bytes (max_message_bytes)"
            );
            return Ok(ExitCode::from(EX_DATAERR));
        }
    };
    let outcome = ingestor
        .ingest_or_quarantine(&raw, Source::Mailgate, &hints(args.queue, args.action))
        .await
        .context("storing the message")?;
    db.close().await;
    report(&outcome, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// One line naming the problem and its fix; exit 75 so the MTA keeps the mail.
fn defer(problem: &str) -> ExitCode {
    eprintln!("docket: mailgate: {problem} (mail deferred: exit 75, the MTA retries)");
    ExitCode::from(EX_TEMPFAIL)
}

fn report(o: &Outcome, json: bool) -> Result<()> {
    if json {
        print_line(o)
    } else {
        let ticket = o
            .ticket
            .map(|t| format!(" ticket #{t}"))
            .unwrap_or_default();
        println!("{:?}{}: {}", o.outcome, ticket, o.reason);
        Ok(())
    }
}

async fn import(cfg: Config, args: ImportArgs) -> Result<()> {
    let db = connect_migrated(&cfg).await?;
    check_queue(&db, args.queue.as_deref()).await?;
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    let hints = hints(args.queue, None);
    let json = args.json;
    let summary = import_path(
        &ingestor,
        &args.path,
        &hints,
        args.batch_size,
        |label, o| {
            if json {
                #[derive(Serialize)]
                struct Line<'a> {
                    source: &'a str,
                    #[serde(flatten)]
                    outcome: &'a Outcome,
                }
                print_line(&Line {
                    source: label,
                    outcome: o,
                })
            } else {
                let ticket = o.ticket.map(|t| format!(" #{t}")).unwrap_or_default();
                println!("{label}: {:?}{ticket}: {}", o.outcome, o.reason);
                Ok(())
            }
        },
    )
    .await?;
    crate::store::search_index::catch_up_all(&db)
        .await
        .context("updating the search index")?;
    if json {
        print_line(&serde_json::json!({ "summary": summary }))?;
    } else {
        println!(
            "{} messages in {:.2}s ({:.0}/s): {} created, {} replied, {} commented, {} duplicate, {} ignored, {} quarantined",
            summary.messages,
            summary.seconds,
            summary.per_second,
            summary.created,
            summary.replied,
            summary.commented,
            summary.duplicate,
            summary.ignored,
            summary.quarantined
        );
    }
    db.close().await;
    Ok(())
}

fn read_stdin_text() -> Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .lock()
        .read_to_string(&mut s)
        .context("reading text from stdin")?;
    Ok(s)
}

async fn ticket(cfg: &Config, cmd: TicketCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    let mut conn = db.pool.acquire().await?;
    let actor_of = |a: &str| {
        crate::domain::address::normalise(a)
            .with_context(|| format!("{a:?} is not an e-mail address"))
    };
    match cmd {
        TicketCmd::Reply { id, actor } => {
            let body = read_stdin_text()?;
            let tx =
                crate::service::tickets::reply(&db, cfg, id, &actor_of(&actor)?, &body).await?;
            println!("reply recorded on ticket #{id} (transaction {tx}); mail queued");
        }
        TicketCmd::Comment { id, actor } => {
            let body = read_stdin_text()?;
            let tx =
                crate::service::tickets::comment(&db, cfg, id, &actor_of(&actor)?, &body).await?;
            println!("comment recorded on ticket #{id} (transaction {tx})");
        }
        TicketCmd::Status {
            id,
            status,
            actor,
            reason,
            eta,
        } => {
            crate::service::tickets::change_status(
                &db,
                cfg,
                id,
                &actor_of(&actor)?,
                &status,
                reason.as_deref(),
                eta.as_deref(),
            )
            .await?;
            println!("ticket #{id} is {status}");
        }
        TicketCmd::Assign { id, owner, actor } => {
            let owner = owner.map(|o| actor_of(&o)).transpose()?;
            crate::service::tickets::assign(&db, id, &actor_of(&actor)?, owner.as_deref()).await?;
            println!(
                "ticket #{id} owner: {}",
                owner.as_deref().unwrap_or("nobody")
            );
        }
        TicketCmd::Show { id, json } => {
            let Some(t) = tickets::show(&mut conn, id).await? else {
                eprintln!("docket: no ticket #{id}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                print_json(&t)?;
            } else {
                let s = &t.ticket;
                println!("#{} [{}] {} ({})", s.id, s.queue, s.subject, s.status);
                println!(
                    "requestors: {}  cc: {}",
                    s.requestors.join(", "),
                    s.cc.join(", ")
                );
                for x in &t.transactions {
                    println!(
                        "--- {} {} by {} ({}){}",
                        x.created_at,
                        x.kind,
                        x.from.as_deref().unwrap_or("-"),
                        x.thread_rule.as_deref().unwrap_or("-"),
                        if x.auto_submitted { " [automatic]" } else { "" }
                    );
                    println!("{}", x.body.trim_end());
                    for a in &x.attachments {
                        println!(
                            "  [attachment] {} ({}, {} bytes)",
                            a.filename, a.content_type, a.size
                        );
                    }
                }
            }
        }
        TicketCmd::List {
            queue,
            status,
            json,
        } => {
            let list = tickets::list(&mut conn, queue.as_deref(), status.as_deref()).await?;
            if json {
                print_json(&list)?;
            } else {
                for t in list {
                    println!("{:>6} {:<12} {:<10} {}", t.id, t.queue, t.status, t.subject);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn quarantine_cmd(cfg: Config, cmd: QuarantineCmd) -> Result<ExitCode> {
    let db = connect_migrated(&cfg).await?;
    match cmd {
        QuarantineCmd::List { json } => {
            let mut conn = db.pool.acquire().await?;
            let list = quarantine::list(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for e in list {
                    println!(
                        "{:>6} {:<9} {:>9}B {} {}",
                        e.id, e.status, e.size, e.created_at, e.reason
                    );
                }
            }
        }
        QuarantineCmd::Show { id } => {
            let mut conn = db.pool.acquire().await?;
            let Some((raw, _)) = quarantine::get(&mut conn, id).await? else {
                eprintln!("docket: no quarantine entry {id}");
                return Ok(ExitCode::FAILURE);
            };
            std::io::stdout().lock().write_all(&raw)?;
        }
        QuarantineCmd::Retry { id, queue, json } => {
            let outcome = crate::mail::inbound::ingest::retry_quarantined(
                &Ingestor::new(db.clone(), Arc::new(cfg)),
                id,
                &hints(queue, None),
            )
            .await?;
            let Some(outcome) = outcome else {
                eprintln!("docket: no quarantine entry {id}");
                return Ok(ExitCode::FAILURE);
            };
            report(&outcome, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn outbox_send(cfg: Config, once: bool, json: bool) -> Result<()> {
    let db = connect_migrated(&cfg).await?;
    let sender = crate::mail::outbound::worker::Sender::new(db.clone(), Arc::new(cfg))?;
    if !sender.is_configured() {
        eprintln!(
            "docket: warning: no smtp_url configured (DOCKET_SMTP_URL); outgoing mail waits in the outbox"
        );
    }
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown_signal() => break,
        }
        let report = sender.send_due(store::now_ms()).await?;
        if json && (once || !report.attempts.is_empty()) {
            print_line(&report)?;
        } else {
            for a in &report.attempts {
                println!(
                    "{:>6} #{:<6} {:<6} {} {}",
                    a.id,
                    a.ticket,
                    a.result,
                    a.to.join(","),
                    a.error.as_deref().unwrap_or("")
                );
            }
            if once || !report.attempts.is_empty() {
                println!(
                    "{} sent, {} to retry, {} dead",
                    report.sent, report.retry, report.dead
                );
            }
        }
        if once {
            break;
        }
    }
    db.close().await;
    Ok(())
}

async fn user(cfg: &Config, cmd: UserCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        UserCmd::Add {
            email,
            role,
            queues: member_of,
        } => {
            let email = crate::domain::address::normalise(&email)
                .with_context(|| format!("{email:?} is not an e-mail address"))?;
            let password = read_stdin_text()?;
            let password = password.trim_end_matches(['\r', '\n']);
            let hash = if password.is_empty() {
                None
            } else {
                Some(crate::service::auth::hash_password(password)?)
            };
            let mut tx = db.begin_write().await?;
            let all = queues::list(&mut tx).await?;
            let id = crate::store::users::upsert_staff(
                &mut tx,
                &email,
                &role,
                hash.as_deref(),
                store::now_ms(),
            )
            .await?;
            for name in &member_of {
                let q = all
                    .iter()
                    .find(|q| &q.name == name)
                    .with_context(|| format!("no queue named {name:?}"))?;
                crate::store::users::add_to_queue(&mut tx, q.id, id).await?;
            }
            tx.commit().await?;
            println!(
                "user {email} ({role}) saved{}",
                if hash.is_some() {
                    " with a password"
                } else {
                    ""
                }
            );
        }
        UserCmd::ClearBounce { email } => {
            let email = crate::domain::address::normalise(&email)
                .with_context(|| format!("{email:?} is not an e-mail address"))?;
            let mut conn = db.pool.acquire().await?;
            crate::store::users::clear_bouncing(&mut conn, &email).await?;
            println!("{email} is mailed again");
        }
        UserCmd::List { json } => {
            let mut conn = db.pool.acquire().await?;
            let list = crate::store::users::list_staff(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for u in list {
                    println!(
                        "{:<30} {:<6} {}",
                        u.email,
                        u.role,
                        if u.password_hash.is_some() {
                            "password set"
                        } else {
                            "no password"
                        }
                    );
                }
            }
        }
    }
    Ok(())
}

/// Parses `imap[s]://user:pass@host:port/folder`.
fn parse_mailbox_url(raw: &str) -> Result<(String, u16, String, Option<String>, String, bool)> {
    let u = url::Url::parse(raw).with_context(|| format!("{raw:?} is not a URL"))?;
    let implicit_tls = match u.scheme() {
        "imaps" => true,
        "imap" => false,
        other => bail!("unsupported scheme {other:?}: use imap:// or imaps://"),
    };
    let host = u.host_str().context("the URL names no host")?.to_string();
    let port = u.port().unwrap_or(if implicit_tls { 993 } else { 143 });
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = decode(u.username());
    anyhow::ensure!(!user.is_empty(), "the URL names no user");
    let password = u.password().map(decode);
    let folder = decode(u.path().trim_start_matches('/'));
    let folder = if folder.is_empty() {
        "INBOX".to_string()
    } else {
        folder
    };
    Ok((host, port, user, password, folder, implicit_tls))
}

async fn mailbox(cfg: &Config, cmd: MailboxCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        MailboxCmd::Add {
            name,
            url,
            queue,
            tls,
            after,
            password_env,
            password_file,
            oversize_folder,
        } => {
            let (host, port, user, password, folder, implicit_tls) = parse_mailbox_url(&url)?;
            let tls = tls.unwrap_or_else(|| {
                if implicit_tls {
                    "tls".into()
                } else {
                    "starttls".into()
                }
            });
            let (after_action, move_folder) = match after.split_once('=') {
                Some(("move", f)) if !f.is_empty() => ("move", Some(f.to_string())),
                None if after == "seen" || after == "delete" => (after.as_str(), None),
                _ => bail!("--after must be seen, move=FOLDER or delete"),
            };
            let sources = [
                password.is_some(),
                password_env.is_some(),
                password_file.is_some(),
            ];
            anyhow::ensure!(
                sources.iter().filter(|s| **s).count() == 1,
                "give the password exactly one way: in the URL, --password-env or --password-file"
            );
            let q = queues::list(&mut conn)
                .await?
                .into_iter()
                .find(|q| q.name == queue)
                .with_context(|| format!("no queue named {queue:?}"))?;
            let password_file = password_file.map(|p| p.display().to_string());
            crate::store::mailboxes::add(
                &mut conn,
                crate::store::mailboxes::NewMailbox {
                    name: &name,
                    host: &host,
                    port: i64::from(port),
                    tls: &tls,
                    username: &user,
                    password: password.as_deref(),
                    password_env: password_env.as_deref(),
                    password_file: password_file.as_deref(),
                    folder: &folder,
                    queue_id: q.id,
                    after_action,
                    move_folder: move_folder.as_deref(),
                    oversize_folder: oversize_folder.as_deref(),
                    now: store::now_ms(),
                },
            )
            .await
            .with_context(|| format!("adding mailbox {name:?} (names must be unused)"))?;
            println!(
                "mailbox {name} added: {user}@{host}:{port}/{folder} ({tls}) into queue {queue}"
            );
        }
        MailboxCmd::List { json } | MailboxCmd::Status { json } => {
            let list: Vec<crate::store::mailboxes::MailboxView> =
                crate::store::mailboxes::list(&mut conn)
                    .await?
                    .iter()
                    .map(Into::into)
                    .collect();
            if json {
                print_json(&list)?;
            } else {
                for m in list {
                    println!(
                        "{:<16} {:<40} {:<14} last ok {:<22} backlog {:<5} {}",
                        m.name,
                        m.url,
                        m.state,
                        m.last_success.as_deref().unwrap_or("never"),
                        m.backlog,
                        m.last_error.as_deref().unwrap_or("")
                    );
                }
            }
        }
    }
    Ok(())
}

/// A name for this process in mailbox leases.
fn instance_owner() -> String {
    format!(
        "{}:{}:{:08x}",
        crate::mail::inbound::imap::host_name(),
        std::process::id(),
        rand::random::<u32>()
    )
}

async fn poll(cfg: Config, args: PollArgs) -> Result<ExitCode> {
    let db = connect_migrated(&cfg).await?;
    let names: Vec<String> = {
        let mut conn = db.pool.acquire().await?;
        let all = crate::store::mailboxes::list(&mut conn).await?;
        match &args.mailbox {
            Some(n) => {
                anyhow::ensure!(all.iter().any(|m| &m.name == n), "no mailbox named {n:?}");
                vec![n.clone()]
            }
            None => all.into_iter().map(|m| m.name).collect(),
        }
    };
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    let owner = instance_owner();
    if !args.once {
        // Keep polling (IDLE where the server has it) until stopped.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut pollers = tokio::task::JoinSet::new();
        for name in names {
            let poller = crate::mail::inbound::imap::Poller::new(ingestor.clone(), &name, &owner);
            let rx = stop_rx.clone();
            pollers.spawn(async move { poller.run(Duration::from_secs(30), rx).await });
        }
        shutdown_signal().await;
        let _ = stop_tx.send(true);
        while pollers.join_next().await.is_some() {}
        db.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    let mut reports = Vec::new();
    for name in names {
        let r = crate::mail::inbound::imap::Poller::new(ingestor.clone(), &name, &owner)
            .poll_once()
            .await;
        failed |= r.error.is_some();
        reports.push(r);
    }
    if args.json {
        print_json(&reports)?;
    } else {
        for r in &reports {
            println!(
                "{}: {} fetched ({} created, {} replied, {} duplicate, {} quarantined){}",
                r.mailbox,
                r.fetched,
                r.created,
                r.replied,
                r.duplicate,
                r.quarantined,
                r.error
                    .as_deref()
                    .map(|e| format!("; error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    db.close().await;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs the workers until interrupted (the web UI joins here when it lands):
/// the outbox sender and one poller per IMAP mailbox.
async fn serve(mut cfg: Config, args: ServeArgs) -> Result<()> {
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    let demo_dir = if args.demo {
        let dir = std::env::temp_dir().join(format!("docket-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        cfg.database_url = format!("sqlite://{}", dir.join("demo.db").display());
        Some(dir)
    } else {
        None
    };
    let db = connect_migrated(&cfg).await?;
    if args.demo {
        let s = crate::dev::seed(&db, &cfg, 500).await?;
        println!(
            "Demo database with {} tickets. Sign in as {} with the password {}",
            s.tickets,
            s.admin,
            crate::dev::DEMO_PASSWORD
        );
    }
    let cfg = Arc::new(cfg);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let owner = instance_owner();
    let ingestor = Ingestor::new(db.clone(), cfg.clone());
    let mut pollers = tokio::task::JoinSet::new();
    {
        let mut conn = db.pool.acquire().await?;
        for m in crate::store::mailboxes::list(&mut conn).await? {
            let poller = crate::mail::inbound::imap::Poller::new(ingestor.clone(), &m.name, &owner);
            let rx = stop_rx.clone();
            pollers.spawn(async move { poller.run(Duration::from_secs(30), rx).await });
        }
    }
    let sender = crate::mail::outbound::worker::Sender::new(db.clone(), cfg.clone())?;
    if !sender.is_configured() {
        tracing::warn!(
            "no smtp_url configured (DOCKET_SMTP_URL): outgoing mail waits in the outbox"
        );
    }
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("listening on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    println!("Docket is listening on http://{addr}/");
    {
        let mut conn = db.pool.acquire().await?;
        if !crate::store::sessions::has_admin(&mut conn).await? {
            println!(
                "No admin yet. Create one (the password is read from stdin):\n    \
                 echo 'a long password' | docket user add you@example.com --role admin"
            );
        }
    }
    let app = crate::web::router(crate::web::AppState::new(db.clone(), cfg.clone()));
    let mut web_stop = stop_rx.clone();
    let web = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = web_stop.changed().await;
        })
        .await
    });

    let interval = Duration::from_secs(args.outbox_interval.max(1));
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if sender.is_configured()
                    && let Err(e) = sender.send_due(store::now_ms()).await
                {
                    tracing::error!(error = %e, "outbox run failed");
                }
                if let Err(e) = crate::store::search_index::catch_up(&db, 20_000).await {
                    tracing::error!(error = %e, "search index catch-up failed");
                }
            }
            _ = shutdown_signal() => {
                tracing::info!("shutting down");
                break;
            }
        }
    }
    let _ = stop_tx.send(true);
    while pollers.join_next().await.is_some() {}
    if let Ok(Err(e)) = web.await {
        tracing::error!(error = %e, "web server stopped with an error");
    }
    db.close().await;
    if let Some(dir) = demo_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
