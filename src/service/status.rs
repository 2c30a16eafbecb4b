//! Setting a ticket aside and saying when: postpone until a time, an ETA
//! with its reason, and asking the requestor for what is missing. Each
//! tells the requestors, with the reason.

use super::tickets::{check_move, history, set_status_in};
use super::{ServiceError, notify, ownership::required_reason};
use crate::config::Config;
use crate::domain::lifecycle::Status;
use crate::store::{self, Db, Tx, tickets, triage, users};

/// The ticket waits until `until` (ms), then the scheduler opens it again.
pub async fn postpone(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    until: i64,
    reason: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let reason = required_reason(reason, "postponing")?;
    if until <= now {
        return Err(ServiceError::Invalid(format!(
            "the time to wake up ({}) has passed",
            store::rfc3339(until)
        )));
    }
    let (mut tx, ctx) = open(db, ticket).await?;
    check_move(&ctx.status, Status::Postponed)?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    triage::set_state(&mut tx, ticket, "postponed", Some(reason), Some(until), now).await?;
    let when = store::rfc3339(until);
    let mut h = history(ticket, "postpone", Some(creator), reason, now);
    h.old_value = Some(&ctx.status);
    h.new_value = Some(&when);
    tickets::add_transaction(&mut tx, h).await?;
    super::sla::refresh(&mut tx, ticket, now).await?;
    let until_text = format!("postponed until {when}");
    tell_requestors(
        &mut tx,
        cfg,
        &ctx,
        "postponed",
        Some(&until_text),
        reason,
        actor,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets when the work is expected done, with why; the requestors are told.
pub async fn set_eta(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    at: i64,
    reason: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let reason = required_reason(reason, "setting an ETA")?;
    let (mut tx, ctx) = open(db, ticket).await?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    triage::set_eta(&mut tx, ticket, Some(at), Some(reason), now).await?;
    let when = store::rfc3339(at);
    let mut h = history(ticket, "eta", Some(creator), reason, now);
    h.new_value = Some(&when);
    tickets::add_transaction(&mut tx, h).await?;
    let status = ctx.status.clone();
    tell_requestors(&mut tx, cfg, &ctx, &status, Some(&when), reason, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Asks the requestor the `questions` and sets `needs-info`; their reply
/// opens the ticket again.
pub async fn request_info(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    questions: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let questions = required_reason(questions, "asking for information")?;
    let (mut tx, ctx) = open(db, ticket).await?;
    if ctx.status != Status::NeedsInfo.as_str() {
        check_move(&ctx.status, Status::NeedsInfo)?;
    }
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    set_status_in(
        &mut tx,
        ticket,
        creator,
        &ctx.status,
        "needs-info",
        Some(questions),
        now,
    )
    .await?;
    // Questions to the requestor are a reply to them.
    crate::store::sla::note_first_response(&mut tx, ticket, now).await?;
    // The mail lists the intake fields still missing, ready to fill in.
    let missing = super::intake::refresh(&mut tx, ticket).await?;
    let mut asked = questions.to_string();
    if !missing.is_empty() {
        asked.push_str("\n\nPlease also reply with these lines filled in:\n");
        for label in super::intake::labels(&missing) {
            asked.push_str(&format!("\n{label}: "));
        }
    }
    tell_requestors(&mut tx, cfg, &ctx, "needs-info", None, &asked, actor, now).await?;
    tx.commit().await?;
    Ok(())
}

async fn open(db: &Db, ticket: i64) -> Result<(Tx, tickets::TicketContext), ServiceError> {
    let mut tx = db.begin_write().await?;
    let ctx = tickets::context(&mut tx, ticket)
        .await?
        .ok_or(ServiceError::NoTicket(ticket))?;
    Ok((tx, ctx))
}

#[allow(clippy::too_many_arguments)]
async fn tell_requestors(
    tx: &mut Tx,
    cfg: &Config,
    ctx: &tickets::TicketContext,
    new: &str,
    eta: Option<&str>,
    reason: &str,
    actor: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let scope = notify::Scope::load(&mut *tx, cfg, ctx, now).await?;
    notify::status_changed(tx, &scope, &ctx.status, new, eta, Some(reason), Some(actor)).await?;
    Ok(())
}
