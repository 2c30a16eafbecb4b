//! The one entry point for inbound mail. Each message is an atomic unit: its
//! own transaction (mailgate) or a savepoint inside a batch transaction
//! (import, IMAP), so a batch commits many messages with one fsync and one bad
//! message never spoils its batch.

use std::sync::Arc;

use serde::Serialize;
use sqlx::Connection;
use tracing::warn;

use crate::config::Config;
use crate::domain::clock::{Clock, SystemClock};
use crate::mail::inbound::parse::ParsedMail;
use crate::mail::inbound::route::Action;
use crate::store::{Db, StoreError, queues};

mod decide;
use decide::recipient_addresses;

mod apply;
mod bounce;
use apply::Stored;

mod quarantined;
mod speaker;
use quarantined::quarantine_outcome;
pub use quarantined::retry_quarantined;

/// Where a message came from; stored with it for audit and IMAP bookkeeping.
#[derive(Debug, Clone)]
pub enum Source {
    Mailgate,
    Import(String),
    Imap {
        mailbox: String,
        uidvalidity: u32,
        uid: u32,
    },
    QuarantineRetry(i64),
    Bench,
    /// Written by a requestor on their status page.
    StatusPage,
    /// Filed by an application through the API.
    Api,
}

impl Source {
    pub fn label(&self) -> String {
        match self {
            Source::Mailgate => "mailgate".into(),
            Source::Import(p) => format!("import:{p}"),
            Source::Imap {
                mailbox,
                uidvalidity,
                uid,
            } => format!("imap:{mailbox}:{uidvalidity}:{uid}"),
            Source::QuarantineRetry(id) => format!("quarantine-retry:{id}"),
            Source::Bench => "bench".into(),
            Source::StatusPage => "status-page".into(),
            Source::Api => "api".into(),
        }
    }
}

/// The most mail held for one batch transaction (IMAP and import alike):
/// with one message being read, this bounds a batch source's memory.
pub const BATCH_BYTES: usize = 64 * 1024 * 1024;

/// Caller's hints: RT mailgate's `--queue` and `--action`.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    pub queue: Option<String>,
    pub action: Option<Action>,
    /// Date each mail by when it was written (`import --keep-dates`).
    pub keep_dates: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    Created,
    Replied,
    Commented,
    Duplicate,
    Ignored,
    Quarantined,
}

/// What happened to one message; `--json` prints exactly this.
/// How many messages ended each way; flattened into the JSON of
/// `docket import` and `docket mailbox poll`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub created: usize,
    pub replied: usize,
    pub commented: usize,
    pub duplicate: usize,
    pub ignored: usize,
    pub quarantined: usize,
}

impl Tally {
    pub fn count(&mut self, k: OutcomeKind) {
        let n = match k {
            OutcomeKind::Created => &mut self.created,
            OutcomeKind::Replied => &mut self.replied,
            OutcomeKind::Commented => &mut self.commented,
            OutcomeKind::Duplicate => &mut self.duplicate,
            OutcomeKind::Ignored => &mut self.ignored,
            OutcomeKind::Quarantined => &mut self.quarantined,
        };
        *n += 1;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub outcome: OutcomeKind,
    pub ticket: Option<i64>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_id: Option<i64>,
    /// Commands at the top of a staff reply, run once the mail is stored.
    #[serde(skip)]
    pub commands: Option<crate::service::commands::MailCommands>,
    /// A task's assignee answering its mail: `(ticket, user, body)`, whose
    /// `Label: value` lines are submitted once the mail is stored.
    #[serde(skip)]
    pub task_reply: Option<(i64, i64, String)>,
}

impl Outcome {
    fn new(outcome: OutcomeKind, ticket: Option<i64>, reason: impl Into<String>) -> Self {
        Outcome {
            outcome,
            ticket,
            reason: reason.into(),
            message_id: None,
            quarantine_id: None,
            commands: None,
            task_reply: None,
        }
    }
}

/// One message for a batch: its bytes, where it came from, and its parsed
/// form when the caller already parsed it (on a blocking thread).
#[derive(Clone, Copy)]
struct Item<'a> {
    raw: &'a [u8],
    source: &'a Source,
    parsed: Option<&'a ParsedMail>,
}

/// Runs ingest against one database with one configuration.
#[derive(Clone)]
pub struct Ingestor {
    db: Db,
    cfg: Arc<Config>,
    clock: Arc<dyn Clock>,
}

