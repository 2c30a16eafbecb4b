//! The transactional outbox: mail to send, written with the change that causes it.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::{Result, rfc3339};

pub struct NewMail<'a> {
    pub ticket_id: i64,
    pub kind: &'a str,
    pub from_addr: &'a str,
    pub to: &'a [String],
    pub cc: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
    pub message_id: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub now: i64,
}

pub async fn insert(conn: &mut AnyConnection, m: NewMail<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (ticket_id, kind, from_addr, to_addrs, cc_addrs, subject, body, message_id, \
         in_reply_to, references_ids, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $11) RETURNING id",
    )
    .bind(m.ticket_id)
    .bind(m.kind)
    .bind(m.from_addr)
    .bind(m.to.join(","))
    .bind(m.cc.join(","))
    .bind(m.subject)
    .bind(m.body)
    .bind(m.message_id)
    .bind(m.in_reply_to)
    .bind(m.references.join(" "))
    .bind(m.now)
    .fetch_one(conn)
    .await?)
}

/// How many acknowledgements went to `to` since `since` (rate limit).
pub async fn acks_since(conn: &mut AnyConnection, to: &str, since: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND to_addrs = $1 AND created_at > $2",
    )
    .bind(to)
    .bind(since)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Serialize)]
pub struct OutboxItem {
    pub id: i64,
    pub ticket: i64,
    pub kind: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    ticket_id: i64,
    kind: String,
    to_addrs: String,
    cc_addrs: String,
    subject: String,
    message_id: String,
    in_reply_to: Option<String>,
    status: String,
    attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn list(conn: &mut AnyConnection, status: Option<&str>) -> Result<Vec<OutboxItem>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, ticket_id, kind, to_addrs, cc_addrs, subject, message_id, in_reply_to, status, \
         attempts, last_error, created_at, sent_at FROM outbox WHERE ($1 IS NULL OR status = $1) ORDER BY id",
    )
    .bind(status)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OutboxItem {
            id: r.id,
            ticket: r.ticket_id,
            kind: r.kind,
            to: split(&r.to_addrs),
            cc: split(&r.cc_addrs),
            subject: r.subject,
            message_id: r.message_id,
            in_reply_to: r.in_reply_to,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error,
            created_at: rfc3339(r.created_at),
            sent_at: r.sent_at.map(rfc3339),
        })
        .collect())
}
