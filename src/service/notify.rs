//! Who is told what (RT's scrips, as a sane default):
//! - requestors and Cc get the acknowledgement, staff replies and public
//!   status changes;
//! - the owner, or the queue's staff when there is none, is told of
//!   requestor replies and of comments by others;
//! - comments never go to requestors; nobody is mailed their own words; no
//!   mail goes to one of our own queue addresses.

use sqlx::AnyConnection;

use super::ServiceError;
use crate::config::Config;
use crate::domain::address::is_ours;
use crate::domain::reply_token::{self, Personal};
use crate::domain::secret::Secret;
use crate::mail::outbound::compose::{self, Composed};
use crate::store::tickets::{self, TicketContext};
use crate::store::{outbox, queues, settings, users};

/// Every address of every queue: mail is never sent to one of them.
pub async fn own_addresses(conn: &mut AnyConnection) -> Result<Vec<String>, ServiceError> {
    Ok(queues::own_addresses(&queues::list(conn).await?))
}

/// Drops our own addresses, the actor, duplicates; keeps order.
fn recipients(
    list: impl IntoIterator<Item = String>,
    own: &[String],
    actor: Option<&str>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for a in list {
        let a = a.to_lowercase();
        if is_ours(&a, own) || Some(a.as_str()) == actor || out.contains(&a) {
            continue;
        }
        out.push(a);
    }
    out
}

/// Where replies to mail about a ticket should go: the per-ticket address
/// when configured, else the queue's.
pub fn reply_address(cfg: &Config, queue_address: &str, ticket: i64) -> String {
    match &cfg.reply_token_secret {
        Some(secret) => reply_token::address(queue_address, secret.expose(), ticket),
        None => queue_address.to_string(),
    }
}

/// Where an answer to a comment notice goes: always a comment address, so
/// a staff member answering by mail stays internal. The queue's comment
/// address, else `local+comment@domain` of its correspond address (which
/// ingest routes as a comment).
pub fn comment_reply_address(ticket: &TicketContext) -> String {
    ticket.comment_address.clone().unwrap_or_else(|| {
        crate::domain::address::with_detail(&ticket.correspond_address, "comment")
    })
}

/// What every notice needs: the ticket, our own addresses, the clock.
pub struct Scope<'a> {
    pub cfg: &'a Config,
    pub ticket: &'a TicketContext,
    /// Our own addresses, never mailed.
    pub own: Vec<String>,
    pub now: i64,
}

impl<'a> Scope<'a> {
    /// The scope of mail about `ticket`, with our own addresses loaded.
    pub async fn load(
        conn: &mut AnyConnection,
        cfg: &'a Config,
        ticket: &'a TicketContext,
        now: i64,
    ) -> Result<Scope<'a>, ServiceError> {
        Ok(Scope {
            cfg,
            ticket,
            own: own_addresses(conn).await?,
            now,
        })
    }
}

pub fn tag_of<'a>(cfg: &'a Config, ctx: &'a TicketContext) -> &'a str {
    ctx.subject_tag.as_deref().unwrap_or(&cfg.subject_tag)
}

