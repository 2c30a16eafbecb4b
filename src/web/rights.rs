//! Who may see and do what on the web: staff see the queues they work,
//! admins everything; anything else is a 404, so a ticket's existence stays
//! private.

use super::AppState;
use super::auth::CurrentUser;
use super::error::WebError;
use crate::store::{tasks, views};

pub(crate) async fn visible(state: &AppState, user: &CurrentUser) -> Result<Vec<i64>, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(views::visible_queue_ids(&mut conn, user.id, user.admin).await?)
}

/// A ticket the user may see, else 404 (not 403: its existence is private).
/// True when they work its queue; false when they reach it only as the
/// assignee of a task in an application's queue. A hidden task is nobody's.
pub(crate) async fn check_ticket(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<bool, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    let queue = views::ticket_queue(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if tasks::is_hidden(&mut conn, id).await? {
        return Err(WebError::NotFound);
    }
    if views::visible_queue_ids(&mut conn, user.id, user.admin)
        .await?
        .contains(&queue)
    {
        return Ok(true);
    }
    if tasks::visible_assignee(&mut conn, id).await? == Some(user.id) {
        return Ok(false);
    }
    Err(WebError::NotFound)
}

/// A ticket the user works (it is in their queue): every change but a
/// task's input needs this. A task's assignee from outside the queue sees
/// the ticket and fills in its open fields, nothing more.
pub(crate) async fn check_work(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<(), WebError> {
    if check_ticket(state, user, id).await? {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            "Only the queue's staff can change this ticket; you can fill in the task's open fields."
                .into(),
        ))
    }
}

pub(crate) fn require_admin(user: &CurrentUser) -> Result<(), WebError> {
    if user.admin {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}
