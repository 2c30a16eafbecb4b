//! Storing a decided message: a new ticket or an entry on one, who spoke and
//! in what voice, the acknowledgement and the bounce mark.

use super::*;
use crate::domain::commands;

use crate::domain::address;
use crate::mail::inbound::classify::Class;
use crate::mail::inbound::parse::{self, ParsedMail};
use crate::mail::inbound::route::{Action, Route};
use crate::mail::inbound::thread::Rule;
use crate::mail::outbound::compose;
use crate::service::commands::MailCommands;
use crate::service::notify::{self, StaffNotice};
use crate::service::team_notice;
use crate::service::{intake, requestor};
use crate::store::{messages, outbox, queues, tickets, users};
use sqlx::AnyConnection;

pub(super) const FLAG_OUTSIDER_COMMENT: &str = "comment address used by a non-member";
pub(super) const FLAG_UNAUTHENTICATED: &str =
    "staff address not authenticated: not sent to the requestors";

/// How far a mail's author is trusted on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Voice {
    /// Staff of the queue, authenticated (or commenting, which stays internal).
    Staff,
    /// `From:` names staff of the queue but nothing proves it.
    UnauthenticatedStaff,
    /// A task's assignee from outside the application's queue, through
    /// their personal address: they fill in the task's open fields and
    /// write to it, nothing more (no commands).
    Assignee,
    /// A requestor, a Cc, anyone else.
    Outsider,
}

impl Voice {
    /// Commands are read from staff mail (and only noted when nothing
    /// authenticated it).
    fn may_command(self) -> bool {
        matches!(self, Voice::Staff | Voice::UnauthenticatedStaff)
    }

    /// Whose correspondence on a task may fill in its fields.
    fn answers_tasks(self) -> bool {
        matches!(self, Voice::Staff | Voice::Assignee)
    }
}

/// Who speaks on a ticket and what their mail becomes.
pub(super) struct Speaker {
    pub(super) user_id: i64,
    pub(super) email: String,
    pub(super) action: Action,
    pub(super) voice: Voice,
    pub(super) flag: Option<&'static str>,
}

/// One message on its way into the database, with what was decided about it.
pub(super) struct Stored<'a> {
    pub(super) mail: &'a ParsedMail,
    pub(super) raw: &'a [u8],
    pub(super) label: &'a str,
    pub(super) sender: &'a users::Person,
    pub(super) from: &'a parse::Mailbox,
    pub(super) class: Class,
    pub(super) now: i64,
}

impl Stored<'_> {
    /// The raw message row; a concurrent copy surfaces as `DuplicateRace`.
    pub(super) async fn message(
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

    /// The message on `ticket`: its raw row, its history entry and its
    /// attachments.
    pub(super) async fn record(
        &self,
        conn: &mut AnyConnection,
        ticket: i64,
        e: Entry<'_>,
    ) -> Result<(), IngestError> {
        let row_id = self.message(conn, Some(ticket)).await?;
        let tx_id = tickets::add_transaction(
            &mut *conn,
            tickets::NewTransaction {
                ticket_id: ticket,
                kind: e.kind,
                creator_id: Some(e.creator),
                message_row_id: Some(row_id),
                body: e.body,
                thread_rule: Some(e.rule.as_str()),
                thread_note: e.note,
                flag: e.flag,
                classification: Some(self.class.as_str()),
                auto_submitted: self.class.is_automatic(),
                old_value: None,
                new_value: None,
                now: self.now,
            },
        )
        .await?;
        store_attachments(&mut *conn, tx_id, self.mail).await
    }
}

/// How a message enters a ticket's history.
pub(super) struct Entry<'a> {
    pub(super) kind: &'a str,
    pub(super) creator: i64,
    pub(super) rule: Rule,
    pub(super) note: Option<&'a str>,
    pub(super) flag: Option<&'static str>,
    /// The text kept: the mail's body less any commands.
    pub(super) body: &'a str,
}

