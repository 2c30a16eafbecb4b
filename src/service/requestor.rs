//! The requestor's side: a personal, signed, expiring link in every mail
//! to them, and the status page behind it, where they see their tickets
//! (never a comment), answer, and fill in what a request lacks.

use sqlx::AnyConnection;

use super::ingest::{Hints, Ingestor, Source};
use super::{ServiceError, notify};
use crate::config::Config;
use crate::domain::status_link::{self, Checked};
use crate::mail::outbound::compose;
use crate::store::requestor::{self as store, PublicEntry, RequestorTicket};
use crate::store::{Db, intake, tickets, users};

/// The link to `email`'s status page, when `public_url` is set.
pub async fn link_for(
    conn: &mut AnyConnection,
    cfg: &Config,
    email: &str,
    now: i64,
) -> Result<Option<String>, ServiceError> {
    let Some(base) = &cfg.public_url else {
        return Ok(None);
    };
    let user = users::ensure(&mut *conn, email, "", now).await?;
    let secret = notify::reply_secret(&mut *conn, cfg).await?;
    let token = status_link::issue(secret.expose(), user, now + status_link::VALID_MS);
    Ok(Some(format!("{base}/my/{token}")))
}

/// The line that ends every mail to a requestor, when there is a link.
pub fn footer(link: Option<&str>) -> String {
    link.map(|l| format!("\n\nYour requests and their status: {l}\n"))
        .unwrap_or_default()
}

/// One ticket as its requestor sees it.
pub struct Ticket {
    pub ticket: RequestorTicket,
    pub history: Vec<PublicEntry>,
    /// Labels of the intake fields it still lacks.
    pub missing: Vec<&'static str>,
}

pub struct Page {
    pub email: String,
    pub tickets: Vec<Ticket>,
    /// For the page's forms.
    pub form_token: String,
    /// Queues whose tickets anyone with a link may read.
    pub public_queues: Vec<String>,
}

/// The most tickets a public queue's page lists.
const PUBLIC_PAGE: i64 = 200;

pub enum Access {
    Granted(Page),
    Expired,
    Refused,
}

async fn who(db: &Db, cfg: &Config, token: &str, now: i64) -> Result<Checked, ServiceError> {
    let mut conn = db.conn().await?;
    let secret = notify::reply_secret(&mut conn, cfg).await?;
    Ok(status_link::check(secret.expose(), token, now))
}

/// The page behind a link.
pub async fn page(db: &Db, cfg: &Config, token: &str, now: i64) -> Result<Access, ServiceError> {
    let user = match who(db, cfg, token, now).await? {
        Checked::Valid(u) => u,
        Checked::Expired => return Ok(Access::Expired),
        Checked::Invalid => return Ok(Access::Refused),
    };
    let mut conn = db.conn().await?;
    let Some(email) = store::email_of(&mut conn, user).await? else {
        return Ok(Access::Refused);
    };
    let secret = notify::reply_secret(&mut conn, cfg).await?;
    let tickets = store::tickets_of(&mut conn, user).await?;
    Ok(Access::Granted(Page {
        email,
        tickets: with_history(&mut conn, tickets).await?,
        form_token: status_link::form_token(secret.expose(), token),
        public_queues: crate::store::queues::public_queues(&mut conn)
            .await?
            .into_iter()
            .map(|(_, name)| name)
            .collect(),
    }))
}

async fn with_history(
    conn: &mut AnyConnection,
    tickets: Vec<RequestorTicket>,
) -> Result<Vec<Ticket>, ServiceError> {
    let mut out = Vec::with_capacity(tickets.len());
    for t in tickets {
        let history = store::public_history(&mut *conn, t.id).await?;
        let view = super::intake::view(&mut *conn, t.id).await?;
        out.push(Ticket {
            missing: super::intake::labels(&view.missing),
            ticket: t,
            history,
        });
    }
    Ok(out)
}

