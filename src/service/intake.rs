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

/// A request an application files for a requestor.
pub struct NewRequest<'a> {
    pub queue: &'a str,
    pub subject: &'a str,
    pub body: &'a str,
    pub requestor: &'a str,
}

/// Opens a ticket as if the requestor had mailed the queue: the same
/// ingest (intake fields, SLA clocks, the acknowledgement, the webhooks),
/// from a mail built here. Returns the ticket's number.
pub async fn open_by_api(
    db: &Db,
    cfg: &std::sync::Arc<crate::config::Config>,
    r: NewRequest<'_>,
) -> Result<i64, ServiceError> {
    use crate::service::ingest::{Hints, Ingestor, OutcomeKind, Source};
    let requestor = crate::domain::address::normalise(r.requestor).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "requestor {:?} is not an e-mail address",
            r.requestor
        ))
    })?;
    let subject = r.subject.replace(['\r', '\n'], " ");
    let subject = subject.trim();
    if subject.is_empty() || r.body.trim().is_empty() {
        return Err(ServiceError::Invalid(
            "a ticket needs a subject and a body".into(),
        ));
    }
    // A tag in the subject would thread the request onto another ticket.
    let tagged = subject.contains('[') && subject.contains('#') && subject.contains(']');
    let subject = if tagged {
        subject.replace(['[', ']'], "")
    } else {
        subject.to_string()
    };
    let address = {
        let mut conn = db.conn().await?;
        crate::store::queues::list(&mut conn)
            .await?
            .into_iter()
            .find(|q| q.name == r.queue)
            .map(|q| q.correspond_address)
            .ok_or_else(|| ServiceError::Invalid(format!("no queue {:?}", r.queue)))?
    };
    let ingestor = Ingestor::new(db.clone(), cfg.clone());
    let now = ingestor.now_ms();
    let id = crate::mail::outbound::compose::new_message_id(0, &cfg.instance_name);
    let raw = format!(
        "From: {requestor}\r\nTo: {address}\r\nSubject: {subject}\r\nMessage-ID: <api-{id}>\r\n\
         Date: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        date = chrono::DateTime::from_timestamp_millis(now)
            .map(|d| d.to_rfc2822())
            .unwrap_or_default(),
        body = r.body.replace("\r\n", "\n").replace('\n', "\r\n"),
    );
    let hints = Hints {
        queue: Some(r.queue.to_string()),
        ..Hints::default()
    };
    let outcome = ingestor
        .ingest_one(raw.as_bytes(), Source::Api, &hints)
        .await
        .map_err(|e| ServiceError::Invalid(format!("the request could not be stored: {e}")))?;
    match (outcome.outcome, outcome.ticket) {
        (OutcomeKind::Created | OutcomeKind::Duplicate, Some(t)) => Ok(t),
        _ => Err(ServiceError::Invalid(format!(
            "the request was not taken as a new ticket: {}",
            outcome.reason
        ))),
    }
}
