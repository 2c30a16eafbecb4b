//! Who may see and do what on the web: staff see the queues they work,
//! admins everything; anything else is a 404, so a ticket's existence stays
//! private.

use super::AppState;
use super::auth::CurrentUser;
use super::error::WebError;
use crate::store::views;

pub(crate) async fn visible(state: &AppState, user: &CurrentUser) -> Result<Vec<i64>, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(views::visible_queue_ids(&mut conn, user.id, user.admin).await?)
}

/// A ticket the user may see, else 404 (not 403: its existence is private).
pub(crate) async fn check_ticket(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> Result<(), WebError> {
    let mut conn = state.db.pool.acquire().await?;
    let queue = views::ticket_queue(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if user.admin
        || views::visible_queue_ids(&mut conn, user.id, false)
            .await?
            .contains(&queue)
    {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}

pub(crate) fn require_admin(user: &CurrentUser) -> Result<(), WebError> {
    if user.admin {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}
