//! Use cases: one function each, one database transaction each, so a ticket
//! change, its history entry and the mail it causes commit together.

pub mod admin;
pub mod api_access;
pub mod auth;
pub mod board;
pub mod calendar_feed;
pub mod commands;
pub mod demo;
pub mod digest;
pub mod directory;
pub mod filing;
pub mod health;
pub mod import;
pub mod ingest;
pub mod intake;
pub mod links;
pub mod notify;
pub mod ownership;
pub mod poll;
pub mod reports;
pub mod requestor;
pub mod role_history;
pub mod schedule;
pub mod scheduler;
pub mod sign_in_limit;
pub mod sign_in_link;
pub mod sla;
pub mod status;
pub mod tasks;
pub mod team_notice;
pub mod tickets;
pub mod webhooks;

/// Errors of the use-case layer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no ticket #{0}")]
    NoTicket(i64),
    #[error("{0}")]
    Invalid(String),
    /// A rule of the flow says no: `code` names the rule for scripts
    /// (`wip_limit`, `transition`, `not_member`, `not_triager`,
    /// `reason_required`, `open_children`), the message says why to people.
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// Values that break a schema: what is wrong with each field.
    #[error("{message}")]
    Fields {
        message: String,
        errors: Vec<crate::domain::task_schema::FieldError>,
    },
    #[error("rendering mail: {0}")]
    Template(#[from] askama::Error),
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Store(e.into())
    }
}

impl ServiceError {
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Refused {
            code,
            message: message.into(),
        }
    }
}
