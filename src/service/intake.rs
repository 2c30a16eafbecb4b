//! Intake and acceptance criteria: the fields a queue requires, taken from
//! `Label: value` lines in the requestor's mail (first or later) or set
//! directly, and what each ticket still lacks.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::AnyConnection;

use super::ServiceError;
use crate::domain::intake;
use crate::store::{Db, intake as store};

/// How much of a first mail's body stands for the description.
const DESCRIPTION_CHARS: usize = 500;

/// `ticket show --json`'s `intake`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IntakeView {
    pub complete: bool,
    pub missing: Vec<String>,
    pub fields: BTreeMap<String, String>,
}

/// Takes the fields a mail gives (`first`: the body is the description)
/// and returns the required keys still missing.
pub async fn record_mail(
    conn: &mut AnyConnection,
    ticket: i64,
    body: &str,
    first: bool,
    now: i64,
) -> Result<Vec<String>, ServiceError> {
    let given = intake::parse(body);
    let Some((_, required)) = store::required_for(&mut *conn, ticket).await? else {
        return Err(ServiceError::NoTicket(ticket));
    };
    // Most queues require nothing and most mail names no field: then there
    // is nothing to write, and ingest stays as fast as before.
    if required.is_empty() && given.is_empty() {
        return Ok(Vec::new());
    }
    if first && !body.trim().is_empty() {
        let description: String = body.trim().chars().take(DESCRIPTION_CHARS).collect();
        store::set_field(&mut *conn, ticket, "description", &description, now).await?;
    }
    for (key, value) in given {
        store::set_field(&mut *conn, ticket, key, &value, now).await?;
    }
    refresh(conn, ticket).await
}

/// What the ticket's queue requires, and what the ticket was given. A
/// ticket from before its queue asked for a description has one when its
/// first mail had a body.
async fn required_and_given(
    conn: &mut AnyConnection,
    ticket: i64,
) -> Result<(Vec<String>, Vec<(String, String)>), ServiceError> {
    let Some((_, required)) = store::required_for(&mut *conn, ticket).await? else {
        return Err(ServiceError::NoTicket(ticket));
    };
    let required = intake::parse_keys(&required).unwrap_or_default();
    let mut given = store::fields(&mut *conn, ticket).await?;
    if required.iter().any(|k| k == "description") && !given.iter().any(|(k, _)| k == "description")
    {
        let first = store::first_body(&mut *conn, ticket)
            .await?
            .unwrap_or_default();
        if !first.trim().is_empty() {
            given.push(("description".into(), first));
        }
    }
    Ok((required, given))
}

/// Recomputes what the ticket lacks against its queue's requirements.
pub async fn refresh(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<String>, ServiceError> {
    let (required, given) = required_and_given(&mut *conn, ticket).await?;
    let missing = intake::missing(&required, &given);
    store::set_missing(&mut *conn, ticket, &missing.join(",")).await?;
    Ok(missing)
}

pub async fn view(conn: &mut AnyConnection, ticket: i64) -> Result<IntakeView, ServiceError> {
    let (required, given) = required_and_given(conn, ticket).await?;
    let missing = intake::missing(&required, &given);
    Ok(IntakeView {
        complete: missing.is_empty(),
        missing,
        fields: given.into_iter().collect(),
    })
}

/// The labels of missing keys, as a person fills them in.
pub fn labels(missing: &[String]) -> Vec<&'static str> {
    missing.iter().filter_map(|k| intake::label(k)).collect()
}

/// Sets the fields a queue requires (`capacity,security`) and checks its
/// open tickets again.
pub async fn set_required(db: &Db, queue: &str, list: &str) -> Result<Vec<String>, ServiceError> {
    let keys = intake::parse_keys(list).map_err(ServiceError::Invalid)?;
    let queue_id = super::board::queue_named(db, queue).await?;
    let mut tx = db.begin_write().await?;
    store::set_required(&mut tx, queue_id, &keys.join(",")).await?;
    for ticket in store::active_tickets(&mut tx, queue_id).await? {
        refresh(&mut tx, ticket).await?;
    }
    tx.commit().await?;
    Ok(keys)
}
