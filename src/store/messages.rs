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
pub struct NewMessage<'a> {
    pub message_id: &'a str,
    pub fingerprint: &'a str,
    pub raw: &'a [u8],
    pub source: &'a str,
    pub ticket_id: Option<i64>,
    pub now: i64,
}

/// Stores the raw message and returns its row id. When this message is
/// already stored (the unique index decides, so concurrent deliveries agree)
/// the error is [`StoreError::DuplicateRace`](super::StoreError::DuplicateRace).
pub async fn insert(conn: &mut AnyConnection, m: NewMessage<'_>) -> Result<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (message_id, fingerprint, raw, source, ticket_id, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id, fingerprint) DO NOTHING RETURNING id",
    )
    .bind(m.message_id)
    .bind(m.fingerprint)
    .bind(m.raw)
    .bind(m.source)
    .bind(m.ticket_id)
    .bind(m.now)
    .fetch_optional(conn)
    .await?;
    id.ok_or(super::StoreError::DuplicateRace)
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
