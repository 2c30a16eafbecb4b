//! Webhook endpoints, their delivery log, and calendar feeds.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::Problems;
use super::{ApiError, Body, P};
use crate::service::api_access::Access;
use crate::service::webhooks;
use crate::store::{rfc3339, webhooks as store};
use crate::web::AppState;

fn app_of(a: &Access, write: bool) -> Result<i64, ApiError> {
    let app = a
        .app_id
        .ok_or_else(|| ApiError::Forbidden("only an application's token has webhooks".into()))?;
    if write && a.read_only {
        return Err(ApiError::Forbidden("this token is read-only".into()));
    }
    Ok(app)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewWebhook {
    pub url: String,
    /// Event names (`ticket.created`, `task.input_submitted`, …) or `*`.
    pub events: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookSecret {
    pub id: i64,
    /// `whsec_…`: shown this once; signs every delivery.
    pub secret: String,
}

/// Subscribes an endpoint of the token's application.
#[utoipa::path(post, operation_id = "hook_subscribe", path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhook,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = WebhookSecret), Problems), security(("bearer" = [])))]
pub async fn subscribe(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    Body(w): Body<NewWebhook>,
) -> Result<impl IntoResponse, ApiError> {
    let app = app_of(&a, true)?;
    if a.narrowed && a.queues.is_empty() {
        return Err(ApiError::Forbidden(
            "this token reaches none of the application's queues".into(),
        ));
    }
    let scope = (app, a.narrowed.then_some(a.queues.as_slice()));
    let (id, secret) =
        webhooks::subscribe(&state.db, scope, &w.url, &w.events, state.now()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(WebhookSecret { id, secret }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: String,
    pub disabled_at: Option<String>,
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    pub items: Vec<Webhook>,
}

#[utoipa::path(get, operation_id = "hook_list", path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, body = WebhookList), Problems), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
) -> Result<axum::Json<WebhookList>, ApiError> {
    let app = app_of(&a, false)?;
    let mut conn = state.db.conn().await?;
    let items = store::of_app(&mut conn, app)
        .await?
        .into_iter()
        .filter(|h| webhooks::within(&a, &h.queues))
        .map(|h| Webhook {
            id: h.id,
            url: h.url,
            events: h.events.split(',').map(str::to_string).collect(),
            created_at: rfc3339(h.created_at),
            disabled_at: h.disabled_at.map(rfc3339),
            disabled_reason: h.disabled_reason,
        })
        .collect();
    Ok(axum::Json(WebhookList { items }))
}

/// An endpoint of the token's application (within its queues), else 404.
async fn own_hook(state: &AppState, a: &Access, id: i64) -> Result<store::Hook, ApiError> {
    let mut conn = state.db.conn().await?;
    store::get(&mut conn, id)
        .await?
        .filter(|h| Some(h.app_id) == a.app_id && webhooks::within(a, &h.queues))
        .ok_or(ApiError::NotFound)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    /// The `webhook-id` header: the same on every attempt.
    pub webhook_id: String,
    pub event: String,
    pub ticket: Option<i64>,
    /// `pending`, `sent` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt: Option<String>,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub done_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryLog {
    pub items: Vec<Delivery>,
}

/// The endpoint's latest 200 deliveries, newest first.
#[utoipa::path(get, operation_id = "hook_deliveries", path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = i64, Path)), responses((status = 200, body = DeliveryLog), Problems),
    security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<DeliveryLog>, ApiError> {
    app_of(&a, false)?;
    own_hook(&state, &a, id).await?;
    let mut conn = state.db.conn().await?;
    let items = store::log(&mut conn, id, 200)
        .await?
        .into_iter()
        .map(|d| Delivery {
            next_attempt: (d.status == "pending").then(|| rfc3339(d.next_at)),
            id: d.id,
            webhook_id: d.msg_id,
            event: d.event,
            ticket: d.ticket_id,
            status: d.status,
            attempts: d.attempts,
            last_status: d.last_status,
            last_error: d.last_error,
            created_at: rfc3339(d.created_at),
            done_at: d.done_at.map(rfc3339),
        })
        .collect();
    Ok(axum::Json(DeliveryLog { items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    pub ok: bool,
}

/// Turns a disabled endpoint back on; its waiting deliveries go out.
#[utoipa::path(post, operation_id = "hook_enable", path = "/api/v1/webhooks/{id}/enable", tag = "webhooks",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Done), Problems), security(("bearer" = [])))]
pub async fn enable(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<Done>, ApiError> {
    app_of(&a, true)?;
    own_hook(&state, &a, id).await?;
    let mut tx = state.db.begin_write().await?;
    store::enable(&mut tx, id).await?;
    tx.commit().await?;
    Ok(axum::Json(Done { ok: true }))
}

/// Sends a dead delivery again, with the same `webhook-id`.
#[utoipa::path(post, operation_id = "hook_resend", path = "/api/v1/webhook-deliveries/{id}/resend", tag = "webhooks",
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = Done), Problems), security(("bearer" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<Done>, ApiError> {
    app_of(&a, true)?;
    let hook = {
        let mut conn = state.db.conn().await?;
        store::delivery(&mut conn, id)
            .await?
            .ok_or(ApiError::NotFound)?
            .webhook_id
    };
    own_hook(&state, &a, hook).await?;
    if webhooks::resend(&state.db, id, state.now()).await? {
        Ok(axum::Json(Done { ok: true }))
    } else {
        Err(ApiError::Refused {
            code: "already_done",
            message: "only a dead delivery is sent again".into(),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Feed {
    pub id: i64,
    /// The secret URL's path (`/calendar/….ics`); shown this once.
    pub url: String,
}

/// A calendar feed of the token's person (their tickets' and tasks' dates).
#[utoipa::path(post, operation_id = "hook_add_feed", path = "/api/v1/calendar-feeds", tag = "reads",
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Feed), Problems), security(("bearer" = [])))]
pub async fn add_feed(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
) -> Result<impl IntoResponse, ApiError> {
    if a.app_id.is_some() || a.read_only {
        return Err(ApiError::Forbidden(
            "a calendar feed is a person's: use a person's token that may write".into(),
        ));
    }
    let owner = crate::service::calendar_feed::Owner::Person(&a.actor);
    let (id, secret) = crate::service::calendar_feed::add(&state.db, owner, state.now()).await?;
    let url = format!("/calendar/{secret}.ics");
    Ok((StatusCode::CREATED, axum::Json(Feed { id, url })))
}
