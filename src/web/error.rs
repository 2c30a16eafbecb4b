//! One error type for the web surface: 4xx say what to fix, 5xx log the
//! cause once and show a generic page.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::pages::Page;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("too many requests: {0}")]
    TooMany(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::store::StoreError> for WebError {
    fn from(e: crate::store::StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<crate::service::ServiceError> for WebError {
    fn from(e: crate::service::ServiceError) -> Self {
        match e {
            crate::service::ServiceError::NoTicket(_) => WebError::NotFound,
            crate::service::ServiceError::Invalid(m)
            | crate::service::ServiceError::Refused { message: m, .. } => WebError::BadRequest(m),
            crate::service::ServiceError::Fields { message, errors } => WebError::BadRequest(
                std::iter::once(message)
                    .chain(
                        errors
                            .into_iter()
                            .map(|e| format!("{}: {}", e.field, e.message)),
                    )
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl From<crate::service::ingest::IngestError> for WebError {
    fn from(e: crate::service::ingest::IngestError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(format!("rendering: {e}"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    page: Page,
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or you may not see it.".to_string(),
            ),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Forbidden", m.clone()),
            WebError::BadRequest(m) => (
                StatusCode::BAD_REQUEST,
                "Please check your input",
                m.clone(),
            ),
            WebError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, "Slow down", m.clone()),
            WebError::Internal(cause) => {
                tracing::error!(error = %cause, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error was logged.".to_string(),
                )
            }
        };
        let body = ErrorPage {
            page: Page::anonymous(),
            title,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| title.to_string());
        (status, Html(body)).into_response()
    }
}
