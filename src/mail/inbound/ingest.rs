//! The one entry point for inbound mail. Each message is an atomic unit: its
//! own transaction (mailgate) or a savepoint inside a batch transaction
//! (import, IMAP), so a batch commits many messages with one fsync and one bad
//! message never spoils its batch.

use std::sync::Arc;

use serde::Serialize;
use sqlx::{AnyConnection, Connection};
use tracing::{Instrument, info_span, warn};

use super::classify::{Class, classify};
use super::parse::{self, ParsedMail};
use super::route::{Action, Route, route};
use super::thread::{Rule, candidates};
use crate::config::Config;
use crate::domain::reply_token::{self, Personal};
use crate::domain::subject_tag::find_ticket_id;
use crate::domain::{address, auth_results};
use crate::mail::outbound::compose;
use crate::service::notify;
use crate::store::{self, Db, StoreError, messages, outbox, quarantine, queues, tickets, users};

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
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub outcome: OutcomeKind,
    pub ticket: Option<i64>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_id: Option<i64>,
}

impl Outcome {
    fn new(outcome: OutcomeKind, ticket: Option<i64>, reason: impl Into<String>) -> Self {
        Outcome {
            outcome,
            ticket,
            reason: reason.into(),
            message_id: None,
            quarantine_id: None,
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
}

/// Queues and derived facts loaded once per transaction.
struct Context {
    queues: Vec<queues::Queue>,
    own_addresses: Vec<String>,
    fallback: Option<queues::Queue>,
    forced_action: Option<Action>,
    /// Signs and checks personal reply addresses.
    reply_secret: crate::domain::secret::Secret,
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
            S::Invalid(m) => IngestError::Rule(m),
        }
    }
}

/// Where the MTA delivered the mail, then its To and Cc.
fn recipient_addresses(mail: &ParsedMail) -> impl Iterator<Item = &String> {
    mail.envelope_to
        .iter()
        .chain(mail.to.iter().map(|m| &m.email))
        .chain(mail.cc.iter().map(|m| &m.email))
}

const FLAG_OUTSIDER_COMMENT: &str = "comment address used by a non-member";
const FLAG_UNAUTHENTICATED: &str = "staff address not authenticated: not sent to the requestors";

/// How far a mail's author is trusted on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Voice {
    /// Staff of the queue, authenticated (or commenting, which stays internal).
    Staff,
    /// `From:` names staff of the queue but nothing proves it.
    UnauthenticatedStaff,
    /// A requestor, a Cc, anyone else.
    Outsider,
}

/// Who speaks on a ticket and what their mail becomes.
struct Speaker {
    user_id: i64,
    email: String,
    action: Action,
    voice: Voice,
    flag: Option<&'static str>,
}

/// One message on its way into the database, with what was decided about it.
struct Stored<'a> {
    mail: &'a ParsedMail,
    raw: &'a [u8],
    label: &'a str,
    sender: &'a users::Person,
    from: &'a parse::Mailbox,
    class: Class,
    now: i64,
}

impl Stored<'_> {
    /// The raw message row; a concurrent copy surfaces as `DuplicateRace`.
    async fn message(
        &self,
        conn: &mut AnyConnection,
        ticket: Option<i64>,
    ) -> Result<i64, IngestError> {
        messages::insert(
            conn,
            messages::NewMessage {
                message_id: &self.mail.message_id,
                fingerprint: &self.mail.fingerprint,
                raw: self.raw,
                source: self.label,
                ticket_id: ticket,
                now: self.now,
            },
        )
        .await
        .map_err(IngestError::from)
    }
}

