//! Intake fields: what each ticket was given, and what it still lacks.

use sqlx::AnyConnection;

use super::Result;

/// Sets a field; the latest value given wins.
pub async fn set_field(
    conn: &mut AnyConnection,
    ticket: i64,
    name: &str,
    value: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_fields (ticket_id, name, value, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ticket_id, name) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
    )
    .bind(ticket)
    .bind(name)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// `(name, value)` of every field the ticket has, by name.
pub async fn fields(conn: &mut AnyConnection, ticket: i64) -> Result<Vec<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT name, value FROM ticket_fields WHERE ticket_id = $1 ORDER BY name")
            .bind(ticket)
            .fetch_all(conn)
            .await?,
    )
}

/// The required keys still missing, as a comma list (empty: complete).
pub async fn set_missing(conn: &mut AnyConnection, ticket: i64, missing: &str) -> Result<()> {
    sqlx::query("UPDATE tickets SET intake_missing = $1 WHERE id = $2")
        .bind(missing)
        .bind(ticket)
        .execute(conn)
        .await?;
    Ok(())
}

/// `(queue_id, required)` of a ticket.
pub async fn required_for(conn: &mut AnyConnection, ticket: i64) -> Result<Option<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT q.id, q.intake FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.id = $1",
    )
    .bind(ticket)
    .fetch_optional(conn)
    .await?)
}

pub async fn set_required(conn: &mut AnyConnection, queue_id: i64, keys: &str) -> Result<()> {
    sqlx::query("UPDATE queues SET intake = $1 WHERE id = $2")
        .bind(keys)
        .bind(queue_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The queue's tickets that are not done, to check again after the
/// queue's requirements changed.
pub async fn active_tickets(conn: &mut AnyConnection, queue_id: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE queue_id = $1 AND status NOT IN ('resolved', 'rejected') \
         AND merged_into IS NULL",
    )
    .bind(queue_id)
    .fetch_all(conn)
    .await?)
}

/// The body of the mail that opened the ticket: its description.
pub async fn first_body(conn: &mut AnyConnection, ticket: i64) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT body FROM transactions WHERE ticket_id = $1 AND type = 'create' ORDER BY id LIMIT 1",
    )
    .bind(ticket)
    .fetch_optional(conn)
    .await?)
}
