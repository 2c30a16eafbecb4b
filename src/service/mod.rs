//! Use cases: one function each, one database transaction each, so a ticket
//! change, its history entry and the mail it causes commit together.

pub mod admin;
pub mod auth;
pub mod demo;
pub mod health;
pub mod import;
pub mod ingest;
pub mod notify;
pub mod poll;
pub mod sign_in_limit;
pub mod tickets;

/// Errors of the use-case layer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no ticket #{0}")]
    NoTicket(i64),
    #[error("{0}")]
    Invalid(String),
    #[error("rendering mail: {0}")]
    Template(#[from] askama::Error),
}

impl From<sqlx::Error> for ServiceError {
    fn from(e: sqlx::Error) -> Self {
        ServiceError::Store(e.into())
    }
}