/// A public queue's tickets with their public history (never a comment),
/// read-only. `None`: no public queue of that name. Who may call this —
/// a valid link's holder or a signed-in account — is the caller's check.
pub async fn public_queue(db: &Db, queue: &str) -> Result<Option<Vec<Ticket>>, ServiceError> {
    let mut conn = db.conn().await?;
    match store::public_queue_tickets(&mut conn, queue, PUBLIC_PAGE).await? {
        Some(tickets) => Ok(Some(with_history(&mut conn, tickets).await?)),
        None => Ok(None),
    }
}

/// Whether `token` is a valid status-page link now.
pub async fn link_is_valid(
    db: &Db,
    cfg: &Config,
    token: &str,
    now: i64,
) -> Result<Checked, ServiceError> {
    who(db, cfg, token, now).await
}

/// The requestor behind a valid link and a form from its page, when the
/// ticket is theirs.
async fn owner_of(
    db: &Db,
    cfg: &Config,
    token: &str,
    form_token: &str,
    ticket: i64,
    now: i64,
) -> Result<String, ServiceError> {
    let refused = || ServiceError::refused("forbidden", "This link is not valid for that ticket.");
    let Checked::Valid(user) = who(db, cfg, token, now).await? else {
        return Err(refused());
    };
    let mut conn = db.conn().await?;
    let secret = notify::reply_secret(&mut conn, cfg).await?;
    let expected = status_link::form_token(secret.expose(), token);
    if expected.as_bytes() != form_token.as_bytes()
        || !store::is_requestor(&mut conn, ticket, user).await?
    {
        return Err(refused());
    }
    store::email_of(&mut conn, user).await?.ok_or_else(refused)
}

/// An answer written on the page: it goes in as the requestor's mail would
/// (threaded, the owner told, a needs-info ticket opened again).
pub async fn reply(
    db: &Db,
    cfg: &std::sync::Arc<Config>,
    token: &str,
    form_token: &str,
    ticket: i64,
    body: &str,
    now: i64,
) -> Result<(), ServiceError> {
    if body.trim().is_empty() {
        return Err(ServiceError::Invalid(
            "Write something first: the text was empty.".into(),
        ));
    }
    let email = owner_of(db, cfg, token, form_token, ticket, now).await?;
    let ctx = {
        let mut conn = db.conn().await?;
        tickets::context(&mut conn, ticket)
            .await?
            .ok_or(ServiceError::NoTicket(ticket))?
    };
    let tag = notify::tag_of(cfg, &ctx);
    let id = compose::new_message_id(ticket, &cfg.instance_name);
    let raw = format!(
        "From: {email}\r\nTo: {to}\r\nSubject: [{tag} #{ticket}] {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: {date}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        to = ctx.correspond_address,
        subject = ctx.subject.replace(['\r', '\n'], " "),
        date = chrono::DateTime::from_timestamp_millis(now)
            .map(|d| d.to_rfc2822())
            .unwrap_or_default(),
        body = body.replace("\r\n", "\n").replace('\n', "\r\n"),
    );
    Ingestor::new(db.clone(), cfg.clone())
        .ingest_one(raw.as_bytes(), Source::StatusPage, &Hints::default())
        .await
        .map_err(|e| ServiceError::Invalid(format!("Your answer could not be stored: {e}")))?;
    Ok(())
}

/// Intake fields filled in on the page.
pub async fn fill(
    db: &Db,
    cfg: &Config,
    token: &str,
    form_token: &str,
    ticket: i64,
    fields: &[(String, String)],
    now: i64,
) -> Result<(), ServiceError> {
    owner_of(db, cfg, token, form_token, ticket, now).await?;
    let mut tx = db.begin_write().await?;
    for (key, value) in fields {
        let value = value.trim();
        if crate::domain::intake::label(key).is_some() && !value.is_empty() {
            intake::set_field(&mut tx, ticket, key, value, now).await?;
        }
    }
    super::intake::refresh(&mut tx, ticket).await?;
    tickets::touch(&mut tx, ticket, now).await?;
    tx.commit().await?;
    Ok(())
}