/// Writes one outbox row threaded onto the ticket's mail. `None` when no
/// recipient is left after filtering.
#[allow(clippy::too_many_arguments)]
pub async fn enqueue(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    kind: &str,
    to: Vec<String>,
    cc: Vec<String>,
    composed: Composed,
    auto_submitted: bool,
    reply_to: Option<&str>,
    actor: Option<&str>,
) -> Result<Option<i64>, ServiceError> {
    let (ctx, now) = (scope.ticket, scope.now);
    let to = recipients(to, &scope.own, actor);
    let cc: Vec<String> = recipients(cc, &scope.own, actor)
        .into_iter()
        .filter(|c| !to.contains(c))
        .collect();
    if to.is_empty() && cc.is_empty() {
        return Ok(None);
    }
    let ids = outbox::thread_ids(&mut *conn, ctx.id).await?;
    let in_reply_to = ids.last().cloned();
    // The root and the nine most recent: enough for every client to thread.
    let mut references: Vec<String> = ids.first().cloned().into_iter().collect();
    references.extend(ids.iter().skip(1).rev().take(9).rev().cloned());
    let default_reply_to = reply_address(scope.cfg, &ctx.correspond_address, ctx.id);
    // A requestor's own mail carries their status-page link; never one
    // going to several people, who would see each other's.
    let mut body = composed.body;
    let for_staff = matches!(kind, "notify" | "sla_breach" | "team_new");
    if !for_staff && to.len() == 1 && cc.is_empty() {
        let link = super::requestor::link_for(&mut *conn, scope.cfg, &to[0], now).await?;
        body.push_str(&super::requestor::footer(link.as_deref()));
    }
    let id = outbox::insert(
        &mut *conn,
        outbox::NewMail {
            ticket_id: Some(ctx.id),
            kind,
            from_addr: &ctx.correspond_address,
            from_name: &ctx.queue_name,
            reply_to: Some(reply_to.unwrap_or(&default_reply_to)),
            to: &to,
            cc: &cc,
            subject: &composed.subject,
            body: &body,
            html_body: composed.html_body.as_deref(),
            auto_submitted,
            message_id: &composed.message_id,
            in_reply_to: in_reply_to.as_deref(),
            references: &references,
            now,
        },
    )
    .await?;
    Ok(Some(id))
}

/// The owner, else the queue's staff.
async fn staff_to_tell(
    conn: &mut AnyConnection,
    ctx: &TicketContext,
) -> Result<Vec<String>, ServiceError> {
    Ok(match &ctx.owner {
        Some(o) => vec![o.clone()],
        None => tickets::queue_staff(&mut *conn, ctx.queue_id).await?,
    })
}

/// What the owner or the queue's staff are told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffNotice {
    /// A requestor (or anyone not on staff) wrote.
    Replied,
    /// Mail from a staff address that nothing authenticated: kept on the
    /// ticket, never relayed to the requestors; the staff, the address's
    /// owner included, are told so a forgery does not go unseen.
    UnauthenticatedStaff,
    /// Someone commented. Answers go to a comment address, so they stay
    /// internal; requestors are never told.
    Commented,
    /// The ticket is now theirs (assigned or escalated to them).
    Assigned,
    /// Someone else took over their ticket.
    TakenOver,
    /// The owner handed the ticket back to triage.
    BackToTriage,
    /// A postponed ticket woke up.
    Woke,
    /// A command in the recipient's mail was refused.
    CommandRefused,
    /// An SLA target was missed.
    SlaBreached,
    /// A new ticket arrived in a queue they work.
    NewTicket,
}

impl StaffNotice {
    fn what(self) -> &'static str {
        match self {
            StaffNotice::Replied => "replied",
            StaffNotice::UnauthenticatedStaff => {
                "wrote from a staff address without authentication (not sent to the requestors)"
            }
            StaffNotice::Commented => "commented",
            StaffNotice::Assigned => "handed this ticket to you",
            StaffNotice::TakenOver => "took this ticket from you (it has a new owner)",
            StaffNotice::BackToTriage => "handed this ticket back to triage",
            StaffNotice::Woke => "woke this postponed ticket; it is open again",
            StaffNotice::CommandRefused => "refused a command in your mail",
            StaffNotice::SlaBreached => "recorded a missed SLA target on this ticket",
            StaffNotice::NewTicket => {
                "opened a new ticket (reply with `Owner: me` at the top to take it)"
            }
        }
    }

    /// The outbox kind: a breach is its own, so it can be counted.
    fn kind(self) -> &'static str {
        match self {
            StaffNotice::SlaBreached => "sla_breach",
            StaffNotice::NewTicket => "team_new",
            _ => "notify",
        }
    }

    fn voice(self) -> Personal {
        match self {
            StaffNotice::Commented => Personal::Comment,
            _ => Personal::Correspond,
        }
    }
}

