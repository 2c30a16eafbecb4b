//! Queues: where mail for an address goes.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Queue {
    pub id: i64,
    pub name: String,
    pub correspond_address: String,
    pub comment_address: Option<String>,
    pub subject_tag: Option<String>,
    /// The application owning the queue, if one does.
    pub app_id: Option<i64>,
    /// Its people are told of each new ticket.
    pub notify_team_on_new: i16,
    /// Requestors who sign in may file tickets here on the web.
    pub requestors_may_file: i16,
}

pub async fn add(
    conn: &mut AnyConnection,
    name: &str,
    address: &str,
    comment_address: Option<&str>,
    subject_tag: Option<&str>,
    now: i64,
) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO queues (name, correspond_address, comment_address, subject_tag, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(name)
    .bind(address)
    .bind(comment_address)
    .bind(subject_tag)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Queue>> {
    Ok(sqlx::query_as(
        "SELECT id, name, correspond_address, comment_address, subject_tag, app_id, \
         notify_team_on_new, requestors_may_file FROM queues ORDER BY name",
    )
    .fetch_all(conn)
    .await?)
}

/// Every address of the queues: mail from one is our own coming back, mail
/// to one is never sent.
pub fn own_addresses(queues: &[Queue]) -> Vec<String> {
    queues
        .iter()
        .flat_map(|q| {
            std::iter::once(q.correspond_address.clone()).chain(q.comment_address.clone())
        })
        .collect()
}

/// Which changes mail the queue's requestors (a comma list of events).
pub async fn set_notify(conn: &mut AnyConnection, queue_id: i64, events: &str) -> Result<()> {
    sqlx::query("UPDATE queues SET notify = $1 WHERE id = $2")
        .bind(events)
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// How long after resolving a requestor's reply reopens a ticket.
pub async fn set_reopen_days(conn: &mut AnyConnection, queue_id: i64, days: i64) -> Result<()> {
    sqlx::query("UPDATE queues SET reopen_days = $1 WHERE id = $2")
        .bind(days)
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_public(conn: &mut AnyConnection, queue_id: i64, public: bool) -> Result<()> {
    sqlx::query("UPDATE queues SET public = $1 WHERE id = $2")
        .bind(i16::from(public))
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// `(id, name)` of the public queues.
pub async fn public_queues(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT id, name FROM queues WHERE public = 1 ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

/// Sets when a queue's triage digest goes out (`None`: never) and when next.
pub async fn set_digest(
    conn: &mut AnyConnection,
    queue_id: i64,
    schedule: Option<&str>,
    next: Option<i64>,
) -> Result<()> {
    sqlx::query("UPDATE queues SET digest = $1, digest_next = $2 WHERE id = $3")
        .bind(schedule)
        .bind(next)
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// `(id, name, schedule, due)` of digests due by `now`.
pub async fn due_digests(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<(i64, String, String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT id, name, digest, digest_next FROM queues \
         WHERE digest IS NOT NULL AND digest_next <= $1 ORDER BY digest_next",
    )
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Moves a due digest on to `next`: true only for the one caller whose
/// update did it, so several schedulers send a digest once.
pub async fn claim_digest(conn: &mut AnyConnection, id: i64, due: i64, next: i64) -> Result<bool> {
    let done = sqlx::query("UPDATE queues SET digest_next = $1 WHERE id = $2 AND digest_next = $3")
        .bind(next)
        .bind(id)
        .bind(due)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_team_notice(conn: &mut AnyConnection, queue_id: i64, on: bool) -> Result<()> {
    sqlx::query("UPDATE queues SET notify_team_on_new = $1 WHERE id = $2")
        .bind(i16::from(on))
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_requestors_may_file(
    conn: &mut AnyConnection,
    queue_id: i64,
    on: bool,
) -> Result<()> {
    sqlx::query("UPDATE queues SET requestors_may_file = $1 WHERE id = $2")
        .bind(i16::from(on))
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}