impl Ingestor {
    pub fn new(db: Db, cfg: Arc<Config>) -> Self {
        Ingestor { db, cfg }
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
                .ingest_in(&mut tx, &ctx, item, store::now_ms(), false)
                .await
            {
                Ok(outcome) => {
                    tx.commit().await?;
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
                quarantine_outcome(&mut conn, raw, reason, &label, store::now_ms()).await
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
        quarantine_outcome(&mut conn, &raw, reason, &source.label(), store::now_ms()).await
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
        match self.ingest_batch_fast(items, hints).await {
            Ok(out) => Ok(out),
            Err(e) if e.is_transient() => Err(e),
            Err(_) => self.ingest_batch_careful(items, hints).await,
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
                .ingest_in(&mut tx, &ctx, *item, store::now_ms(), true)
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
            let now = store::now_ms();
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

    async fn context(
        &self,
        conn: &mut AnyConnection,
        hints: &Hints,
    ) -> Result<Context, IngestError> {
        let queues = queues::list(&mut *conn).await?;
        let own_addresses = queues::own_addresses(&queues);
        let fallback = hints
            .queue
            .as_ref()
            .and_then(|name| queues.iter().find(|q| &q.name == name).cloned());
        let reply_secret = notify::reply_secret(&mut *conn, &self.cfg).await?;
        Ok(Context {
            queues,
            own_addresses,
            fallback,
            forced_action: hints.action,
            reply_secret,
        })
    }

    async fn ingest_in(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        item: Item<'_>,
        now: i64,
        optimistic: bool,
    ) -> Result<Outcome, IngestError> {
        let source = item.source;
        let span = info_span!("ingest", source = %source.label(), mail.size = item.raw.len(),
            mail.message_id = tracing::field::Empty, ticket.id = tracing::field::Empty);
        async {
            let outcome = self
                .decide_and_store(conn, ctx, item, now, optimistic)
                .await?;
            let span = tracing::Span::current();
            if let Some(id) = &outcome.message_id {
                span.record("mail.message_id", id.as_str());
            }
            if let Some(t) = outcome.ticket {
                span.record("ticket.id", t);
            }
            // One line per mail for the MTA path; batches (import, IMAP,
            // seeding) log each mail at debug and report totals instead.
            match source {
                Source::Mailgate | Source::QuarantineRetry(_) => {
                    tracing::info!(outcome = ?outcome.outcome, reason = %outcome.reason, "mail ingested")
                }
                _ => tracing::debug!(outcome = ?outcome.outcome, reason = %outcome.reason, "mail ingested"),
            }
            Ok(outcome)
        }
        .instrument(span)
        .await
    }

    async fn decide_and_store(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        item: Item<'_>,
        now: i64,
        optimistic: bool,
    ) -> Result<Outcome, IngestError> {
        let (raw, source) = (item.raw, item.source);
        let label = source.label();
        let quarantine = |conn, reason| quarantine_outcome(conn, raw, reason, &label, now);

        if raw.len() > self.cfg.max_message_bytes {
            let reason = format!(
                "message is {} bytes, over the limit of {} bytes",
                raw.len(),
                self.cfg.max_message_bytes
            );
            return quarantine(conn, reason).await;
        }
        let parsed_here;
        let mail = match item.parsed {
            Some(m) => m,
            None => match parse::parse(raw) {
                Ok(m) => {
                    parsed_here = m;
                    &parsed_here
                }
                Err(e) => return quarantine(conn, e.to_string()).await,
            },
        };
        let Some(from) = mail.from.clone() else {
            return quarantine(conn, "no usable sender address (From/Sender)".into()).await;
        };

        let stored_copy = match optimistic {
            true => None,
            false => messages::find(&mut *conn, &mail.message_id, &mail.fingerprint).await?,
        };
        if let Some(ticket) = stored_copy {
            let mut o = Outcome::new(OutcomeKind::Duplicate, ticket, "message already stored");
            o.message_id = Some(mail.message_id.clone());
            return Ok(o);
        }

        let class = classify(mail, &self.cfg.instance_name, &ctx.own_addresses);
        let recipients: Vec<String> = mail
            .envelope_to
            .iter()
            .cloned()
            .chain(mail.to.iter().map(|m| m.email.clone()))
            .chain(mail.cc.iter().map(|m| m.email.clone()))
            .collect();
        let routed = route(&recipients, &ctx.queues).or_else(|| {
            ctx.fallback.as_ref().map(|q| Route {
                queue_id: q.id,
                action: Action::Correspond,
                via: "fallback".into(),
            })
        });
        let action = ctx
            .forced_action
            .or(routed.as_ref().map(|r| r.action))
            .unwrap_or(Action::Correspond);
        let (thread, thread_note) = self.find_thread(&mut *conn, ctx, mail, class).await?;

        if thread.is_none() && routed.is_none() && class != Class::Loop {
            let reason = format!(
                "no queue for recipients [{}] and no --queue fallback",
                recipients.join(", ")
            );
            return quarantine(conn, reason).await;
        }

        let sender =
            users::ensure_person(&mut *conn, &from.email, &from.name, now, now - 3_600_000).await?;
        let stored = Stored {
            mail,
            raw,
            label: &label,
            sender: &sender,
            from: &from,
            class,
            now,
        };
        let mut outcome = match (thread, routed) {
            (Some((ticket, rule)), _) => {
                self.add_to_ticket(conn, ctx, &stored, ticket, rule, action)
                    .await?
            }
            (None, Some(route)) if class != Class::Loop => {
                self.create_ticket(conn, ctx, &stored, &route, thread_note.as_deref())
                    .await?
            }
            _ => {
                stored.message(conn, None).await?;
                Outcome::new(
                    OutcomeKind::Ignored,
                    None,
                    "our own mail came back (X-Loop or sent from a queue address); stored, no ticket",
                )
            }
        };
        if class == Class::Bounce {
            self.record_bounce(conn, mail, now).await?;
        }
        outcome.message_id = Some(mail.message_id.clone());
        Ok(outcome)
    }

    /// References first, then the subject tag. Returns the ticket and the rule,
    /// or a note on why a tag was not followed.
    async fn find_thread(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        mail: &ParsedMail,
        class: Class,
    ) -> Result<(Option<(i64, Rule)>, Option<String>), IngestError> {
        for (id, rule) in candidates(mail) {
            if let Some(t) = messages::ticket_of(&mut *conn, &id).await? {
                return Ok((Some((t, rule)), None));
            }
        }
        if class == Class::Bounce
            && let Some(found) = self.find_bounced(conn, ctx, mail).await?
        {
            return Ok((Some(found), None));
        }
        if let Some(secret) = &self.cfg.reply_token_secret {
            for addr in recipient_addresses(mail) {
                let Some((_, detail)) = address::split_plus(addr) else {
                    continue;
                };
                if let Some(id) = reply_token::ticket_of(&detail, secret.expose())
                    && tickets::exists(&mut *conn, id).await?
                {
                    return Ok((Some((id, Rule::ReplyAddress)), None));
                }
            }
        }
        let tags = self.tags(ctx);
        if let Some(id) = find_ticket_id(&mail.subject, &tags) {
            if tickets::exists(&mut *conn, id).await? {
                return Ok((Some((id, Rule::SubjectTag)), None));
            }
            return Ok((
                None,
                Some(format!(
                    "subject tag names ticket #{id}, which does not exist"
                )),
            ));
        }
        Ok((None, None))
    }

    /// A bounce whose returned headers lost the Message-ID of our mail: what
    /// that mail answered, or the subject tag it carried.
    async fn find_bounced(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        mail: &ParsedMail,
    ) -> Result<Option<(i64, Rule)>, IngestError> {
        for id in &mail.embedded_in_reply_to {
            if let Some(t) = messages::ticket_of(&mut *conn, id).await? {
                return Ok(Some((t, Rule::Embedded)));
            }
        }
        let tags = self.tags(ctx);
        for subject in &mail.embedded_subjects {
            if let Some(id) = find_ticket_id(subject, &tags)
                && tickets::exists(&mut *conn, id).await?
            {
                return Ok(Some((id, Rule::SubjectTag)));
            }
        }
        Ok(None)
    }

    fn tags<'a>(&'a self, ctx: &'a Context) -> Vec<&'a str> {
        let mut tags: Vec<&str> = vec![self.cfg.subject_tag.as_str()];
        tags.extend(ctx.queues.iter().filter_map(|q| q.subject_tag.as_deref()));
        tags
    }

    async fn add_to_ticket(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        ticket: i64,
        rule: Rule,
        action: Action,
    ) -> Result<Outcome, IngestError> {
        let Some(tctx) = tickets::context(&mut *conn, ticket).await? else {
            return Err(IngestError::TicketVanished(ticket));
        };
        let speaker = self.speaker(conn, ctx, s, tctx.queue_id, action).await?;
        let (action, flag) = (speaker.action, speaker.flag);
        let row_id = s.message(conn, Some(ticket)).await?;
        let tx_id = tickets::add_transaction(
            &mut *conn,
            tickets::NewTransaction {
                ticket_id: ticket,
                flag,
                kind: action.as_str(),
                creator_id: Some(speaker.user_id),
                message_row_id: Some(row_id),
                body: &s.mail.body,
                thread_rule: Some(rule.as_str()),
                thread_note: None,
                classification: Some(s.class.as_str()),
                auto_submitted: s.class.is_automatic(),
                old_value: None,
                new_value: None,
                now: s.now,
            },
        )
        .await?;
        store_attachments(&mut *conn, tx_id, s.mail).await?;
        // A person's reply reopens a ticket that was waiting or done (RT's
        // default); a robot's never does.
        let old = tctx.status.as_str();
        if action == Action::Correspond
            && !s.class.is_automatic()
            && matches!(old, "resolved" | "stalled" | "needs-info")
        {
            tickets::set_status(&mut *conn, ticket, "open", s.now).await?;
            tickets::add_transaction(
                &mut *conn,
                tickets::NewTransaction {
                    ticket_id: ticket,
                    kind: "status",
                    creator_id: Some(s.sender.id),
                    message_row_id: None,
                    body: "",
                    thread_rule: None,
                    thread_note: Some("reopened by the requestor's reply"),
                    flag: None,
                    classification: None,
                    auto_submitted: false,
                    old_value: Some(old),
                    new_value: Some("open"),
                    now: s.now,
                },
            )
            .await?;
        } else {
            tickets::touch(&mut *conn, ticket, s.now).await?;
        }
        if !s.class.is_automatic() {
            let scope = notify::Scope {
                cfg: &self.cfg,
                ticket: &tctx,
                own: &ctx.own_addresses,
                now: s.now,
            };
            let (actor, body) = (speaker.email.as_str(), s.mail.body.as_str());
            // Authenticated staff correspondence goes to the requestors
            // (reply by mail); anyone else's reaches the owner or the staff.
            let told = match (action, speaker.voice) {
                (Action::Comment, _) => notify::commented(conn, &scope, actor, body).await,
                (Action::Correspond, Voice::Staff) => {
                    notify::staff_replied(conn, &scope, actor, body).await
                }
                (Action::Correspond, Voice::UnauthenticatedStaff) => {
                    notify::unauthenticated_staff_mail(conn, &scope, actor, body).await
                }
                (Action::Correspond, Voice::Outsider) => {
                    notify::requestor_replied(conn, &scope, actor, body).await
                }
            };
            told.map_err(IngestError::from)?;
        }
        let kind = match action {
            Action::Correspond => OutcomeKind::Replied,
            Action::Comment => OutcomeKind::Commented,
        };
        Ok(Outcome::new(
            kind,
            Some(ticket),
            format!("threaded by {} ({})", rule.as_str(), s.class.as_str()),
        ))
    }

    /// Who speaks on a ticket, and with what right. A signed personal
    /// reply address names a staff member of the queue and their voice
    /// (correspondence or comment) whatever `From:` says. Otherwise `From:`
    /// is a claim: staff of the queue may comment (it stays internal), but
    /// their correspondence reaches requestors only when our trusted server's
    /// `Authentication-Results` vouches for the address. Anyone else on the
    /// comment address is an outsider corresponding, flagged.
    async fn speaker(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        queue_id: i64,
        action: Action,
    ) -> Result<Speaker, IngestError> {
        for addr in recipient_addresses(s.mail) {
            let Some((_, detail)) = address::split_plus(addr) else {
                continue;
            };
            let Some((voice, uid)) = reply_token::personal_of(&detail, ctx.reply_secret.expose())
            else {
                continue;
            };
            if let Some(email) = users::staff_member(&mut *conn, uid, queue_id).await? {
                return Ok(Speaker {
                    user_id: uid,
                    email,
                    action: match voice {
                        Personal::Correspond => Action::Correspond,
                        Personal::Comment => Action::Comment,
                    },
                    voice: Voice::Staff,
                    flag: None,
                });
            }
        }
        let claimed = &s.from.email;
        let staff_here = users::staff_on_queue(&mut *conn, claimed, queue_id)
            .await?
            .is_some();
        let from_claim = |action, voice, flag| Speaker {
            user_id: s.sender.id,
            email: claimed.clone(),
            action,
            voice,
            flag,
        };
        Ok(match (action, staff_here) {
            (Action::Comment, true) => from_claim(Action::Comment, Voice::Staff, None),
            (Action::Comment, false) => from_claim(
                Action::Correspond,
                Voice::Outsider,
                Some(FLAG_OUTSIDER_COMMENT),
            ),
            (Action::Correspond, false) => from_claim(Action::Correspond, Voice::Outsider, None),
            (Action::Correspond, true) => {
                let vouched = self.cfg.trusted_authserv_id.as_deref().is_some_and(|id| {
                    auth_results::vouches_for(&s.mail.signals.auth_results, id, claimed)
                });
                if vouched {
                    from_claim(Action::Correspond, Voice::Staff, None)
                } else {
                    from_claim(
                        Action::Correspond,
                        Voice::UnauthenticatedStaff,
                        Some(FLAG_UNAUTHENTICATED),
                    )
                }
            }
        })
    }

    async fn create_ticket(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        route: &Route,
        thread_note: Option<&str>,
    ) -> Result<Outcome, IngestError> {
        let queue = ctx
            .queues
            .iter()
            .find(|q| q.id == route.queue_id)
            .ok_or(IngestError::QueueVanished(route.queue_id))?;
        let ticket = tickets::create(
            &mut *conn,
            tickets::NewTicket {
                queue_id: queue.id,
                subject: &s.mail.subject,
                now: s.now,
            },
        )
        .await?;
        tickets::add_requestor(&mut *conn, ticket, s.sender.id).await?;
        for cc in s.mail.cc.iter().chain(s.mail.to.iter()) {
            if cc.email == s.from.email || address::is_ours(&cc.email, &ctx.own_addresses) {
                continue;
            }
            // To: lines name the queue and perhaps colleagues; the colleagues
            // become Cc like the Cc: line (RT's ParseNewMessageForTicketCcs).
            let uid = users::ensure(&mut *conn, &cc.email, &cc.name, s.now).await?;
            tickets::add_cc(&mut *conn, ticket, uid).await?;
        }
        let row_id = s.message(conn, Some(ticket)).await?;
        let tx_id = tickets::add_transaction(
            &mut *conn,
            tickets::NewTransaction {
                ticket_id: ticket,
                kind: "create",
                creator_id: Some(s.sender.id),
                message_row_id: Some(row_id),
                body: &s.mail.body,
                thread_rule: Some(Rule::New.as_str()),
                thread_note,
                flag: None,
                classification: Some(s.class.as_str()),
                auto_submitted: s.class.is_automatic(),
                old_value: None,
                new_value: None,
                now: s.now,
            },
        )
        .await?;
        store_attachments(&mut *conn, tx_id, s.mail).await?;

        let ack = self.acknowledge(conn, ctx, s, queue, ticket).await?;
        let mut reason = format!("new ticket in queue {} via {}", queue.name, route.via);
        if let Some(note) = thread_note {
            reason.push_str(&format!("; {note}"));
        }
        reason.push_str(&format!("; {ack}"));
        Ok(Outcome::new(OutcomeKind::Created, Some(ticket), reason))
    }

    /// Writes the acknowledgement row unless the mail is automatic, the sender
    /// is over the rate limit, bouncing, or one of our own addresses.
    async fn acknowledge(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        queue: &queues::Queue,
        ticket: i64,
    ) -> Result<String, IngestError> {
        let (mail, from, now) = (s.mail, s.from, s.now);
        if s.class.is_automatic() {
            return Ok(format!("no acknowledgement: {} mail", s.class.as_str()));
        }
        if mail.forwarded_bounce {
            return Ok("no acknowledgement: a forwarded bounce".into());
        }
        if address::is_ours(&from.email, &ctx.own_addresses) {
            return Ok("no acknowledgement: sender is a queue address".into());
        }
        if s.sender.is_bouncing() {
            return Ok("no acknowledgement: sender address is bouncing".into());
        }
        let sent = s.sender.recent_acks;
        if sent >= i64::from(self.cfg.ack_rate_limit_per_hour) {
            return Ok(format!(
                "no acknowledgement: {sent} already sent to this sender in the last hour"
            ));
        }
        let tag = queue
            .subject_tag
            .as_deref()
            .unwrap_or(&self.cfg.subject_tag);
        let composed = compose::acknowledgement(&compose::AckInput {
            tag,
            ticket_id: ticket,
            subject: &mail.subject,
            requestor_name: &from.name,
            queue_name: &queue.name,
            instance_name: &self.cfg.instance_name,
        })
        .map_err(IngestError::from)?;
        let mut references = mail.references.clone();
        references.push(mail.message_id.clone());
        outbox::insert(
            &mut *conn,
            outbox::NewMail {
                ticket_id: ticket,
                kind: "ack",
                from_addr: &queue.correspond_address,
                from_name: &queue.name,
                reply_to: Some(&notify::reply_address(
                    &self.cfg,
                    &queue.correspond_address,
                    ticket,
                )),
                to: std::slice::from_ref(&from.email),
                cc: &[],
                subject: &composed.subject,
                body: &composed.body,
                html_body: composed.html_body.as_deref(),
                auto_submitted: true,
                message_id: &composed.message_id,
                in_reply_to: Some(&mail.message_id),
                references: &references,
                now,
            },
        )
        .await?;
        Ok("acknowledgement queued".into())
    }

    /// Marks the addresses a DSN reports as failed so we stop mailing them.
    async fn record_bounce(
        &self,
        conn: &mut AnyConnection,
        mail: &ParsedMail,
        now: i64,
    ) -> Result<(), IngestError> {
        for att in &mail.attachments {
            if att.content_type != "message/delivery-status" {
                continue;
            }
            let text = String::from_utf8_lossy(&att.content);
            // A DSN is a claim anyone can forge: it counts only for an address
            // we really mailed, quoted by the Message-ID we sent it.
            let quoted: Vec<String> = mail
                .embedded_message_ids
                .iter()
                .chain(&mail.in_reply_to)
                .chain(&mail.references)
                .cloned()
                .collect();
            for addr in failed_recipients(&text) {
                if outbox::sent_to(&mut *conn, &quoted, &addr).await? {
                    users::mark_bouncing(&mut *conn, &addr, now).await?;
                } else {
                    warn!(
                        "a bounce names an address we did not mail with the quoted message; not marked"
                    );
                }
            }
        }
        Ok(())
    }
}

async fn quarantine_outcome(
    conn: &mut AnyConnection,
    raw: &[u8],
    reason: String,
    label: &str,
    now: i64,
) -> Result<Outcome, IngestError> {
    let id = quarantine::put(conn, raw, &reason, label, now).await?;
    let mut o = Outcome::new(OutcomeKind::Quarantined, None, reason);
    o.quarantine_id = Some(id);
    Ok(o)
}

/// Runs a quarantined message through ingest again (after a queue was added
/// or a bug fixed). `None` when there is no such entry.
pub async fn retry_quarantined(
    ingestor: &Ingestor,
    id: i64,
    hints: &Hints,
) -> Result<Option<Outcome>, IngestError> {
    let mut tx = ingestor.db.begin_write().await?;
    let Some((raw, _status)) = quarantine::get(&mut tx, id).await? else {
        return Ok(None);
    };
    let ctx = ingestor.context(&mut tx, hints).await?;
    let outcome = ingestor
        .ingest_in(
            &mut tx,
            &ctx,
            Item {
                raw: &raw,
                source: &Source::QuarantineRetry(id),
                parsed: None,
            },
            store::now_ms(),
            false,
        )
        .await?;
    match outcome.outcome {
        OutcomeKind::Quarantined => {
            quarantine::resolve(&mut tx, id, "held", Some(&outcome.reason), None).await?
        }
        _ => quarantine::resolve(&mut tx, id, "released", None, outcome.ticket).await?,
    }
    tx.commit().await?;
    Ok(Some(outcome))
}

/// `Final-Recipient` of each per-recipient block whose `Action` is `failed`.
fn failed_recipients(dsn: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in dsn.replace("\r\n", "\n").split("\n\n") {
        let mut recipient = None;
        let mut failed = false;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "final-recipient" => {
                    let v = v.split_once(';').map(|(_, a)| a).unwrap_or(v);
                    recipient = crate::domain::address::normalise(v);
                }
                "action" => failed = v.trim().eq_ignore_ascii_case("failed"),
                _ => {}
            }
        }
        if let (Some(r), true) = (recipient, failed) {
            out.push(r);
        }
    }
    out
}

async fn store_attachments(
    conn: &mut AnyConnection,
    tx_id: i64,
    mail: &ParsedMail,
) -> Result<(), IngestError> {
    for a in &mail.attachments {
        tickets::add_attachment(&mut *conn, tx_id, &a.filename, &a.content_type, &a.content)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_failed_recipients_in_a_dsn() {
        let dsn = "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; Gone@Example.org\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; slow@example.org\nAction: delayed\n";
        assert_eq!(failed_recipients(dsn), vec!["gone@example.org".to_string()]);
    }
}
