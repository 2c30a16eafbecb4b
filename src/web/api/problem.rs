//! RFC 9457 problem details: a stable `type` per kind of fault, a
//! `detail` for people, and per-field `errors` for forms and programs.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::task_schema::FieldError;
use crate::service::ServiceError;

/// An `application/problem+json` body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem, e.g.
    /// `/api/v1/problems/wip_limit`; stable across releases.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// What is wrong with each field, when the fault is in the input.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Every way an API call fails.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Invalid(String),
    /// A rule said no: `code` is the service's name for it.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    #[error("{message}")]
    Fields {
        message: String,
        errors: Vec<FieldError>,
    },
    /// `Idempotency-Key` reused for another request (422), or while the
    /// first is still being answered (409).
    #[error("{0}")]
    KeyMismatch(String),
    #[error("{0}")]
    KeyInFlight(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::NoTicket(_) => ApiError::NotFound,
            ServiceError::Invalid(m) => ApiError::Invalid(m),
            ServiceError::Refused { code, message } => ApiError::Refused { code, message },
            ServiceError::Fields { message, errors } => ApiError::Fields { message, errors },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

/// The HTTP status of a refusal by the flow's rules: rights are 403, a
/// state that does not allow it is 409, input the rule needs is 422.
fn refusal_status(code: &str) -> StatusCode {
    match code {
        "read_only" | "forbidden_queue" | "not_assignee" | "locked" | "not_triager"
        | "not_owner" => StatusCode::FORBIDDEN,
        "transition" | "wip_limit" | "open_children" | "merged" | "no_assignee"
        | "already_done" => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &str) {
        match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Refused { code, .. } => (refusal_status(code), code),
            ApiError::Fields { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_fields"),
            ApiError::KeyMismatch(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
            }
            ApiError::KeyInFlight(_) => (StatusCode::CONFLICT, "idempotency_key_in_flight"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let code = code.to_string();
        let detail = match &self {
            ApiError::NotFound => "there is nothing here, or the token may not see it".to_string(),
            ApiError::Internal(cause) => {
                tracing::error!(error = %cause, "API request failed");
                "the error was logged".to_string()
            }
            other => other.to_string(),
        };
        let errors = match self {
            ApiError::Fields { errors, .. } => errors,
            _ => Vec::new(),
        };
        let body = Problem {
            kind: format!("/api/v1/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
            errors,
        };
        let mut res = (status, axum::Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// The problems any operation may answer, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Problems {
    /// Broken JSON, a wrong content type, or a bad `Idempotency-Key`.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// No token, or one unknown or revoked.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The token may not do this (read-only, another queue, a locked field).
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such thing, or the token may not see it.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
    /// The flow's rules refuse it now (a transition, a WIP limit), or the
    /// same `Idempotency-Key` is still being answered.
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(Problem),
    /// Input that breaks a rule or a schema; `errors` names the fields.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(Problem),
}