/// One notice per staff member, each with a personal Reply-To
/// (`+u<ID>-…` for correspondence, `+c<ID>-…` after a comment), so an
/// answer by mail is authenticated as them whatever their `From:` says.
/// Returns the first row written.
pub async fn tell_staff(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    actor: &str,
    body: &str,
    notice: StaffNotice,
) -> Result<Option<i64>, ServiceError> {
    let mut people = staff_to_tell(&mut *conn, scope.ticket).await?;
    if notice == StaffNotice::Commented {
        // A task's assignee from outside the queue never reads its comments.
        people = users::only_staff_of(&mut *conn, people, scope.ticket.queue_id).await?;
    }
    tell_people(conn, scope, actor, body, notice, people).await
}

/// [`tell_staff`] to the people named (a new owner, the one a ticket was
/// taken from).
pub async fn tell_people(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    actor: &str,
    body: &str,
    notice: StaffNotice,
    people: Vec<String>,
) -> Result<Option<i64>, ServiceError> {
    let (what, voice) = (notice.what(), notice.voice());
    let tell_actor = notice == StaffNotice::UnauthenticatedStaff;
    let (cfg, ctx) = (scope.cfg, scope.ticket);
    // The actor is not told of their own words, except that mail claiming
    // to be from them which nothing authenticated reaches them too.
    let exclude = (!tell_actor).then_some(actor);
    let to = recipients(people, &scope.own, exclude);
    if to.is_empty() {
        return Ok(None);
    }
    let secret = reply_secret(&mut *conn, cfg).await?;
    let mut first = None;
    for who in to {
        let composed = compose::staff_notice(&compose::NotifyInput {
            tag: tag_of(cfg, ctx),
            ticket_id: ctx.id,
            subject: &ctx.subject,
            queue_name: &ctx.queue_name,
            actor,
            what,
            body,
            instance_name: &cfg.instance_name,
        })?;
        let reply_to = match users::staff_on_queue(&mut *conn, &who, ctx.queue_id).await? {
            Some(uid) => {
                reply_token::personal_address(&ctx.correspond_address, secret.expose(), voice, uid)
            }
            // Not (or no longer) staff here: no personal voice; a comment
            // still answers to a comment address.
            None => match voice {
                Personal::Comment => comment_reply_address(ctx),
                Personal::Correspond => reply_address(cfg, &ctx.correspond_address, ctx.id),
            },
        };
        let id = enqueue(
            conn,
            scope,
            notice.kind(),
            vec![who],
            vec![],
            composed,
            true,
            Some(&reply_to),
            exclude,
        )
        .await?;
        first = first.or(id);
    }
    Ok(first)
}

/// Mail to a task's assignee, who may not work the queue: a personal
/// Reply-To all the same, so their answer by mail is theirs (ingest accepts
/// it as theirs only while they are the task's assignee).
pub async fn tell_assignee(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    (email, uid): (&str, i64),
    actor: &str,
    what: &str,
    body: &str,
) -> Result<Option<i64>, ServiceError> {
    let (cfg, ctx) = (scope.cfg, scope.ticket);
    let secret = reply_secret(&mut *conn, cfg).await?;
    let composed = compose::staff_notice(&compose::NotifyInput {
        tag: tag_of(cfg, ctx),
        ticket_id: ctx.id,
        subject: &ctx.subject,
        queue_name: &ctx.queue_name,
        actor,
        what,
        body,
        instance_name: &cfg.instance_name,
    })?;
    let reply_to = reply_token::personal_address(
        &ctx.correspond_address,
        secret.expose(),
        Personal::Correspond,
        uid,
    );
    enqueue(
        conn,
        scope,
        "notify",
        vec![email.to_string()],
        vec![],
        composed,
        true,
        Some(&reply_to),
        None,
    )
    .await
}

/// The secret that signs reply addresses: the configured one, else one
/// generated into the database on first use.
pub async fn reply_secret(conn: &mut AnyConnection, cfg: &Config) -> crate::store::Result<Secret> {
    if let Some(s) = &cfg.reply_token_secret {
        return Ok(s.clone());
    }
    settings::get_or_create(conn, "reply_token_secret", reply_token::generate_secret)
        .await
        .map(Secret::new)
}

