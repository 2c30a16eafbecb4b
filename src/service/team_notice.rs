//! The team hears of every new ticket (issue 13): per queue, on by
//! default, each member once, with their personal reply address so that
//! answering `Owner: me` takes the ticket. Never for mail a robot sent, and
//! not for people who turned it off (`docket user set EMAIL --notify-new false`).

use sqlx::AnyConnection;

use super::{ServiceError, notify};
use crate::config::Config;
use crate::store::tickets;

/// How much of the request the notice quotes.
const EXCERPT_CHARS: usize = 1500;

/// Tells the queue's people of ticket `id`, just created from `actor`'s
/// words; call in the transaction that created it.
pub async fn new_ticket(
    conn: &mut AnyConnection,
    cfg: &Config,
    own: &[String],
    id: i64,
    (actor, body): (&str, &str),
    now: i64,
) -> Result<(), ServiceError> {
    let Some(ctx) = tickets::context(&mut *conn, id).await? else {
        return Ok(());
    };
    let team = crate::store::people::team_for_new(&mut *conn, ctx.queue_id).await?;
    if team.is_empty() {
        return Ok(());
    }
    let scope = notify::Scope {
        cfg,
        ticket: &ctx,
        own: own.to_vec(),
        now,
    };
    let mut excerpt: String = body.chars().take(EXCERPT_CHARS).collect();
    if body.chars().count() > EXCERPT_CHARS {
        excerpt.push_str("\n[…]");
    }
    let notice = notify::StaffNotice::NewTicket;
    notify::tell_people(conn, &scope, actor, &excerpt, notice, team).await?;
    Ok(())
}

/// Turns the notices on or off for a queue.
pub async fn set_for_queue(
    db: &crate::store::Db,
    queue: &str,
    on: bool,
) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = crate::store::views::queue_by_name(&mut tx, queue)
        .await?
        .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {queue:?}.")))?;
    crate::store::queues::set_team_notice(&mut tx, id, on).await?;
    tx.commit().await?;
    Ok(())
}

/// Turns a person's notices of new tickets on or off; returns their address.
pub async fn set_for_person(
    db: &crate::store::Db,
    email: &str,
    on: bool,
) -> Result<String, ServiceError> {
    let addr = crate::domain::address::normalise(email)
        .ok_or_else(|| ServiceError::Invalid(format!("{email:?} is not an e-mail address")))?;
    let mut tx = db.begin_write().await?;
    if !crate::store::users::set_notify_new(&mut tx, &addr, on).await? {
        return Err(ServiceError::Invalid(format!("There is no user {addr}.")));
    }
    tx.commit().await?;
    Ok(addr)
}
