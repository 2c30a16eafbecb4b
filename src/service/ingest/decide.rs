//! Deciding what a message is: which ticket it threads to, whether it is a
//! bounce, and what it changes.

use std::borrow::Cow;

use super::*;
use crate::domain::address;
use crate::domain::reply_token::{self};
use crate::domain::subject_tag::find_ticket_id;
use crate::mail::inbound::classify::{Class, classify};
use crate::mail::inbound::parse::{self, ParsedMail};
use crate::mail::inbound::route::{Action, Route, route};
use crate::mail::inbound::thread::{Rule, candidates};
use crate::service::notify;
use crate::store::{links, messages, queues, tickets, users};
use sqlx::AnyConnection;
use tracing::{Instrument, info_span};

/// Where the MTA delivered the mail, then its To and Cc.
pub(super) fn recipient_addresses(mail: &ParsedMail) -> impl Iterator<Item = &String> {
    mail.envelope_to
        .iter()
        .chain(mail.to.iter().map(|m| &m.email))
        .chain(mail.cc.iter().map(|m| &m.email))
}

impl Ingestor {
    pub(super) async fn context(
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
            keep_dates: hints.keep_dates,
            reply_secret,
        })
    }

    pub(super) async fn ingest_in(
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

    pub(super) async fn decide_and_store(
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

        let (mail, from) = match admit(raw, item.parsed, self.cfg.max_message_bytes) {
            Ok(admitted) => admitted,
            Err(reason) => return quarantine(conn, reason).await,
        };
        let mail: &ParsedMail = &mail;
        // An archive keeps its dates: the ticket, its history and its
        // clocks start when the mail was written.
        let now = match ctx.keep_dates {
            true => mail.sent_at.unwrap_or(now),
            false => now,
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
        let (recipients, routed, action) = routing(ctx, mail);
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
                Outcome::new(OutcomeKind::Ignored, None, LOOP_IGNORED)
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
    pub(super) async fn find_thread(
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
                    && let Some(id) = links::survivor(&mut *conn, id).await?
                {
                    return Ok((Some((id, Rule::ReplyAddress)), None));
                }
            }
        }
        let tags = self.tags(ctx);
        if let Some(id) = find_ticket_id(&mail.subject, &tags) {
            if let Some(id) = links::survivor(&mut *conn, id).await? {
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
    pub(super) async fn find_bounced(
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

    pub(super) fn tags<'a>(&'a self, ctx: &'a Context) -> Vec<&'a str> {
        let mut tags: Vec<&str> = vec![self.cfg.subject_tag.as_str()];
        tags.extend(ctx.queues.iter().filter_map(|q| q.subject_tag.as_deref()));
        tags
    }
}

const LOOP_IGNORED: &str =
    "our own mail came back (X-Loop or sent from a queue address); stored, no ticket";

/// Every recipient (envelope first), the queue they route to (or the
/// fallback queue) and the action: correspond or comment.
fn routing(ctx: &Context, mail: &ParsedMail) -> (Vec<String>, Option<Route>, Action) {
    let recipients: Vec<String> = recipient_addresses(mail).cloned().collect();
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
    (recipients, routed, action)
}

/// The parsed message and its sender, or why it cannot be taken in.
fn admit<'m>(
    raw: &[u8],
    parsed: Option<&'m ParsedMail>,
    max_bytes: usize,
) -> Result<(Cow<'m, ParsedMail>, parse::Mailbox), String> {
    if raw.len() > max_bytes {
        return Err(format!(
            "message is {} bytes, over the limit of {max_bytes} bytes",
            raw.len()
        ));
    }
    let mail = match parsed {
        Some(m) => Cow::Borrowed(m),
        None => Cow::Owned(parse::parse(raw).map_err(|e| e.to_string())?),
    };
    let from = mail
        .from
        .clone()
        .ok_or_else(|| "no usable sender address (From/Sender)".to_string())?;
    Ok((mail, from))
}

const DAY_MS: i64 = 24 * 3600 * 1000;

impl Ingestor {
    /// A requestor writing on a ticket resolved longer ago than its queue's
    /// reopen window starts a new ticket that refers to the old one (as
    /// Zammad's follow-up rule does) instead of reopening it.
    pub(super) async fn follow_up(
        &self,
        conn: &mut AnyConnection,
        ctx: &Context,
        s: &Stored<'_>,
        old: &tickets::TicketContext,
        action: Action,
    ) -> Result<Option<Outcome>, IngestError> {
        let long_ago = old
            .resolved_at
            .is_some_and(|at| at < s.now - old.reopen_days.max(0) * DAY_MS);
        if old.status != "resolved"
            || !long_ago
            || action != Action::Correspond
            || s.class.is_automatic()
            || s.sender.is_staff()
        {
            return Ok(None);
        }
        let route = Route {
            queue_id: old.queue_id,
            action: Action::Correspond,
            via: "follow-up".into(),
        };
        let note = format!(
            "follow-up to #{}, resolved more than {} days ago",
            old.id, old.reopen_days
        );
        let o = self
            .create_ticket(conn, ctx, s, &route, Some(&note))
            .await?;
        if let Some(new) = o.ticket {
            links::add(&mut *conn, new, "refers-to", old.id, s.now).await?;
        }
        Ok(Some(o))
    }
}
