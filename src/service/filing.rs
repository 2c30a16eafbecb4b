//! Requestors who sign in (issue 13, item 3): through the directory, or by
//! the signed link mailed to them, they get their status page at `/my` and
//! a form to file a new ticket in a queue open to them, which runs the
//! same pipeline as mail (acknowledgement, intake, SLA clocks).

use std::sync::Arc;

use super::ServiceError;
use crate::config::Config;
use crate::domain::status_link::{self, Checked};
use crate::store::{Db, queues, requestor as store};

/// A status-page link for a person who proved who they are (the directory
/// bound them): the key to `/my`.
pub async fn link_for_user(
    db: &Db,
    cfg: &Config,
    user: i64,
    now: i64,
) -> Result<String, ServiceError> {
    let mut conn = db.conn().await?;
    let secret = super::notify::reply_secret(&mut conn, cfg).await?;
    Ok(status_link::issue(
        secret.expose(),
        user,
        now + status_link::VALID_MS,
    ))
}

/// The queues a requestor may file in.
pub async fn open_queues(db: &Db) -> Result<Vec<String>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(queues::list(&mut conn)
        .await?
        .into_iter()
        .filter(|q| q.requestors_may_file != 0 && q.app_id.is_none())
        .map(|q| q.name)
        .collect())
}

/// A new request from the holder of `token` (its page's `form_token`
/// proves the form came from that page); returns the ticket's number.
pub async fn file(
    db: &Db,
    cfg: &Arc<Config>,
    (token, form_token): (&str, &str),
    queue: &str,
    subject: &str,
    body: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    let refused = || ServiceError::refused("forbidden", "This page's link is not valid any more.");
    let email = {
        let mut conn = db.conn().await?;
        let secret = super::notify::reply_secret(&mut conn, cfg).await?;
        let Checked::Valid(user) = status_link::check(secret.expose(), token, now) else {
            return Err(refused());
        };
        if status_link::form_token(secret.expose(), token).as_bytes() != form_token.as_bytes() {
            return Err(refused());
        }
        store::email_of(&mut conn, user)
            .await?
            .ok_or_else(refused)?
    };
    if !open_queues(db).await?.iter().any(|q| q == queue) {
        return Err(ServiceError::Invalid(
            "Choose one of the queues offered on the form.".into(),
        ));
    }
    let new = super::intake::NewRequest {
        queue,
        subject,
        body,
        requestor: &email,
    };
    super::intake::open_by_api(db, cfg, new).await
}

/// Opens or closes a queue to requests filed on the web.
pub async fn set_open(db: &Db, queue: &str, open: bool) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = crate::store::views::queue_by_name(&mut tx, queue)
        .await?
        .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {queue:?}.")))?;
    queues::set_requestors_may_file(&mut tx, id, open).await?;
    tx.commit().await?;
    Ok(())
}
