//! Secret calendar feed URLs and the dates they carry.

use sqlx::{AnyConnection, FromRow};

use super::Result;

pub async fn add(
    conn: &mut AnyConnection,
    user: Option<i64>,
    queue: Option<i64>,
    hash: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO calendar_feeds (user_id, queue_id, hash, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user)
    .bind(queue)
    .bind(hash)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Clone, FromRow)]
pub struct Feed {
    pub id: i64,
    pub user_id: Option<i64>,
    pub queue_id: Option<i64>,
}

pub async fn by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<Feed>> {
    Ok(sqlx::query_as(
        "SELECT f.id, f.user_id, f.queue_id FROM calendar_feeds f \
         LEFT JOIN users u ON u.id = f.user_id \
         WHERE f.hash = $1 AND f.revoked_at IS NULL \
         AND (f.user_id IS NULL OR u.role IN ('staff', 'admin'))",
    )
    .bind(hash)
    .fetch_optional(conn)
    .await?)
}

pub async fn revoke(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE calendar_feeds SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// One ticket's dates for a calendar.
#[derive(Debug, Clone, FromRow)]
pub struct Dated {
    pub id: i64,
    pub subject: String,
    pub queue: String,
    pub status: String,
    pub due_at: Option<i64>,
    pub postponed_until: Option<i64>,
    pub eta_at: Option<i64>,
    pub input_due: Option<i64>,
    pub updated_at: i64,
}

const DATED: &str = "SELECT t.id, t.subject, q.name AS queue, t.status, t.due_at, \
     t.postponed_until, t.eta_at, k.input_due, t.updated_at FROM tickets t \
     JOIN queues q ON q.id = t.queue_id LEFT JOIN tasks k ON k.ticket_id = t.id \
     WHERE t.hidden = 0 AND t.merged_into IS NULL AND t.status NOT IN ('resolved', 'rejected') \
     AND (t.due_at IS NOT NULL OR t.postponed_until IS NOT NULL OR t.eta_at IS NOT NULL \
          OR k.input_due IS NOT NULL)";

/// Open tickets a person owns (tasks included) that carry a date.
pub async fn of_user(conn: &mut AnyConnection, user: i64, limit: i64) -> Result<Vec<Dated>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DATED} AND (t.owner_id = $1 OR k.assignee_id = $1) ORDER BY t.id LIMIT $2"
    )))
    .bind(user)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Open tickets of a queue that carry a date.
pub async fn of_queue(conn: &mut AnyConnection, queue: i64, limit: i64) -> Result<Vec<Dated>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DATED} AND t.queue_id = $1 ORDER BY t.id LIMIT $2"
    )))
    .bind(queue)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
