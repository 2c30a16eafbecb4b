//! Tickets over the API: create (the requestor is acknowledged as by
//! mail), read, list with a cursor, update through the flow's rules,
//! replies, comments, hand-overs, links, history.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::Problems;
use super::{ApiError, Body, P, Q, readable, writable};
use crate::service::api_access::Access;
use crate::service::{links, ownership, tickets as flow};
use crate::web::AppState;

/// A ticket as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    pub id: i64,
    pub queue: String,
    pub subject: String,
    pub status: String,
    pub owner: Option<String>,
    pub priority: i64,
    pub requestors: Vec<String>,
    pub cc: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub resolved_at: Option<String>,
    pub due_at: Option<String>,
    pub eta: Option<String>,
    pub eta_reason: Option<String>,
    pub status_reason: Option<String>,
    pub postponed_until: Option<String>,
    /// `us`, `requestor`, `outside`, or null.
    pub waiting_on: Option<String>,
    pub parent: Option<i64>,
    pub children: Vec<i64>,
    pub depends_on: Vec<i64>,
    pub refers_to: Vec<i64>,
    pub merged_into: Option<i64>,
}

/// The ticket as the API shows it; an application's hidden tasks are
/// among the children for the application alone.
pub(super) async fn load(state: &AppState, a: &Access, id: i64) -> Result<Ticket, ApiError> {
    let mut conn = state.db.conn().await?;
    let t = crate::store::tickets::show(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)?
        .ticket;
    let r = links::relations(&mut conn, id, a.app_id.is_some()).await?;
    Ok(Ticket {
        id: t.id,
        queue: t.queue,
        subject: t.subject,
        status: t.status,
        owner: t.owner,
        priority: t.priority,
        requestors: t.requestors,
        cc: t.cc,
        created_at: t.created_at,
        updated_at: t.updated_at,
        resolved_at: t.resolved_at,
        due_at: t.due_at,
        eta: t.eta,
        eta_reason: t.eta_reason,
        status_reason: t.status_reason,
        postponed_until: t.postponed_until,
        waiting_on: t.waiting_on.map(str::to_string),
        parent: r.parent,
        children: r.children,
        depends_on: r.depends_on,
        refers_to: r.refers_to,
        merged_into: r.merged_into,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTicket {
    /// The queue's name.
    pub queue: String,
    pub subject: String,
    pub body: String,
    /// The requestor's address; they get the acknowledgement.
    pub requestor: String,
}

/// Opens a ticket as if the requestor had mailed the queue.
#[utoipa::path(post, operation_id = "ticket_create", path = "/api/v1/tickets", tag = "tickets", request_body = NewTicket,
    params(("Idempotency-Key" = Option<String>, Header, description = "replays the first answer")),
    responses((status = 201, body = Ticket), Problems), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    Body(b): Body<NewTicket>,
) -> Result<impl IntoResponse, ApiError> {
    let queue = {
        let mut conn = state.db.conn().await?;
        crate::store::views::queue_by_name(&mut conn, b.queue.trim())
            .await?
            .filter(|q| a.may_use(*q))
            .ok_or_else(|| ApiError::Invalid(format!("no queue {:?} for this token", b.queue)))?
    };
    a.check_write(queue)?;
    let new = crate::service::intake::NewRequest {
        queue: b.queue.trim(),
        subject: &b.subject,
        body: &b.body,
        requestor: &b.requestor,
    };
    let id = crate::service::intake::open_by_api(&state.db, &state.cfg, new).await?;
    Ok((StatusCode::CREATED, axum::Json(load(&state, &a, id).await?)))
}

#[utoipa::path(get, operation_id = "ticket_show", path = "/api/v1/tickets/{id}", tag = "tickets",
    params(("id" = i64, Path)), responses((status = 200, body = Ticket), Problems),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<Ticket>, ApiError> {
    readable(&state, &a, id).await?;
    Ok(axum::Json(load(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A queue's name (default: all the token's queues).
    pub queue: Option<String>,
    pub status: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub after: Option<String>,
}

/// A ticket in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketLine {
    pub id: i64,
    pub queue: String,
    pub subject: String,
    pub status: String,
    pub owner: Option<String>,
    pub priority: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketLine>,
    /// Pass as `after` for the next page; null on the last.
    pub next: Option<String>,
}

/// Tickets of the token's queues, oldest first, a page at a time.
#[utoipa::path(get, operation_id = "ticket_list", path = "/api/v1/tickets", tag = "tickets", params(ListQuery),
    responses((status = 200, body = TicketPage), Problems), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    Q(q): Q<ListQuery>,
) -> Result<axum::Json<TicketPage>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::Invalid("limit is 1 to 200".into()));
    }
    let after = match q.after.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => s
            .parse::<i64>()
            .map_err(|_| ApiError::Invalid("after is the `next` of a previous page".into()))?,
        None => 0,
    };
    if let Some(s) = q.status.as_deref()
        && !flow::STATUSES.contains(&s)
    {
        return Err(ApiError::Invalid(format!(
            "status is one of {}",
            flow::STATUSES.join(", ")
        )));
    }
    let mut conn = state.db.conn().await?;
    let queues = match q.queue.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => match crate::store::views::queue_by_name(&mut conn, name).await? {
            Some(id) if a.may_use(id) => vec![id],
            _ => {
                return Err(ApiError::Invalid(format!(
                    "no queue {name:?} for this token"
                )));
            }
        },
        None => a.queues.clone(),
    };
    let page = crate::store::views::api_page(
        &mut conn,
        &queues,
        q.status.as_deref(),
        after,
        limit + 1,
        a.app_id.is_none(),
    )
    .await?;
    let more = page.len() as i64 > limit;
    let items: Vec<TicketLine> = page
        .into_iter()
        .take(limit as usize)
        .map(|r| TicketLine {
            id: r.id,
            queue: r.queue,
            subject: r.subject,
            status: r.status,
            owner: r.owner,
            priority: r.priority,
            created_at: crate::store::rfc3339(r.created_at),
            updated_at: crate::store::rfc3339(r.updated_at),
        })
        .collect();
    let next = more
        .then(|| items.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(axum::Json(TicketPage { items, next }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TicketChange {
    pub status: Option<String>,
    /// A member's address; `nobody` gives it back to triage.
    pub owner: Option<String>,
    #[schema(minimum = 0, maximum = 9)]
    pub priority: Option<i64>,
    /// Why (needed to resolve, reject, stall …; mailed to the requestors).
    pub reason: Option<String>,
    /// When the requestor may expect progress, as text for them.
    pub eta: Option<String>,
    /// Resolving: the request's acceptance criteria were met.
    #[serde(default)]
    pub criteria_met: bool,
    /// Go over the new owner's WIP limit (triagers).
    #[serde(default)]
    pub force: bool,
}

/// Changes priority, owner and status, in that order, each by the flow's
/// rules (a refused transition or WIP limit is a 409 naming the rule).
#[utoipa::path(patch, operation_id = "ticket_update", path = "/api/v1/tickets/{id}", tag = "tickets", request_body = TicketChange,
    params(("id" = i64, Path)), responses((status = 200, body = Ticket), Problems),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(c): Body<TicketChange>,
) -> Result<axum::Json<Ticket>, ApiError> {
    writable(&state, &a, id).await?;
    let (db, cfg, now) = (&state.db, &state.cfg, state.now());
    if let Some(p) = c.priority {
        flow::set_field(db, id, &a.actor, "priority", Some(&p.to_string()), now).await?;
    }
    if let Some(o) = c.owner.as_deref().map(str::trim) {
        let owner = (!o.is_empty() && !o.eq_ignore_ascii_case("nobody")).then_some(o);
        ownership::assign(db, cfg, id, &a.actor, owner, c.force, now).await?;
    }
    if let Some(s) = c.status.as_deref() {
        let change = flow::StatusChange {
            status: s,
            reason: c.reason.as_deref(),
            eta: c.eta.as_deref(),
            criteria_met: c.criteria_met,
        };
        flow::change_status(db, cfg, id, &a.actor, change, now).await?;
    }
    Ok(axum::Json(load(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Text {
    pub body: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Posted {
    /// The history entry written.
    pub transaction: i64,
}

/// A reply to the requestors (mailed to them).
#[utoipa::path(post, operation_id = "ticket_reply", path = "/api/v1/tickets/{id}/replies", tag = "tickets", request_body = Text,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Posted), Problems), security(("bearer" = [])))]
pub async fn reply(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(t): Body<Text>,
) -> Result<impl IntoResponse, ApiError> {
    writable(&state, &a, id).await?;
    let tx = flow::reply(&state.db, &state.cfg, id, &a.actor, &t.body, state.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(Posted { transaction: tx })))
}

/// An internal comment (never mailed to requestors).
#[utoipa::path(post, operation_id = "ticket_comment", path = "/api/v1/tickets/{id}/comments", tag = "tickets", request_body = Text,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Posted), Problems), security(("bearer" = [])))]
pub async fn comment(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(t): Body<Text>,
) -> Result<impl IntoResponse, ApiError> {
    writable(&state, &a, id).await?;
    let tx = flow::comment(&state.db, &state.cfg, id, &a.actor, &t.body, state.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(Posted { transaction: tx })))
}
