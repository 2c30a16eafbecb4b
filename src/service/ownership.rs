//! Who works a ticket: take, assign, take over and escalate, each within
//! the owner's WIP limit, each recorded with its reason, and the people it
//! concerns told.
//!
//! Rules: a member of the queue (or an admin) may take a ticket, an owned
//! one included (the previous owner is told). Only a triager of the queue
//! or an admin assigns to someone else, and only to a member. Taking or
//! being given a ticket past one's limit of `open` tickets is refused,
//! unless a triager or admin forces it, which the history records. The
//! owner (or a triager) escalates to another member, or back to triage.

use sqlx::AnyConnection;

use super::{ServiceError, notify};
use crate::config::Config;
use crate::domain::lifecycle::Status;
use crate::store::tickets::{self, TicketContext};
use crate::store::triage::{self, Standing};
use crate::store::{Db, Tx};

/// What a hand-over is, for its history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Take,
    Assign,
    Escalate,
}

/// The actor takes the ticket (taking it over if someone else has it).
pub async fn take(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    force: bool,
    now: i64,
) -> Result<(), ServiceError> {
    let (mut tx, ctx, who) = open(db, ticket, actor).await?;
    hand_over(
        &mut tx,
        cfg,
        &ctx,
        &who,
        Some(actor),
        Kind::Take,
        force,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A triager or admin gives the ticket to `owner`, or takes it from
/// whoever has it (`None`).
pub async fn assign(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    owner: Option<&str>,
    force: bool,
    now: i64,
) -> Result<(), ServiceError> {
    let (mut tx, ctx, who) = open(db, ticket, actor).await?;
    if !who.is_triager() {
        return Err(ServiceError::refused(
            "not_triager",
            format!(
                "{actor} cannot assign tickets on queue {}: only its triagers and admins can",
                ctx.queue_name
            ),
        ));
    }
    hand_over(
        &mut tx,
        cfg,
        &ctx,
        &who,
        owner,
        Kind::Assign,
        force,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The owner (or a triager) hands the ticket to another member, or back to
/// triage (`to` is `None`), with a reason.
pub async fn escalate(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    to: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let reason = required_reason(reason, "escalating")?;
    let (mut tx, ctx, who) = open(db, ticket, actor).await?;
    if ctx.owner.as_deref() != Some(actor) && !who.is_triager() {
        return Err(ServiceError::refused(
            "not_owner",
            format!("{actor} cannot escalate ticket #{ticket}: only its owner or a triager can"),
        ));
    }
    hand_over(
        &mut tx,
        cfg,
        &ctx,
        &who,
        to,
        Kind::Escalate,
        false,
        Some(reason),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A reason with text in it, or a refusal naming what needed one.
pub fn required_reason<'a>(reason: &'a str, doing: &str) -> Result<&'a str, ServiceError> {
    let r = reason.trim();
    if r.is_empty() {
        return Err(ServiceError::refused(
            "reason_required",
            format!("{doing} needs a reason"),
        ));
    }
    Ok(r)
}

/// The write transaction, the ticket and the actor's standing on its queue.
async fn open(
    db: &Db,
    ticket: i64,
    actor: &str,
) -> Result<(Tx, TicketContext, Standing), ServiceError> {
    let mut tx = db.begin_write().await?;
    let ctx = tickets::context(&mut tx, ticket)
        .await?
        .ok_or(ServiceError::NoTicket(ticket))?;
    let who = member(&mut tx, actor, &ctx).await?;
    Ok((tx, ctx, who))
}

/// The standing of a member of the ticket's queue (admins count).
async fn member(
    conn: &mut AnyConnection,
    email: &str,
    ctx: &TicketContext,
) -> Result<Standing, ServiceError> {
    match triage::standing(conn, email, ctx.queue_id).await? {
        Some(s) if s.is_member() || s.is_admin() => Ok(s),
        _ => Err(ServiceError::refused(
            "not_member",
            format!(
                "{email} cannot own this ticket: owners are staff who work queue {}",
                ctx.queue_name
            ),
        )),
    }
}

/// Refuses a hand-over that would put `owner` past their WIP limit, unless
/// a triager forces it; returns the note the history keeps of a forced one.
async fn check_wip(
    conn: &mut AnyConnection,
    actor: &Standing,
    owner: &Standing,
    force: bool,
) -> Result<Option<String>, ServiceError> {
    let Some(limit) = owner.wip_limit else {
        return Ok(None);
    };
    let open = triage::open_count(conn, owner.user_id).await?;
    if open < limit {
        return Ok(None);
    }
    let over = format!("{} has {open} of {limit} open tickets", owner.email);
    if !force {
        return Err(ServiceError::refused("wip_limit", over));
    }
    if !actor.is_triager() {
        return Err(ServiceError::refused(
            "not_triager",
            format!("{over}; only a triager or admin can go over a WIP limit"),
        ));
    }
    Ok(Some(format!(
        "over the WIP limit ({over}), forced by {}",
        actor.email
    )))
}

#[allow(clippy::too_many_arguments)]
async fn hand_over(
    tx: &mut Tx,
    cfg: &Config,
    ctx: &TicketContext,
    actor: &Standing,
    owner: Option<&str>,
    kind: Kind,
    force: bool,
    reason: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    let status = Status::parse(&ctx.status).unwrap_or(Status::Open);
    let new_owner = match owner {
        Some(o) => Some(member(tx, o, ctx).await?),
        None => None,
    };
    if new_owner.as_ref().map(|o| o.email.as_str()) == ctx.owner.as_deref() {
        return Ok(());
    }
    // A new ticket someone takes is being worked on: it opens, and counts.
    let opens = status == Status::New && new_owner.is_some();
    let forced = match &new_owner {
        Some(o) if opens || status.counts_for_wip() => check_wip(tx, actor, o, force).await?,
        _ => None,
    };
    tickets::set_owner(&mut *tx, ctx.id, new_owner.as_ref().map(|o| o.user_id), now).await?;
    if opens {
        triage::set_state(&mut *tx, ctx.id, Status::Open.as_str(), None, None, now).await?;
    }
    let previous = ctx.owner.as_deref();
    let note = match (kind, previous, &forced) {
        (_, _, Some(f)) => Some(f.clone()),
        (Kind::Take, Some(p), None) => Some(format!("taken over from {p}")),
        _ => None,
    };
    tickets::add_transaction(
        &mut *tx,
        tickets::NewTransaction {
            ticket_id: ctx.id,
            kind: if kind == Kind::Escalate {
                "escalate"
            } else {
                "owner"
            },
            creator_id: Some(actor.user_id),
            message_row_id: None,
            body: reason.unwrap_or(""),
            thread_rule: None,
            thread_note: note.as_deref(),
            flag: None,
            classification: None,
            auto_submitted: false,
            old_value: previous,
            new_value: new_owner.as_ref().map(|o| o.email.as_str()),
            now,
        },
    )
    .await?;
    let to = new_owner.as_ref().map(|o| o.email.as_str());
    let data = serde_json::json!({"changed": ["owner"], "owner": to, "by": actor.email});
    super::webhooks::emit(&mut *tx, ctx, "ticket.updated", data, now).await?;
    tell(tx, cfg, ctx, actor, new_owner.as_ref(), reason, now).await
}

/// The new owner hears the ticket is theirs; a previous owner that someone
/// else took it from hears that; a ticket back in triage reaches the
/// queue's staff.
async fn tell(
    tx: &mut Tx,
    cfg: &Config,
    ctx: &TicketContext,
    actor: &Standing,
    new_owner: Option<&Standing>,
    reason: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    let scope = notify::Scope::load(&mut *tx, cfg, ctx, now).await?;
    let (by, why) = (actor.email.as_str(), reason.unwrap_or(""));
    match new_owner {
        Some(o) => {
            let people = vec![o.email.clone()];
            notify::tell_people(tx, &scope, by, why, notify::StaffNotice::Assigned, people).await?;
            notify::taken(tx, &scope, &o.email, by).await?;
        }
        None => {
            let mut back = ctx.clone();
            back.owner = None;
            let scope = notify::Scope {
                ticket: &back,
                ..scope
            };
            notify::tell_staff(tx, &scope, by, why, notify::StaffNotice::BackToTriage).await?;
            return Ok(());
        }
    }
    if let Some(p) = &ctx.owner {
        let people = vec![p.clone()];
        notify::tell_people(tx, &scope, by, why, notify::StaffNotice::TakenOver, people).await?;
    }
    Ok(())
}
