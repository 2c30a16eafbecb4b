//! What a requestor sees of their own tickets: never a comment, never an
//! entry flagged for staff.

use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow)]
pub struct RequestorTicket {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub queue: String,
    pub owner_name: Option<String>,
    pub owner_email: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub eta_at: Option<i64>,
    pub eta_reason: Option<String>,
    pub status_reason: Option<String>,
    pub postponed_until: Option<i64>,
}

const TICKET_COLUMNS: &str = "t.id, t.subject, t.status, q.name AS queue, \
     o.display_name AS owner_name, o.email AS owner_email, t.created_at, t.updated_at, \
     t.eta_at, t.eta_reason, t.status_reason, t.postponed_until";

/// The tickets `user` asked for, the most recently changed first.
pub async fn tickets_of(conn: &mut AnyConnection, user: i64) -> Result<Vec<RequestorTicket>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {TICKET_COLUMNS} \
         FROM ticket_requestors r JOIN tickets t ON t.id = r.ticket_id \
         JOIN queues q ON q.id = t.queue_id LEFT JOIN users o ON o.id = t.owner_id \
         WHERE r.user_id = $1 AND t.merged_into IS NULL ORDER BY t.updated_at DESC, t.id DESC \
         LIMIT 200"
    )))
    .bind(user)
    .fetch_all(conn)
    .await?)
}

/// A public queue's tickets, the most recently changed first; `None` when
/// no public queue has that name.
pub async fn public_queue_tickets(
    conn: &mut AnyConnection,
    queue: &str,
    limit: i64,
) -> Result<Option<Vec<RequestorTicket>>> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM queues WHERE name = $1 AND public = 1")
            .bind(queue)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(id) = id else { return Ok(None) };
    Ok(Some(
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
             LEFT JOIN users o ON o.id = t.owner_id \
             WHERE t.queue_id = $1 AND t.merged_into IS NULL AND t.hidden = 0 \
             ORDER BY t.updated_at DESC, t.id DESC LIMIT $2"
        )))
        .bind(id)
        .bind(limit)
        .fetch_all(conn)
        .await?,
    ))
}

#[derive(Debug, Clone, FromRow)]
pub struct PublicEntry {
    pub kind: String,
    pub from_name: Option<String>,
    pub from_email: Option<String>,
    pub created_at: i64,
    pub body: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
}

/// The history a requestor may read: their mail and ours to them, status
/// and ETA changes. Comments and flagged entries stay internal.
pub async fn public_history(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<PublicEntry>> {
    Ok(sqlx::query_as(
        "SELECT x.type AS kind, u.display_name AS from_name, u.email AS from_email, \
         x.created_at, x.body, x.old_value, x.new_value \
         FROM transactions x LEFT JOIN users u ON u.id = x.creator_id \
         WHERE x.ticket_id = $1 AND x.flag IS NULL \
         AND x.type IN ('create', 'correspond', 'status', 'eta', 'postpone') ORDER BY x.id",
    )
    .bind(ticket)
    .fetch_all(conn)
    .await?)
}

pub async fn is_requestor(conn: &mut AnyConnection, ticket: i64, user: i64) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ticket_requestors WHERE ticket_id = $1 AND user_id = $2",
    )
    .bind(ticket)
    .bind(user)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// `(id, email)` of a person by address.
pub async fn person(conn: &mut AnyConnection, email: &str) -> Result<Option<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT id, email FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn email_of(conn: &mut AnyConnection, user: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(conn)
        .await?)
}

/// Their most recent ticket: where a fresh link's mail is filed.
pub async fn latest_ticket(conn: &mut AnyConnection, user: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT MAX(ticket_id) FROM ticket_requestors WHERE user_id = $1")
            .bind(user)
            .fetch_one(conn)
            .await?,
    )
}

/// Keeps a one-time sign-in link (its hash) mailed to `email`.
pub async fn add_sign_in_link(
    conn: &mut AnyConnection,
    hash: &str,
    email: &str,
    now: i64,
    expires: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sign_in_links (hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(hash)
    .bind(email)
    .bind(now)
    .bind(expires)
    .execute(conn)
    .await?;
    Ok(())
}

/// Uses a sign-in link: the address it was mailed to, when it was unused
/// and in time; it never works again.
pub async fn use_sign_in_link(
    conn: &mut AnyConnection,
    hash: &str,
    now: i64,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "UPDATE sign_in_links SET used_at = $2 \
         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING email",
    )
    .bind(hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

/// Sign-in links made since `since`: for `email`, and for everyone.
pub async fn sign_in_links_since(
    conn: &mut AnyConnection,
    email: &str,
    since: i64,
) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(
        "SELECT COUNT(CASE WHEN email = $1 THEN 1 END), COUNT(*) \
         FROM sign_in_links WHERE created_at >= $2",
    )
    .bind(email)
    .bind(since)
    .fetch_one(conn)
    .await?)
}
