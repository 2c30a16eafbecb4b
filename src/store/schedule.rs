//! Scheduled updates of a task: data the scheduler carries out once.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Scheduled {
    pub id: i64,
    pub ticket_id: i64,
    pub at: i64,
    /// JSON object of what to set.
    pub changes: String,
    pub status: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

const ROW: &str =
    "SELECT id, ticket_id, at, changes, status, error, created_at, done_at FROM scheduled_updates";

pub async fn add(
    conn: &mut AnyConnection,
    ticket: i64,
    at: i64,
    changes: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO scheduled_updates (ticket_id, at, changes, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(ticket)
    .bind(at)
    .bind(changes)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn of_ticket(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<Scheduled>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ROW} WHERE ticket_id = $1 ORDER BY at, id"
    )))
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Scheduled>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{ROW} WHERE id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<Scheduled>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ROW} WHERE status = 'pending' AND at <= $1 ORDER BY at, id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Moves a pending update to `status` (`done`, `failed`, `cancelled`);
/// false when it was no longer pending (another instance ran it, or it was
/// cancelled). Run inside the update's transaction, it makes it happen once.
pub async fn finish(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    error: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE scheduled_updates SET status = $1, error = $2, done_at = $3 \
         WHERE id = $4 AND status = 'pending'",
    )
    .bind(status)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Notes why a claimed update could not be carried out.
pub async fn fail(conn: &mut AnyConnection, id: i64, error: &str) -> Result<()> {
    sqlx::query("UPDATE scheduled_updates SET status = 'failed', error = $1 WHERE id = $2")
        .bind(error)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
