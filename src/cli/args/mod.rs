//! The command line as clap sees it: every command, flag and environment
//! variable. Names here are a contract: add, never rename.

use std::path::PathBuf;

mod api;
mod reports;
mod tickets;
pub use api::*;
pub use reports::*;
pub use tickets::*;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::telemetry::LogFormat;

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
    /// Each engineer's open tickets against their WIP limit.
    Wip {
        #[arg(long)]
        json: bool,
    },
    /// What the triage meeting looks at: new and unowned, waiting on the
    /// requestor, stale, waking this week, engineers over their limit.
    Triage {
        #[arg(long)]
        queue: Option<String>,
        /// Days without an update that make a ticket stale.
        #[arg(long, default_value_t = 7)]
        stale_days: i64,
        #[arg(long)]
        json: bool,
    },
    /// Work that falls due by itself (postponed tickets waking up, SLA
    /// breaches, digests).
    #[command(subcommand)]
    Scheduler(SchedulerCmd),
    /// Business-hours calendars for SLA clocks.
    #[command(subcommand)]
    Calendar(CalendarCmd),
    /// SLA policies per queue.
    #[command(subcommand)]
    Sla(SlaCmd),
    /// Aging, SLA and flow reports.
    #[command(subcommand)]
    Report(ReportCmd),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Applications: programs that hand typed tasks to people.
    #[command(subcommand)]
    App(AppCmd),
    /// Calendar feeds (iCalendar) of due dates, ETAs and wake-ups.
    #[command(subcommand)]
    Feed(FeedCmd),
    /// The staff directory (LDAP).
    #[command(subcommand)]
    Ldap(LdapCmd),
}

#[derive(Debug, Subcommand)]
pub enum SchedulerCmd {
    /// Run due work (--once: one pass, then exit).
    Run {
        #[arg(long)]
        once: bool,
        /// Run the pass as of this time (RFC 3339) instead of now: for
        /// replays and tests.
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        json: bool,
    },
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
    /// Change a queue's settings.
    Set {
        name: String,
        /// Default most open tickets per engineer (`none`: no limit).
        #[arg(long)]
        wip_limit: Option<String>,
        /// Intake fields a complete request needs, comma-separated
        /// (description, drop_dead_date, nice_to_have_date, capacity,
        /// security, dependencies, acceptance_criteria); empty: none.
        #[arg(long)]
        intake: Option<String>,
        /// Changes mailed to the requestors, comma-separated (taken, eta,
        /// needs-info, postponed, stalled, resolved, rejected, status).
        #[arg(long)]
        notify: Option<String>,
        /// Days after resolving within which a requestor's reply reopens
        /// the ticket (later it opens a new one that refers to it).
        #[arg(long)]
        reopen_days: Option<i64>,
        /// A public queue shows all its tickets read-only to anyone with a
        /// status-page link or an account.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        public: Option<bool>,
        /// When the queue's triagers get a digest: "mon 09:00",
        /// "mon,thu 08:30" (in the queue's SLA calendar zone); "off".
        #[arg(long)]
        digest: Option<String>,
        /// Tell the queue's engineers and triagers of each new ticket (on
        /// by default).
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        notify_team_on_new: Option<bool>,
        /// Requestors who sign in may file tickets here on the web (`/my/new`).
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        requestors_may_file: Option<bool>,
    },
    /// Add EMAIL to the queue with a role, change their role, or --remove.
    Member {
        name: String,
        email: String,
        #[arg(long, value_parser = ["triager", "engineer"])]
        role: Option<String>,
        #[arg(long)]
        remove: bool,
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
    /// Date each message by its `Date:` header (else its newest
    /// `Received:` date, else now): true ages for an archive.
    #[arg(long)]
    pub keep_dates: bool,
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
    /// How a person's roles changed: account and queue roles, by whom
    /// (the directory, …) and when.
    History {
        email: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a user's settings.
    Set {
        email: String,
        /// Most open tickets they may own (`none`: the queue's default).
        #[arg(long)]
        wip_limit: Option<String>,
        /// The zone they read times in (IANA name such as `Europe/Berlin`;
        /// `default`: the instance's `time_zone`).
        #[arg(long)]
        time_zone: Option<String>,
        /// Notices of each new ticket in the queues they work (on by default).
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        notify_new: Option<bool>,
    },
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
        #[command(flatten)]
        oauth2: Box<OAuth2Args>,
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

/// XOAUTH2 instead of a password (Microsoft 365, Gmail): tokens from this
/// endpoint by the refresh-token grant; secrets from variables or files.
#[derive(Debug, Args)]
pub struct OAuth2Args {
    /// The token endpoint, e.g. https://oauth2.googleapis.com/token.
    #[arg(long)]
    pub oauth2_token_url: Option<String>,
    #[arg(long, requires = "oauth2_token_url")]
    pub oauth2_client_id: Option<String>,
    #[arg(
        long,
        requires = "oauth2_token_url",
        conflicts_with = "oauth2_client_secret_file"
    )]
    pub oauth2_client_secret_env: Option<String>,
    #[arg(long, requires = "oauth2_token_url")]
    pub oauth2_client_secret_file: Option<PathBuf>,
    #[arg(
        long,
        requires = "oauth2_token_url",
        conflicts_with = "oauth2_refresh_token_file"
    )]
    pub oauth2_refresh_token_env: Option<String>,
    #[arg(long, requires = "oauth2_token_url")]
    pub oauth2_refresh_token_file: Option<PathBuf>,
    /// Scope asked for on refresh (Microsoft 365 wants one).
    #[arg(long, requires = "oauth2_token_url")]
    pub oauth2_scope: Option<String>,
    /// The SASL mechanism: xoauth2 (Microsoft 365, Gmail) or oauthbearer
    /// (RFC 7628).
    #[arg(long, requires = "oauth2_token_url", value_parser = ["xoauth2", "oauthbearer"], default_value = "xoauth2")]
    pub oauth2_mechanism: String,
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
    /// Seconds between passes of the scheduler (postponed tickets waking).
    #[arg(long, default_value_t = 15)]
    pub scheduler_interval: u64,
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
    Ingest(super::bench::IngestBenchArgs),
    /// Outbox drain rate to an SMTP server.
    Outbox(super::bench::OutboxBenchArgs),
    /// Webhook delivery rate to a local receiver.
    Webhooks(super::bench_hooks::WebhookBenchArgs),
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
