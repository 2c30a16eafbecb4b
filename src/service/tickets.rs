//! Staff actions on a ticket: reply, comment, change status, take and assign.

use super::{ServiceError, notify};
use crate::config::Config;
use crate::domain::lifecycle::{self, Status};
use crate::store::{Db, tickets, triage, users};

/// The lifecycle's states, in the order the UI offers them.
pub const STATUSES: [&str; 7] = [
    "new",
    "open",
    "needs-info",
    "postponed",
    "stalled",
    "resolved",
    "rejected",
];

pub(crate) fn history<'a>(
    ticket: i64,
    kind: &'a str,
    creator: Option<i64>,
    body: &'a str,
    now: i64,
) -> tickets::NewTransaction<'a> {
    tickets::NewTransaction {
        ticket_id: ticket,
        kind,
        creator_id: creator,
        message_row_id: None,
        body,
        thread_rule: None,
        thread_note: None,
        flag: None,
        classification: None,
        auto_submitted: false,
        old_value: None,
        new_value: None,
        now,
    }
}

/// A staff reply: history, the mail to requestors and Cc, and `new` → `open`.
pub async fn reply(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    body: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    post_text(db, cfg, ticket, actor, body, "correspond", now).await
}

/// An internal comment: history and a notice to the owner or the staff.
pub async fn comment(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    body: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    post_text(db, cfg, ticket, actor, body, "comment", now).await
}

/// A reply or comment by `actor`, with the mail it causes, in one transaction.
async fn post_text(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    body: &str,
    kind: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    if body.trim().is_empty() {
        let what = if kind == "comment" {
            "a comment"
        } else {
            "a reply"
        };
        return Err(ServiceError::Invalid(format!("{what} needs some text")));
    }
    let mut tx = db.begin_write().await?;
    let ctx = tickets::context(&mut tx, ticket)
        .await?
        .ok_or(ServiceError::NoTicket(ticket))?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    let id =
        tickets::add_transaction(&mut tx, history(ticket, kind, Some(creator), body, now)).await?;
    let data = serde_json::json!({"changed": [kind], "by": actor});
    super::webhooks::emit(&mut tx, &ctx, "ticket.updated", data, now).await?;
    let scope = notify::Scope::load(&mut tx, cfg, &ctx, now).await?;
    if kind == "comment" {
        notify::tell_staff(&mut tx, &scope, actor, body, notify::StaffNotice::Commented).await?;
    } else {
        notify::staff_replied(&mut tx, &scope, actor, body).await?;
    }
    // A staff reply on a new ticket means someone is on it.
    if kind == "correspond" && ctx.status == "new" {
        crate::store::sla::note_first_response(&mut tx, ticket, now).await?;
        set_status_in(&mut tx, ticket, creator, "new", "open", None, now).await?;
    } else {
        tickets::touch(&mut tx, ticket, now).await?;
        if kind == "correspond" {
            // A staff reply stops the response clocks.
            crate::store::sla::note_first_response(&mut tx, ticket, now).await?;
            super::sla::refresh(&mut tx, ticket, now).await?;
        }
    }
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn set_status_in(
    conn: &mut sqlx::AnyConnection,
    ticket: i64,
    creator: i64,
    old: &str,
    new: &str,
    note: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    triage::set_state(&mut *conn, ticket, new, note, None, now).await?;
    let mut h = history(ticket, "status", Some(creator), note.unwrap_or(""), now);
    h.old_value = Some(old);
    h.new_value = Some(new);
    tickets::add_transaction(&mut *conn, h).await?;
    super::sla::refresh(&mut *conn, ticket, now).await?;
    let data = serde_json::json!({"old": old, "new": new});
    super::webhooks::emit_for(conn, ticket, "ticket.status_changed", data, now).await?;
    Ok(())
}

/// A status change as staff ask for it.
#[derive(Debug, Clone, Copy)]
pub struct StatusChange<'a> {
    pub status: &'a str,
    /// Why, for the history and the requestors.
    pub reason: Option<&'a str>,
    /// When the requestor may expect progress (`stalled`, `needs-info`).
    pub eta: Option<&'a str>,
    /// The resolver confirms the request's acceptance criteria were met;
    /// resolving a ticket that states criteria needs it (it is recorded).
    pub criteria_met: bool,
}

