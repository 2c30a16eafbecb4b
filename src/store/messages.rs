//! Stored raw mail and the Message-ID index used for dedupe and threading.

use sqlx::AnyConnection;

use super::Result;

/// The ticket (if any) of an already stored copy of this message.
/// `Some(None)` means stored but attached to no ticket (ignored mail).
pub async fn find(
    conn: &mut AnyConnection,
    message_id: &str,
    fingerprint: &str,
) -> Result<Option<Option<i64>>> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT ticket_id FROM messages WHERE message_id = $1 AND fingerprint = $2")
            .bind(message_id)
            .bind(fingerprint)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0))
}

/// Stores the raw message; `None` when this message is already stored (the
/// unique index decides, so concurrent deliveries agree).
pub async fn insert(
    conn: &mut AnyConnection,
    message_id: &str,
    fingerprint: &str,
    raw: &[u8],
    source: &str,
    now: i64,
) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO messages (message_id, fingerprint, raw, source, received_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id, fingerprint) DO NOTHING RETURNING id",
    )
    .bind(message_id)
    .bind(fingerprint)
    .bind(raw)
    .bind(source)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

pub async fn set_ticket(conn: &mut AnyConnection, row_id: i64, ticket: i64) -> Result<()> {
    sqlx::query("UPDATE messages SET ticket_id = $1 WHERE id = $2")
        .bind(ticket)
        .bind(row_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The ticket of a Message-ID we received or sent, if any.
pub async fn ticket_of(conn: &mut AnyConnection, message_id: &str) -> Result<Option<i64>> {
    let t: Option<i64> = sqlx::query_scalar(
        "SELECT ticket_id FROM (SELECT ticket_id FROM messages WHERE message_id = $1 AND ticket_id IS NOT NULL \
         UNION ALL SELECT ticket_id FROM outbox WHERE message_id = $1) x LIMIT 1",
    )
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(t)
}

pub async fn raw(conn: &mut AnyConnection, message_id: &str) -> Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT raw FROM messages WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(conn)
            .await?,
    )
}