/// Queues and derived facts loaded once per transaction.
struct Context {
    queues: Vec<queues::Queue>,
    own_addresses: Vec<String>,
    fallback: Option<queues::Queue>,
    forced_action: Option<Action>,
    /// Signs and checks personal reply addresses.
    reply_secret: crate::domain::secret::Secret,
    keep_dates: bool,
}

/// Why a mail could not be taken in. Only a transient store error (the
/// database busy, locked or gone) is worth retrying; anything else sends the
/// raw mail to quarantine with this as the reason.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("composing mail: {0}")]
    Compose(#[from] askama::Error),
    #[error("ticket #{0} vanished while the mail was being stored")]
    TicketVanished(i64),
    #[error("queue {0} vanished while the mail was being stored")]
    QueueVanished(i64),
    #[error("{0}")]
    Rule(String),
}

impl IngestError {
    pub fn is_transient(&self) -> bool {
        matches!(self, IngestError::Store(e) if e.is_transient())
    }
}

impl From<sqlx::Error> for IngestError {
    fn from(e: sqlx::Error) -> Self {
        IngestError::Store(e.into())
    }
}

impl From<crate::service::ServiceError> for IngestError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match e {
            S::Store(s) => IngestError::Store(s),
            S::Template(t) => IngestError::Compose(t),
            S::NoTicket(id) => IngestError::TicketVanished(id),
            S::Invalid(m) | S::Refused { message: m, .. } | S::Fields { message: m, .. } => {
                IngestError::Rule(m)
            }
        }
    }
}

impl Ingestor {
    /// On the system clock.
    pub fn new(db: Db, cfg: Arc<Config>) -> Self {
        Ingestor {
            db,
            cfg,
            clock: Arc::new(SystemClock),
        }
    }

    /// The same, on another clock (tests, replays).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// One message, one transaction: durable when this returns `Ok`.
    pub async fn ingest_one(
        &self,
        raw: &[u8],
        source: Source,
        hints: &Hints,
    ) -> Result<Outcome, IngestError> {
        // A second round only when another process stored the same message
        // while we were deciding; then it finds the duplicate.
        for _ in 0..2 {
            let mut tx = self.db.begin_write().await?;
            let ctx = self.context(&mut tx, hints).await?;
            let item = Item {
                raw,
                source: &source,
                parsed: None,
            };
            match self
                .ingest_in(&mut tx, &ctx, item, self.now_ms(), false)
                .await
            {
                Ok(outcome) => {
                    tx.commit().await?;
                    self.run_commands(std::slice::from_ref(&outcome)).await;
                    return Ok(outcome);
                }
                Err(IngestError::Store(StoreError::DuplicateRace)) => tx.rollback().await?,
                Err(e) => return Err(e),
            }
        }
        Err(IngestError::Store(StoreError::DuplicateRace))
    }

    /// [`Self::ingest_one`], and when storing fails for a reason that will not
    /// pass (a bug, a constraint nobody foresaw), the raw bytes go to
    /// quarantine with the error as the reason: the MTA is told "stored"
    /// instead of retrying until it gives up and bounces. Only a transient
    /// error, or a failure to quarantine, is returned.
    pub async fn ingest_or_quarantine(
        &self,
        raw: &[u8],
        source: Source,
        hints: &Hints,
    ) -> Result<Outcome, IngestError> {
        let label = source.label();
        match self.ingest_one(raw, source, hints).await {
            Err(e) if !e.is_transient() => {
                warn!(error = %e, "storing the message failed; quarantining it");
                let mut conn = self.db.pool.acquire().await?;
                let reason = format!("could not be stored: {e}");
                quarantine_outcome(&mut conn, raw, reason, &label, self.now_ms()).await
            }
            other => other,
        }
    }

    /// The size over which a message is refused.
    pub fn max_message_bytes(&self) -> usize {
        self.cfg.max_message_bytes
    }

    /// Keeps the header of a message refused for its size, so an admin sees
    /// who sent what; the body was never read.
    pub async fn quarantine_oversize(
        &self,
        header: &[u8],
        size: &str,
        source: &Source,
    ) -> Result<Outcome, IngestError> {
        let mut raw = header.to_vec();
        raw.extend_from_slice(b"\r\n[body not kept: over the size limit]\r\n");
        let reason = format!(
            "message is {size} bytes, over the limit of {} bytes; refused (only its header was kept)",
            self.cfg.max_message_bytes
        );
        let mut conn = self.db.pool.acquire().await?;
        quarantine_outcome(&mut conn, &raw, reason, &source.label(), self.now_ms()).await
    }

