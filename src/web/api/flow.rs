//! The flow of a ticket over the API: take and escalate, postpone and
//! ETA, children and links, and its history.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::Problems;
use super::tickets::{Ticket, load};
use super::{ApiError, Body, P, Reach, readable, writable};
use crate::service::api_access::Access;
use crate::service::{links, ownership, status};
use crate::web::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct Take {
    /// Go over the WIP limit (triagers and admins).
    #[serde(default)]
    pub force: bool,
}

/// The token's user takes the ticket.
#[utoipa::path(post, operation_id = "ticket_take", path = "/api/v1/tickets/{id}/take", tag = "tickets", request_body = Take,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Ticket), Problems), security(("bearer" = [])))]
pub async fn take(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(t): Body<Take>,
) -> Result<axum::Json<Ticket>, ApiError> {
    writable(&state, &a, id).await?;
    ownership::take(&state.db, &state.cfg, id, &a.actor, t.force, state.now()).await?;
    Ok(axum::Json(load(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Escalate {
    /// Another member; absent: back to triage.
    pub to: Option<String>,
    pub reason: String,
}

#[utoipa::path(post, operation_id = "ticket_escalate", path = "/api/v1/tickets/{id}/escalate", tag = "tickets", request_body = Escalate,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Ticket), Problems), security(("bearer" = [])))]
pub async fn escalate(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(e): Body<Escalate>,
) -> Result<axum::Json<Ticket>, ApiError> {
    writable(&state, &a, id).await?;
    let to = e.to.as_deref().map(str::trim).filter(|t| !t.is_empty());
    ownership::escalate(
        &state.db,
        &state.cfg,
        id,
        &a.actor,
        to,
        &e.reason,
        state.now(),
    )
    .await?;
    Ok(axum::Json(load(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Timed {
    /// RFC 3339.
    pub at: String,
    pub reason: String,
}

fn rfc3339_ms(s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.timestamp_millis())
        .map_err(|_| ApiError::Invalid(format!("{s:?} is not an RFC 3339 time")))
}

/// Puts the ticket off until `at`; it opens again then.
#[utoipa::path(post, operation_id = "ticket_postpone", path = "/api/v1/tickets/{id}/postpone", tag = "tickets", request_body = Timed,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Ticket), Problems), security(("bearer" = [])))]
pub async fn postpone(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(t): Body<Timed>,
) -> Result<axum::Json<Ticket>, ApiError> {
    writable(&state, &a, id).await?;
    let at = rfc3339_ms(&t.at)?;
    status::postpone(
        &state.db,
        &state.cfg,
        id,
        &a.actor,
        at,
        &t.reason,
        state.now(),
    )
    .await?;
    Ok(axum::Json(load(&state, &a, id).await?))
}

/// Says when the work is expected done, and why.
#[utoipa::path(post, operation_id = "ticket_eta", path = "/api/v1/tickets/{id}/eta", tag = "tickets", request_body = Timed,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Ticket), Problems), security(("bearer" = [])))]
pub async fn eta(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(t): Body<Timed>,
) -> Result<axum::Json<Ticket>, ApiError> {
    writable(&state, &a, id).await?;
    let at = rfc3339_ms(&t.at)?;
    status::set_eta(
        &state.db,
        &state.cfg,
        id,
        &a.actor,
        at,
        &t.reason,
        state.now(),
    )
    .await?;
    Ok(axum::Json(load(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewChild {
    pub subject: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

/// Splits off a child ticket (same queue and requestors).
#[utoipa::path(post, operation_id = "ticket_child", path = "/api/v1/tickets/{id}/children", tag = "tickets", request_body = NewChild,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Created), Problems), security(("bearer" = [])))]
pub async fn child(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(c): Body<NewChild>,
) -> Result<impl IntoResponse, ApiError> {
    writable(&state, &a, id).await?;
    let child = links::create_child(&state.db, id, &a.actor, &c.subject, state.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(Created { id: child })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewLink {
    /// `depends-on`, `refers-to`, or `merge-into` (this ticket is a duplicate of target).
    pub kind: String,
    pub target: i64,
}

#[utoipa::path(post, operation_id = "ticket_link", path = "/api/v1/tickets/{id}/links", tag = "tickets", request_body = NewLink,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Ticket), Problems), security(("bearer" = [])))]
pub async fn link(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(l): Body<NewLink>,
) -> Result<axum::Json<Ticket>, ApiError> {
    writable(&state, &a, id).await?;
    if readable(&state, &a, l.target).await.ok() != Some(Reach::Queue) {
        return Err(ApiError::Invalid(format!(
            "no ticket #{} for this token",
            l.target
        )));
    }
    let now = state.now();
    let kind = match l.kind.as_str() {
        "depends-on" => links::LinkKind::DependsOn,
        "refers-to" => links::LinkKind::RefersTo,
        "merge-into" => {
            links::merge(&state.db, id, l.target, &a.actor, now).await?;
            return Ok(axum::Json(load(&state, &a, id).await?));
        }
        other => {
            return Err(ApiError::Invalid(format!(
                "kind {other:?} is depends-on, refers-to or merge-into"
            )));
        }
    };
    links::link(&state.db, id, &a.actor, kind, l.target, now).await?;
    Ok(axum::Json(load(&state, &a, id).await?))
}

/// One history entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub from: Option<String>,
    pub created_at: String,
    pub body: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct History {
    pub items: Vec<Entry>,
}

/// The ticket's append-only history, oldest first.
#[utoipa::path(get, operation_id = "ticket_history", path = "/api/v1/tickets/{id}/history", tag = "tickets",
    params(("id" = i64, Path)), responses((status = 200, body = History), Problems),
    security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<History>, ApiError> {
    let reach = readable(&state, &a, id).await?;
    let mut conn = state.db.conn().await?;
    let detail = crate::store::tickets::show(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let items = detail
        .transactions
        .into_iter()
        // An assignee outside the queue reads what concerns the task, not comments.
        .filter(|t| reach == Reach::Queue || t.kind != "comment")
        .map(|t| Entry {
            id: t.id,
            kind: t.kind,
            from: t.from,
            created_at: t.created_at,
            body: t.body,
            old_value: t.old_value,
            new_value: t.new_value,
            note: t.thread_note,
        })
        .collect();
    Ok(axum::Json(History { items }))
}
