//! The JSON API under `/api/v1`: bearer tokens, RFC 9457 problems,
//! `Idempotency-Key` on every POST, and an OpenAPI 3.1 document generated
//! from these handlers' annotations (`/api/v1/openapi.json`), so the
//! description cannot drift from the code. Handlers call the same service
//! functions as the web, with the same rules.

mod flow;
mod hooks;
mod idempotency;
pub mod openapi;
mod problem;
mod reads;
mod tasks;
mod tickets;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;

pub use problem::{ApiError, Problem};

use super::AppState;
use crate::service::api_access::{self, Access};
use crate::store::{tasks as task_store, views};

pub fn router(state: AppState) -> Router<AppState> {
    let authed = Router::new()
        .route("/tickets", post(tickets::create).get(tickets::list))
        .route("/tickets/{id}", get(tickets::show).patch(tickets::update))
        .route("/tickets/{id}/replies", post(tickets::reply))
        .route("/tickets/{id}/comments", post(tickets::comment))
        .route("/tickets/{id}/take", post(flow::take))
        .route("/tickets/{id}/escalate", post(flow::escalate))
        .route("/tickets/{id}/postpone", post(flow::postpone))
        .route("/tickets/{id}/eta", post(flow::eta))
        .route("/tickets/{id}/children", post(flow::child))
        .route("/tickets/{id}/links", post(flow::link))
        .route("/tickets/{id}/history", get(flow::history))
        .route("/queues", get(reads::queues))
        .route("/users", get(reads::users))
        .route("/reports/aging", get(reads::aging))
        .route("/reports/sla", get(reads::sla))
        .route("/task-types", get(tasks::types))
        .route("/task-types/{name}", put(tasks::put_type))
        .route("/tasks", post(tasks::create).get(tasks::mine))
        .route("/tasks/{id}", get(tasks::show))
        .route("/tasks/{id}/input-needed", post(tasks::input_needed))
        .route("/tasks/{id}/fields", axum::routing::patch(tasks::fields))
        .route("/tasks/{id}/complete", post(tasks::complete))
        .route("/tasks/{id}/cancel", post(tasks::cancel))
        .route("/tasks/{id}/assignee", put(tasks::reassign))
        .route(
            "/tasks/{id}/schedule",
            post(tasks::schedule).get(tasks::scheduled),
        )
        .route(
            "/tasks/{id}/schedule/{sid}",
            axum::routing::delete(tasks::unschedule),
        )
        .route("/webhooks", post(hooks::subscribe).get(hooks::list))
        .route("/webhooks/{id}/deliveries", get(hooks::deliveries))
        .route("/webhooks/{id}/enable", post(hooks::enable))
        .route("/webhook-deliveries/{id}/resend", post(hooks::resend))
        .route("/calendar-feeds", post(hooks::add_feed))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(middleware::from_fn_with_state(state, authenticate));
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .merge(authed)
        .fallback(|| async { ApiError::NotFound })
}

/// Reads `Authorization: Bearer …` and puts the token's [`Access`] on the
/// request; anything else is a 401 problem.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let Some(token) = token else {
        return ApiError::Unauthorized("send Authorization: Bearer <token>".into()).into_response();
    };
    match api_access::authenticate(&state.db, &token, state.now()).await {
        Ok(Some(access)) => {
            let span = tracing::info_span!("api", token = access.token_id);
            req.extensions_mut().insert(access);
            let _enter = span.enter();
            drop(_enter);
            next.run(req).await
        }
        Ok(None) => {
            ApiError::Unauthorized("the token is unknown or revoked".into()).into_response()
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// A JSON body whose faults are problems: 400 for broken JSON or a wrong
/// content type, 422 for JSON of the wrong shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(JsonRejection::JsonDataError(e)) => return Err(ApiError::Invalid(e.body_text())),
            Err(e) => return Err(ApiError::BadRequest(e.body_text())),
        };
        if has_nul(&value) {
            return Err(ApiError::Invalid(
                "text may not contain NUL characters".into(),
            ));
        }
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::Invalid(format!("the body does not fit: {e}")))
    }
}

/// NUL characters anywhere in the JSON (no database stores them in text).
fn has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// A URL whose path or query decodes to a NUL character.
fn url_has_nul(parts: &Parts) -> bool {
    let raw = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("");
    percent_encoding::percent_decode_str(raw).any(|b| b == 0)
}

/// A path parameter whose fault is a 400 problem (not axum's plain text).
pub struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if url_has_nul(parts) {
            return Err(ApiError::BadRequest(
                "the URL may not contain NUL characters".into(),
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| P(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// A query string whose fault is a 400 problem.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if url_has_nul(parts) {
            return Err(ApiError::BadRequest(
                "the URL may not contain NUL characters".into(),
            ));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Q(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// How the token reaches a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// One of the token's queues.
    Queue,
    /// The token's user is the assignee of this (visible) task.
    Assignee,
}

/// A ticket the token may read, else 404 (its existence stays private).
/// People's tokens never reach a hidden task.
pub(crate) async fn readable(state: &AppState, a: &Access, id: i64) -> Result<Reach, ApiError> {
    let mut conn = state.db.conn().await?;
    let queue = views::ticket_queue(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let hidden = task_store::is_hidden(&mut conn, id).await?;
    if a.may_use(queue) && (a.app_id.is_some() || !hidden) {
        return Ok(Reach::Queue);
    }
    if a.app_id.is_none() && task_store::visible_assignee(&mut conn, id).await? == Some(a.user_id) {
        return Ok(Reach::Assignee);
    }
    Err(ApiError::NotFound)
}

/// A ticket the token may change: readable, in one of its queues, and the
/// token not read-only.
pub(crate) async fn writable(state: &AppState, a: &Access, id: i64) -> Result<(), ApiError> {
    if readable(state, a, id).await? != Reach::Queue {
        return Err(ApiError::Forbidden(
            "the token reaches this task as its assignee only: it may fill in open fields".into(),
        ));
    }
    let mut conn = state.db.conn().await?;
    let queue = views::ticket_queue(&mut conn, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    a.check_write(queue)?;
    Ok(())
}