    /// Many messages, one transaction (one fsync). First without savepoints,
    /// as new mail almost always goes in cleanly; if any message fails or
    /// turns out to be stored already, that transaction is rolled back whole
    /// and the batch is redone with a savepoint per message, so one bad
    /// message never spoils its batch.
    pub async fn ingest_batch(
        &self,
        items: &[(Vec<u8>, Source)],
        hints: &Hints,
    ) -> Result<Vec<Outcome>, IngestError> {
        let items: Vec<Item<'_>> = items
            .iter()
            .map(|(raw, source)| Item {
                raw,
                source,
                parsed: None,
            })
            .collect();
        self.ingest_items(&items, hints).await
    }

    /// A batch the caller has parsed already (the IMAP poller parses on a
    /// blocking thread, once per message).
    pub async fn ingest_parsed_batch<R: AsRef<[u8]>>(
        &self,
        items: &[(R, Source, ParsedMail)],
        hints: &Hints,
    ) -> Result<Vec<Outcome>, IngestError> {
        let items: Vec<Item<'_>> = items
            .iter()
            .map(|(raw, source, parsed)| Item {
                raw: raw.as_ref(),
                source,
                parsed: Some(parsed),
            })
            .collect();
        self.ingest_items(&items, hints).await
    }

    async fn ingest_items(
        &self,
        items: &[Item<'_>],
        hints: &Hints,
    ) -> Result<Vec<Outcome>, IngestError> {
        let out = match self.ingest_batch_fast(items, hints).await {
            Ok(out) => out,
            Err(e) if e.is_transient() => return Err(e),
            Err(_) => self.ingest_batch_careful(items, hints).await?,
        };
        self.run_commands(&out).await;
        Ok(out)
    }

    /// Commands by mail, after the mail is durable. A failure here is
    /// logged: the mail itself is stored either way.
    async fn run_commands(&self, outcomes: &[Outcome]) {
        for m in outcomes.iter().filter_map(|o| o.commands.as_ref()) {
            if let Err(e) =
                crate::service::commands::run(&self.db, &self.cfg, m, self.now_ms()).await
            {
                warn!(ticket = m.ticket, error = %e, "running the commands of a mail failed");
            }
        }
        for (ticket, user, body) in outcomes.iter().filter_map(|o| o.task_reply.as_ref()) {
            let now = self.now_ms();
            let submitted = crate::service::tasks::input::submit_by_mail(
                &self.db, &self.cfg, *ticket, *user, body, now,
            );
            if let Err(e) = submitted.await {
                warn!(ticket, error = %e, "taking a task's input by mail failed");
            }
        }
    }

    /// The whole batch in one transaction with no savepoints; any error
    /// (a duplicate included) abandons it.
    async fn ingest_batch_fast(
        &self,
        items: &[Item<'_>],
        hints: &Hints,
    ) -> Result<Vec<Outcome>, IngestError> {
        let mut tx = self.db.begin_write().await?;
        let ctx = self.context(&mut tx, hints).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match self
                .ingest_in(&mut tx, &ctx, *item, self.now_ms(), true)
                .await
            {
                Ok(o) => out.push(o),
                Err(e) => {
                    // Nothing of this attempt may remain before the careful round.
                    tx.rollback().await?;
                    return Err(e);
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A savepoint per message: a duplicate is looked up, a failing message
    /// is quarantined, the rest commit together.
    async fn ingest_batch_careful(
        &self,
        items: &[Item<'_>],
        hints: &Hints,
    ) -> Result<Vec<Outcome>, IngestError> {
        let mut tx = self.db.begin_write().await?;
        let ctx = self.context(&mut tx, hints).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Item { raw, source, .. } = *item;
            let now = self.now_ms();
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                let mut sp = tx.begin().await?;
                // Optimistic first: the unique index catches a duplicate, and
                // the second round looks it up.
                let optimistic = attempt == 1;
                match self.ingest_in(&mut sp, &ctx, *item, now, optimistic).await {
                    Ok(o) => {
                        sp.commit().await?;
                        break o;
                    }
                    Err(IngestError::Store(StoreError::DuplicateRace)) if attempt == 1 => {
                        sp.rollback().await?
                    }
                    Err(e) if e.is_transient() => return Err(e),
                    Err(e) => {
                        sp.rollback().await?;
                        warn!(error = %e, "storing message failed; quarantining it");
                        let reason = format!("could not be stored: {e}");
                        break quarantine_outcome(&mut tx, raw, reason, &source.label(), now)
                            .await?;
                    }
                }
            };
            out.push(outcome);
        }
        tx.commit().await?;
        Ok(out)
    }
}
