//! Mail we could not take: kept with its raw bytes and the reason.

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, FromRow};

use super::{Result, rfc3339};

#[derive(Debug, Serialize)]
pub struct Entry {
    pub id: i64,
    pub reason: String,
    pub source: String,
    pub status: String,
    pub size: i64,
    pub ticket: Option<i64>,
    pub created_at: String,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    reason: String,
    source: String,
    status: String,
    size: i64,
    ticket_id: Option<i64>,
    created_at: i64,
}

/// Stores the raw bytes; the same bytes quarantined twice are one entry.
/// Returns the entry's id.
pub async fn put(
    conn: &mut AnyConnection,
    raw: &[u8],
    reason: &str,
    source: &str,
    now: i64,
) -> Result<i64> {
    let sha = hex::encode(Sha256::digest(raw));
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO quarantine (sha256, raw, reason, source, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (sha256) DO NOTHING RETURNING id",
    )
    .bind(&sha)
    .bind(raw)
    .bind(reason)
    .bind(source)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    match id {
        Some(id) => Ok(id),
        None => Ok(
            sqlx::query_scalar("SELECT id FROM quarantine WHERE sha256 = $1")
                .bind(&sha)
                .fetch_one(conn)
                .await?,
        ),
    }
}

impl From<Row> for Entry {
    fn from(r: Row) -> Self {
        Entry {
            id: r.id,
            reason: r.reason,
            source: r.source,
            status: r.status,
            size: r.size,
            ticket: r.ticket_id,
            created_at: rfc3339(r.created_at),
        }
    }
}

const ENTRY_COLUMNS: &str =
    "id, reason, source, status, CAST(LENGTH(raw) AS BIGINT) AS size, ticket_id, created_at";

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Entry>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM quarantine ORDER BY id"
    )))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

/// One page of entries, newest first, older than `before` when given.
pub async fn page(conn: &mut AnyConnection, before: Option<i64>, limit: i64) -> Result<Vec<Entry>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ENTRY_COLUMNS} FROM quarantine WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Entry::from).collect())
}

/// Entries per status, for the admin page's headline.
pub async fn count_by_status(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM quarantine GROUP BY status ORDER BY status")
            .fetch_all(conn)
            .await?,
    )
}

/// The raw bytes and status of an entry.
pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<(Vec<u8>, String)>> {
    Ok(
        sqlx::query_as("SELECT raw, status FROM quarantine WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Records that a retry took the mail in (or why it is still held).
pub async fn resolve(
    conn: &mut AnyConnection,
    id: i64,
    status: &str,
    reason: Option<&str>,
    ticket: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE quarantine SET status = $1, reason = COALESCE($2, reason), ticket_id = $3 WHERE id = $4",
    )
    .bind(status)
    .bind(reason)
    .bind(ticket)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
