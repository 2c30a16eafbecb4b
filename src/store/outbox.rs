//! The transactional outbox: mail to send, written with the change that causes it.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::{Result, rfc3339};

pub struct NewMail<'a> {
    /// `None` for mail about no one ticket (a queue's digest).
    pub ticket_id: Option<i64>,
    pub kind: &'a str,
    pub from_addr: &'a str,
    pub from_name: &'a str,
    pub reply_to: Option<&'a str>,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    pub html_body: Option<&'a str>,
    pub auto_submitted: bool,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub now: i64,
}

pub async fn insert(conn: &mut AnyConnection, m: NewMail<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (ticket_id, kind, from_addr, from_name, reply_to, to_addrs, cc_addrs, subject, \
         body, html_body, auto_submitted, message_id, in_reply_to, references_ids, status, next_attempt_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'pending', $15, $15) \
         RETURNING id",
    )
    .bind(m.ticket_id)
    .bind(m.kind)
    .bind(m.from_addr)
    .bind(m.from_name)
    .bind(m.reply_to)
    .bind(m.to.join(","))
    .bind(m.cc.join(","))
    .bind(m.subject)
    .bind(m.body)
    .bind(m.html_body)
    .bind(i16::from(m.auto_submitted))
    .bind(m.message_id)
    .bind(m.in_reply_to)
    .bind(m.references.join(" "))
    .bind(m.now)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub ticket: Option<i64>,
    pub kind: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    /// Where answers go: the queue, a per-ticket or a personal address.
    pub reply_to: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    /// Recipients the server refused for good, with its words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    ticket_id: Option<i64>,
    kind: String,
    to_addrs: String,
    cc_addrs: String,
    subject: String,
    message_id: String,
    in_reply_to: Option<String>,
    reply_to: Option<String>,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    refused: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

const ITEM_COLUMNS: &str = "id, ticket_id, kind, to_addrs, cc_addrs, subject, message_id, in_reply_to, \
     reply_to, status, attempts, last_error, refused, created_at, sent_at";

impl From<Row> for OutboxItem {
    fn from(r: Row) -> Self {
        OutboxItem {
            id: r.id,
            ticket: r.ticket_id,
            kind: r.kind,
            to: split(&r.to_addrs),
            cc: split(&r.cc_addrs),
            subject: r.subject,
            message_id: r.message_id,
            in_reply_to: r.in_reply_to,
            reply_to: r.reply_to,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            refused: r.refused,
            created_at: rfc3339(r.created_at),
            sent_at: r.sent_at.map(rfc3339),
        }
    }
}

pub async fn list(conn: &mut AnyConnection, status: Option<&str>) -> Result<Vec<OutboxItem>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id"
    )))
    .bind(status)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(OutboxItem::from).collect())
}

/// One page of mail not yet sent (pending or dead), newest first, older
/// than the row `before` when given.
pub async fn unsent_page(
    conn: &mut AnyConnection,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<OutboxItem>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM outbox WHERE status <> 'sent' AND ($1 IS NULL OR id < $1) \
         ORDER BY id DESC LIMIT $2"
    )))
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(OutboxItem::from).collect())
}

/// Rows per status, for the admin page's headline.
pub async fn count_by_status(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    Ok(
        sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
            .fetch_all(conn)
            .await?,
    )
}

/// A row claimed for sending.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: i64,
    /// 0 for mail about no one ticket (it only seeds the Thread-Index).
    pub ticket_id: i64,
    pub from_addr: String,
    pub from_name: String,
    pub reply_to: Option<String>,
    pub to_addrs: String,
    pub cc_addrs: String,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub auto_submitted: i16,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references_ids: String,
    pub attempts: i64,
    pub done_addrs: String,
}

impl Claimed {
    /// Recipients already delivered to (or refused for good) by earlier tries.
    pub fn done(&self) -> Vec<String> {
        split(&self.done_addrs)
    }
    pub fn to(&self) -> Vec<String> {
        split(&self.to_addrs)
    }
    pub fn cc(&self) -> Vec<String> {
        split(&self.cc_addrs)
    }
    pub fn references(&self) -> Vec<String> {
        self.references_ids
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

/// Claims up to `limit` due rows for `lease_ms`: a lease, with the
/// availability condition repeated in the UPDATE, so two workers never both
/// win a row; on PostgreSQL also `FOR UPDATE SKIP LOCKED` so they do not wait
/// on each other. `attempts` counts claims.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: super::Backend,
    now: i64,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let lock = match backend {
        super::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        super::Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $2 \
                      AND (locked_until IS NULL OR locked_until < $2) ORDER BY id LIMIT $3 {lock}) \
           AND status = 'pending' AND (locked_until IS NULL OR locked_until < $2) \
         RETURNING id, COALESCE(ticket_id, 0) AS ticket_id, from_addr, from_name, reply_to, to_addrs, cc_addrs, subject, body, \
                   html_body, auto_submitted, message_id, in_reply_to, references_ids, attempts, done_addrs"
    );
    let mut rows: Vec<Claimed> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(now + lease_ms)
        .bind(now)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

/// Who is done with (delivered, or refused for good) and who was refused.
pub async fn record_recipients(
    conn: &mut AnyConnection,
    id: i64,
    done: &[String],
    refused: Option<&str>,
) -> Result<()> {
    sqlx::query("UPDATE outbox SET done_addrs = $1, refused = COALESCE($2, refused) WHERE id = $3")
        .bind(done.join(","))
        .bind(refused)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_sent(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_retry(conn: &mut AnyConnection, id: i64, at: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3",
    )
    .bind(at)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Back to waiting without the claim counting as an attempt: our server
/// refused our own sign-in, which says nothing about this mail.
pub async fn mark_uncounted(conn: &mut AnyConnection, id: i64, at: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1, locked_until = NULL, last_error = $2, \
         attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END WHERE id = $3",
    )
    .bind(at)
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_dead(conn: &mut AnyConnection, id: i64, error: &str) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET status = 'dead', locked_until = NULL, last_error = $1 WHERE id = $2",
    )
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Puts a dead (or waiting) row back in the queue, due now. False if no such row
/// or it was already sent.
pub async fn requeue(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $1, locked_until = NULL, \
         done_addrs = '' WHERE id = $2 AND status <> 'sent'",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Message-IDs of a ticket's mail, oldest first: what a new mail about the
/// ticket refers to (In-Reply-To the newest, References the root and the
/// most recent ones).
pub async fn thread_ids(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<String>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT message_id, received_at FROM messages WHERE ticket_id = $1 \
         UNION ALL SELECT message_id, created_at FROM outbox WHERE ticket_id = $1",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?;
    let mut rows = rows;
    rows.sort_by_key(|r| r.1);
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// True when one of `message_ids` is mail Docket sent to `address` (To or
/// Cc): a bounce that quotes it may speak for that address.
pub async fn sent_to(
    conn: &mut AnyConnection,
    message_ids: &[String],
    address: &str,
) -> Result<bool> {
    for id in message_ids {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT to_addrs, cc_addrs FROM outbox WHERE message_id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        if rows.iter().any(|(to, cc)| {
            split(to)
                .iter()
                .chain(split(cc).iter())
                .any(|a| a == address)
        }) {
            return Ok(true);
        }
    }
    Ok(false)
}