/// A staff member replied: the requestors and Cc get it, as a person's mail.
pub async fn staff_replied(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    actor: &str,
    body: &str,
) -> Result<Option<i64>, ServiceError> {
    let (cfg, ctx) = (scope.cfg, scope.ticket);
    let to = tickets::requestor_emails(&mut *conn, ctx.id).await?;
    let cc = tickets::cc_emails(&mut *conn, ctx.id).await?;
    let composed = compose::reply(
        tag_of(cfg, ctx),
        ctx.id,
        &ctx.subject,
        &ctx.queue_name,
        body,
        &cfg.instance_name,
    )?;
    enqueue(
        conn,
        scope,
        "reply",
        to,
        cc,
        composed,
        false,
        None,
        Some(actor),
    )
    .await
}

/// A public status change: the requestors and Cc are told.
pub async fn status_changed(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    old: &str,
    new: &str,
    eta: Option<&str>,
    reason: Option<&str>,
    actor: Option<&str>,
) -> Result<Option<i64>, ServiceError> {
    if !notifies(scope.ticket, event(old, new)) {
        return Ok(None);
    }
    let (cfg, ctx) = (scope.cfg, scope.ticket);
    let to = tickets::requestor_emails(&mut *conn, ctx.id).await?;
    let cc = tickets::cc_emails(&mut *conn, ctx.id).await?;
    let composed = compose::status_update(&compose::StatusInput {
        tag: tag_of(cfg, ctx),
        ticket_id: ctx.id,
        subject: &ctx.subject,
        old_status: old,
        new_status: new,
        owner: ctx.owner.as_deref(),
        eta,
        reason,
        instance_name: &cfg.instance_name,
    })?;
    let kind = match (new, reason) {
        ("resolved", _) => "resolved",
        ("needs-info", _) => "request_info",
        _ if new == old => "eta",
        _ => "status",
    };
    enqueue(conn, scope, kind, to, cc, composed, true, None, actor).await
}

/// Changes a queue may mail its requestors about (`docket queue set
/// --notify`).
pub const EVENTS: [&str; 8] = [
    "taken",
    "eta",
    "needs-info",
    "postponed",
    "stalled",
    "resolved",
    "rejected",
    "status",
];

/// A status change as the queue's notify setting names it.
fn event(old: &str, new: &str) -> &'static str {
    match new {
        "resolved" => "resolved",
        "rejected" => "rejected",
        "needs-info" => "needs-info",
        "postponed" => "postponed",
        "stalled" => "stalled",
        _ if new == old => "eta",
        _ => "status",
    }
}

fn notifies(ctx: &TicketContext, event: &str) -> bool {
    ctx.notify_events.split(',').any(|e| e.trim() == event)
}

/// "Alice is working on your request", when the queue tells requestors so.
pub async fn taken(
    conn: &mut AnyConnection,
    scope: &Scope<'_>,
    owner: &str,
    actor: &str,
) -> Result<Option<i64>, ServiceError> {
    if !notifies(scope.ticket, "taken") {
        return Ok(None);
    }
    let (cfg, ctx) = (scope.cfg, scope.ticket);
    let name = owner.split('@').next().unwrap_or(owner);
    let reason = format!("{name} is working on your request.");
    let to = tickets::requestor_emails(&mut *conn, ctx.id).await?;
    let cc = tickets::cc_emails(&mut *conn, ctx.id).await?;
    let composed = compose::status_update(&compose::StatusInput {
        tag: tag_of(cfg, ctx),
        ticket_id: ctx.id,
        subject: &ctx.subject,
        old_status: &ctx.status,
        new_status: &ctx.status,
        owner: Some(owner),
        eta: None,
        reason: Some(&reason),
        instance_name: &cfg.instance_name,
    })?;
    enqueue(
        conn,
        scope,
        "taken",
        to,
        cc,
        composed,
        true,
        None,
        Some(actor),
    )
    .await
}