pub(super) async fn store_attachments(
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

impl Ingestor {
    pub(super) async fn add_to_ticket(
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
        if let Some(o) = self.follow_up(conn, ctx, s, &tctx, action).await? {
            return Ok(o);
        }
        let speaker = self
            .speaker(conn, ctx, s, (ticket, tctx.queue_id), action)
            .await?;
        let (action, flag) = (speaker.action, speaker.flag);
        // Staff correspondence may open with commands: run after the commit,
        // and never shown to the requestor.
        let commands = (action == Action::Correspond && speaker.voice.may_command())
            .then(|| crate::domain::commands::parse(&s.mail.body))
            .filter(|p| !p.commands.is_empty());
        let text = commands
            .as_ref()
            .map_or(s.mail.body.as_str(), |p| p.rest.as_str());
        s.record(
            conn,
            ticket,
            Entry {
                kind: action.as_str(),
                creator: speaker.user_id,
                rule,
                note: None,
                flag,
                body: text,
            },
        )
        .await?;
        reopen_or_touch(conn, s, ticket, &tctx.status, action).await?;
        // A reply either way moves the response clocks.
        crate::service::sla::refresh(conn, ticket, s.now).await?;
        let data = serde_json::json!({"changed": [action.as_str()], "by": speaker.email});
        crate::service::webhooks::emit(conn, &tctx, "ticket.updated", data, s.now).await?;
        if !s.class.is_automatic() {
            if speaker.voice == Voice::Outsider && action == Action::Correspond {
                intake::record_mail(conn, ticket, &s.mail.body, false, s.now).await?;
            }
            if speaker.voice == Voice::Staff
                && action == Action::Correspond
                && flag.is_none()
                && !commands::says_nothing(text)
            {
                crate::store::sla::note_first_response(conn, ticket, s.now).await?;
            }
            self.tell(conn, ctx, &tctx, &speaker, s, text).await?;
        }
        let kind = match action {
            Action::Correspond => OutcomeKind::Replied,
            Action::Comment => OutcomeKind::Commented,
        };
        let mut o = Outcome::new(
            kind,
            Some(ticket),
            format!("threaded by {} ({})", rule.as_str(), s.class.as_str()),
        );
        if speaker.voice.answers_tasks() && action == Action::Correspond && tctx.app_id.is_some() {
            o.task_reply = Some((ticket, speaker.user_id, text.to_string()));
        }
        o.commands = commands.map(|parsed| MailCommands {
            ticket,
            actor: speaker.email.clone(),
            authenticated: speaker.voice == Voice::Staff,
            parsed,
        });
        Ok(o)
    }

    /// Who hears of a message on a ticket: authenticated staff
    /// correspondence goes to the requestors (reply by mail); anyone else's
    /// reaches the owner or the staff.
    async fn tell(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        tctx: &tickets::TicketContext,
        speaker: &Speaker,
        s: &Stored<'_>,
        text: &str,
    ) -> Result<(), IngestError> {
        let scope = notify::Scope {
            cfg: &self.cfg,
            ticket: tctx,
            own: ctx.own_addresses.clone(),
            now: s.now,
        };
        let (actor, body) = (speaker.email.as_str(), text);
        let notice = match (speaker.action, speaker.voice) {
            (Action::Comment, _) => StaffNotice::Commented,
            // Commands alone (and the quoted mail) are not a reply.
            (Action::Correspond, Voice::Staff) if commands::says_nothing(body) => return Ok(()),
            (Action::Correspond, Voice::Staff) => {
                notify::staff_replied(conn, &scope, actor, body).await?;
                return Ok(());
            }
            // The application hears of it by webhook; nobody is mailed.
            (Action::Correspond, Voice::Assignee) => return Ok(()),
            (Action::Correspond, Voice::UnauthenticatedStaff) => StaffNotice::UnauthenticatedStaff,
            (Action::Correspond, Voice::Outsider) => StaffNotice::Replied,
        };
        notify::tell_staff(conn, &scope, actor, body, notice).await?;
        Ok(())
    }

    pub(super) async fn create_ticket(
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
        s.record(
            conn,
            ticket,
            Entry {
                kind: "create",
                creator: s.sender.id,
                rule: Rule::New,
                note: thread_note,
                flag: None,
                body: &s.mail.body,
            },
        )
        .await?;
        let missing = intake::record_mail(conn, ticket, &s.mail.body, true, s.now).await?;
        crate::service::sla::refresh(conn, ticket, s.now).await?;
        if queue.app_id.is_some() {
            let data = serde_json::json!({"subject": s.mail.subject, "requestor": s.from.email});
            crate::service::webhooks::emit_for(conn, ticket, "ticket.created", data, s.now).await?;
        }
        let ack = self
            .acknowledge(conn, ctx, s, queue, ticket, &intake::labels(&missing))
            .await?;
        if queue.notify_team_on_new != 0 && !s.class.is_automatic() {
            let words = (s.from.email.as_str(), s.mail.body.as_str());
            team_notice::new_ticket(conn, &self.cfg, &ctx.own_addresses, ticket, words, s.now)
                .await?;
        }
        let mut reason = format!("new ticket in queue {} via {}", queue.name, route.via);
        if let Some(note) = thread_note {
            reason.push_str(&format!("; {note}"));
        }
        reason.push_str(&format!("; {ack}"));
        Ok(Outcome::new(OutcomeKind::Created, Some(ticket), reason))
    }

    /// Writes the acknowledgement row unless the mail is automatic, the sender
    /// is over the rate limit, bouncing, or one of our own addresses.
    pub(super) async fn acknowledge(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        queue: &queues::Queue,
        ticket: i64,
        missing: &[&str],
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
            missing,
        })
        .map_err(IngestError::from)?;
        let link = requestor::link_for(&mut *conn, &self.cfg, &from.email, now).await?;
        let body = composed.body.clone() + &requestor::footer(link.as_deref());
        let mut references = mail.references.clone();
        references.push(mail.message_id.clone());
        outbox::insert(
            &mut *conn,
            outbox::NewMail {
                ticket_id: Some(ticket),
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
                body: &body,
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
}

/// A person's reply reopens a ticket that was waiting or done (RT's
/// default); a robot's never does. Otherwise the ticket is only touched.
async fn reopen_or_touch(
    conn: &mut AnyConnection,
    s: &Stored<'_>,
    ticket: i64,
    old: &str,
    action: Action,
) -> Result<(), IngestError> {
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
    Ok(())
}