/// Changes the status, recording the reason and ETA, and tells the requestors.
pub async fn change_status(
    db: &Db,
    cfg: &Config,
    ticket: i64,
    actor: &str,
    change: StatusChange<'_>,
    now: i64,
) -> Result<(), ServiceError> {
    let StatusChange {
        status: new,
        reason,
        eta,
        criteria_met,
    } = change;
    let to = Status::parse(new).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "unknown status {new:?}; one of {}",
            STATUSES.join(", ")
        ))
    })?;
    if to == Status::Postponed {
        return Err(ServiceError::refused(
            "until_required",
            "postponing needs a time to wake up: docket ticket postpone N --until TIME --reason R",
        ));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if to.needs_reason() && reason.is_none() {
        let what = if to == Status::Resolved {
            "resolving a ticket needs a resolution (it is mailed to the requestor)".to_string()
        } else {
            format!("setting a ticket to {to} needs a reason")
        };
        return Err(ServiceError::refused("reason_required", what));
    }
    let mut tx = db.begin_write().await?;
    let ctx = tickets::context(&mut tx, ticket)
        .await?
        .ok_or(ServiceError::NoTicket(ticket))?;
    if ctx.status == new {
        return Ok(());
    }
    check_move(&ctx.status, to)?;
    let criteria = if to == Status::Resolved {
        no_open_children(&mut tx, ticket).await?;
        confirmed_criteria(&mut tx, ticket, criteria_met).await?
    } else {
        None
    };
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    if let Some(text) = &criteria {
        let mut h = history(ticket, "criteria", Some(creator), text, now);
        h.new_value = Some("met");
        tickets::add_transaction(&mut tx, h).await?;
    }
    let note = match (reason, eta) {
        (Some(r), Some(e)) => Some(format!("{r} (expected: {e})")),
        (Some(r), None) => Some(r.to_string()),
        (None, Some(e)) => Some(format!("expected: {e}")),
        (None, None) => None,
    };
    set_status_in(
        &mut tx,
        ticket,
        creator,
        &ctx.status,
        new,
        note.as_deref(),
        now,
    )
    .await?;
    let scope = notify::Scope::load(&mut tx, cfg, &ctx, now).await?;
    notify::status_changed(&mut tx, &scope, &ctx.status, new, eta, reason, Some(actor)).await?;
    tx.commit().await?;
    Ok(())
}

/// Resolving a request that states acceptance criteria needs the
/// resolver's word that they were met; the criteria, for the history.
async fn confirmed_criteria(
    conn: &mut sqlx::AnyConnection,
    ticket: i64,
    met: bool,
) -> Result<Option<String>, ServiceError> {
    match acceptance_criteria(conn, ticket).await? {
        Some(text) if !met => Err(ServiceError::refused(
            "criteria_unconfirmed",
            format!(
                "the request states acceptance criteria ({text:?}); confirm they were met \
                 (the web form's box, --criteria-met, or a 'Criteria-met: yes' line by mail)"
            ),
        )),
        found => Ok(found),
    }
}

/// The request's acceptance criteria ("what done means"), when it states any.
pub async fn acceptance_criteria(
    conn: &mut sqlx::AnyConnection,
    ticket: i64,
) -> Result<Option<String>, ServiceError> {
    Ok(crate::store::intake::fields(conn, ticket)
        .await?
        .into_iter()
        .find(|(k, v)| k == "acceptance_criteria" && !v.trim().is_empty())
        .map(|(_, v)| v))
}

/// Sets the priority (0–9) or the due date (`YYYY-MM-DD`, none to clear),
/// recording the change in the history.
pub async fn set_field(
    db: &Db,
    ticket: i64,
    actor: &str,
    field: &str,
    value: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    let (column, stored, shown): (tickets::Field, Option<i64>, Option<String>) = match field {
        "priority" => {
            let p: i64 = value
                .unwrap_or("0")
                .trim()
                .parse()
                .ok()
                .filter(|p| (0..=9).contains(p))
                .ok_or_else(|| ServiceError::Invalid("Priority is a number from 0 to 9.".into()))?;
            (tickets::Field::Priority, Some(p), Some(p.to_string()))
        }
        "due" => match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => (tickets::Field::Due, None, None),
            Some(v) => {
                let date = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                    ServiceError::Invalid("A due date looks like 2026-12-31.".into())
                })?;
                let ms = date
                    .and_hms_opt(0, 0, 0)
                    .map(|d| d.and_utc().timestamp_millis());
                (tickets::Field::Due, ms, Some(v.to_string()))
            }
        },
        other => return Err(ServiceError::Invalid(format!("unknown field {other:?}"))),
    };
    let mut tx = db.begin_write().await?;
    let ctx = tickets::context(&mut tx, ticket)
        .await?
        .ok_or(ServiceError::NoTicket(ticket))?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    tickets::set_field(&mut tx, ticket, column, stored, now).await?;
    let data = serde_json::json!({"changed": [field], "by": actor});
    super::webhooks::emit(&mut tx, &ctx, "ticket.updated", data, now).await?;
    let mut h = history(
        ticket,
        if field == "due" { "due" } else { "priority" },
        Some(creator),
        "",
        now,
    );
    h.new_value = shown.as_deref();
    tickets::add_transaction(&mut tx, h).await?;
    // The priority may choose another SLA policy.
    super::sla::refresh(&mut tx, ticket, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Refuses a move the lifecycle table does not allow.
pub(crate) fn check_move(from: &str, to: Status) -> Result<(), ServiceError> {
    let from = Status::parse(from).unwrap_or(Status::Open);
    lifecycle::check(from, to).map_err(|e| ServiceError::refused("transition", e.to_string()))
}

/// A parent is resolved only once its children are.
async fn no_open_children(conn: &mut sqlx::AnyConnection, ticket: i64) -> Result<(), ServiceError> {
    let open = super::links::open_children(conn, ticket).await?;
    if open.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = open.iter().map(|c| format!("#{c}")).collect();
    Err(ServiceError::refused(
        "open_children",
        format!(
            "ticket #{ticket} cannot be resolved while its children are open: {}",
            list.join(", ")
        ),
    ))
}
