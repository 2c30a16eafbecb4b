//! The history of people's powers: account roles and queue roles, each
//! change with its source (the directory, …) and when.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::{Result, rfc3339};

pub struct NewChange<'a> {
    pub user_id: i64,
    /// `None`: the account's own role (requestor, staff, admin).
    pub queue_id: Option<i64>,
    pub old_role: Option<&'a str>,
    pub new_role: Option<&'a str>,
    pub source: &'a str,
    pub note: Option<&'a str>,
    pub now: i64,
}

pub async fn record(conn: &mut AnyConnection, c: NewChange<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO role_changes (user_id, queue_id, old_role, new_role, source, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(c.user_id)
    .bind(c.queue_id)
    .bind(c.old_role)
    .bind(c.new_role)
    .bind(c.source)
    .bind(c.note)
    .bind(c.now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
struct Row {
    queue: Option<String>,
    old_role: Option<String>,
    new_role: Option<String>,
    source: String,
    note: Option<String>,
    created_at: i64,
}

/// One change as `docket user history` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub at: String,
    /// The queue whose role changed; `None` for the account's role.
    pub queue: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub source: String,
    pub note: Option<String>,
}

/// A person's changes, oldest first.
pub async fn of_user(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<Change>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT q.name AS queue, c.old_role, c.new_role, c.source, c.note, c.created_at \
         FROM role_changes c LEFT JOIN queues q ON q.id = c.queue_id \
         WHERE c.user_id = $1 ORDER BY c.id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Change {
            at: rfc3339(r.created_at),
            queue: r.queue,
            from: r.old_role,
            to: r.new_role,
            source: r.source,
            note: r.note,
        })
        .collect())
}

/// A change with whose it was, for the admin page.
#[derive(Debug, Clone, FromRow)]
pub struct Recent {
    pub email: String,
    pub queue: Option<String>,
    pub old_role: Option<String>,
    pub new_role: Option<String>,
    pub source: String,
    pub note: Option<String>,
    pub created_at: i64,
}

/// The latest `limit` changes of anyone's powers, newest first.
pub async fn recent(conn: &mut AnyConnection, limit: i64) -> Result<Vec<Recent>> {
    Ok(sqlx::query_as(
        "SELECT u.email, q.name AS queue, c.old_role, c.new_role, c.source, c.note, c.created_at \
         FROM role_changes c JOIN users u ON u.id = c.user_id \
         LEFT JOIN queues q ON q.id = c.queue_id ORDER BY c.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}
