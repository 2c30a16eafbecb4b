//! Webhook endpoints and their deliveries (an outbox for HTTP).

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Hook {
    pub id: i64,
    pub app_id: i64,
    pub url: String,
    /// Comma list.
    pub events: String,
    #[serde(skip)]
    pub secret: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    /// Comma list of the queue ids it hears of; empty for all the app's.
    #[serde(skip)]
    pub queues: String,
}

const HOOK: &str = "SELECT id, app_id, url, events, secret, created_at, disabled_at, \
     disabled_reason, queues FROM webhooks";

pub struct NewHook<'a> {
    pub app: i64,
    pub url: &'a str,
    /// Comma list.
    pub events: &'a str,
    pub secret: &'a str,
    /// Comma list of queue ids; empty for all the application's.
    pub queues: &'a str,
    pub now: i64,
}

pub async fn add(conn: &mut AnyConnection, h: NewHook<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO webhooks (app_id, url, events, secret, created_at, queues) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(h.app)
    .bind(h.url)
    .bind(h.events)
    .bind(h.secret)
    .bind(h.now)
    .bind(h.queues)
    .fetch_one(conn)
    .await?)
}

pub async fn of_app(conn: &mut AnyConnection, app: i64) -> Result<Vec<Hook>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{HOOK} WHERE app_id = $1 ORDER BY id"
    )))
    .bind(app)
    .fetch_all(conn)
    .await?)
}

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Hook>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{HOOK} WHERE id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Live endpoints of the application owning `queue`.
pub async fn live_for_queue(conn: &mut AnyConnection, queue: i64) -> Result<Vec<Hook>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{HOOK} WHERE disabled_at IS NULL AND app_id = \
         (SELECT app_id FROM queues WHERE id = $1) ORDER BY id"
    )))
    .bind(queue)
    .fetch_all(conn)
    .await?)
}

pub async fn disable(conn: &mut AnyConnection, id: i64, reason: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE webhooks SET disabled_at = $1, disabled_reason = $2 WHERE id = $3")
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn enable(conn: &mut AnyConnection, id: i64) -> Result<()> {
    sqlx::query("UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub struct NewDelivery<'a> {
    pub webhook_id: i64,
    pub msg_id: &'a str,
    pub event: &'a str,
    pub ticket_id: Option<i64>,
    pub body: &'a str,
    pub now: i64,
}

pub async fn enqueue(conn: &mut AnyConnection, d: NewDelivery<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (webhook_id, msg_id, event, ticket_id, body, next_at, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(d.webhook_id)
    .bind(d.msg_id)
    .bind(d.event)
    .bind(d.ticket_id)
    .bind(d.body)
    .bind(d.now)
    .fetch_one(conn)
    .await?)
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: i64,
    pub msg_id: String,
    pub event: String,
    pub ticket_id: Option<i64>,
    #[serde(skip)]
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub done_at: Option<i64>,
}

const DELIVERY: &str = "SELECT d.id, d.webhook_id, d.msg_id, d.event, d.ticket_id, d.body, \
     d.status, d.attempts, d.next_at, d.last_status, d.last_error, d.created_at, d.done_at \
     FROM webhook_deliveries d";

/// Due deliveries that are first in line for their endpoint and ticket: a
/// later change waits for an earlier one, so each ticket's events arrive in
/// order (events about no ticket keep no order). Deliveries of disabled
/// endpoints wait.
pub async fn due(conn: &mut AnyConnection, now: i64, limit: i64) -> Result<Vec<Delivery>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY} JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.status = 'pending' AND d.next_at <= $1 AND w.disabled_at IS NULL \
         AND (d.claimed_until IS NULL OR d.claimed_until < $1) \
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id \
             AND e.ticket_id = d.ticket_id AND e.status = 'pending' AND e.id < d.id) \
         ORDER BY d.next_at, d.id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Takes a delivery for `lease_ms`; false when another instance has it.
pub async fn claim(conn: &mut AnyConnection, id: i64, now: i64, lease_ms: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_deliveries SET claimed_until = $1 WHERE id = $2 AND status = 'pending' \
         AND (claimed_until IS NULL OR claimed_until < $3)",
    )
    .bind(now + lease_ms)
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// The outcome of one attempt: `status` is `sent`, `pending` (retry at
/// `next_at`) or `dead`.
pub struct Attempt<'a> {
    pub id: i64,
    pub status: &'a str,
    pub next_at: i64,
    pub http_status: Option<i64>,
    pub error: Option<&'a str>,
    pub now: i64,
}

pub async fn record(conn: &mut AnyConnection, a: Attempt<'_>) -> Result<()> {
    let done = (a.status != "pending").then_some(a.now);
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_at = $2, \
         claimed_until = NULL, last_status = $3, last_error = $4, done_at = $5 WHERE id = $6",
    )
    .bind(a.status)
    .bind(a.next_at)
    .bind(a.http_status)
    .bind(a.error)
    .bind(done)
    .bind(a.id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The latest deliveries of an endpoint, newest first.
pub async fn log(conn: &mut AnyConnection, hook: i64, limit: i64) -> Result<Vec<Delivery>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{DELIVERY} WHERE d.webhook_id = $1 ORDER BY d.id DESC LIMIT $2"
    )))
    .bind(hook)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn delivery(conn: &mut AnyConnection, id: i64) -> Result<Option<Delivery>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{DELIVERY} WHERE d.id = $1")))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Sends a dead delivery again (same `webhook-id`).
pub async fn resend(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', next_at = $1, claimed_until = NULL, \
         done_at = NULL WHERE id = $2 AND status = 'dead'",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Deliveries by state.
pub async fn counts(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT status, COUNT(*) FROM webhook_deliveries GROUP BY status ORDER BY status",
    )
    .fetch_all(conn)
    .await?)
}
