//! How tickets relate: parent and children, `depends-on` and `refers-to`
//! links, and merging a duplicate into the ticket that survives.

use sqlx::AnyConnection;

use super::Result;

/// The ticket that carries `id` now: itself, or the one it was merged into
/// (followed through merges of merges). `None` when there is no such ticket.
pub async fn survivor(conn: &mut AnyConnection, id: i64) -> Result<Option<i64>> {
    let mut at = id;
    // A merge chain longer than this would be a loop: stop on it.
    for _ in 0..16 {
        let row: Option<Option<i64>> =
            sqlx::query_scalar("SELECT merged_into FROM tickets WHERE id = $1")
                .bind(at)
                .fetch_optional(&mut *conn)
                .await?;
        match row {
            None => return Ok(None),
            Some(None) => return Ok(Some(at)),
            Some(Some(next)) => at = next,
        }
    }
    Ok(Some(at))
}

pub async fn set_parent(conn: &mut AnyConnection, child: i64, parent: i64) -> Result<()> {
    sqlx::query("UPDATE tickets SET parent_id = $1 WHERE id = $2")
        .bind(parent)
        .bind(child)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn parent(conn: &mut AnyConnection, id: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT parent_id FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Children as `(id, status)`, oldest first; an application's hidden
/// tasks only `with_hidden`.
pub async fn children(
    conn: &mut AnyConnection,
    id: i64,
    with_hidden: bool,
) -> Result<Vec<(i64, String)>> {
    Ok(sqlx::query_as(
        "SELECT id, status FROM tickets WHERE parent_id = $1 AND merged_into IS NULL \
         AND (hidden = 0 OR $2) ORDER BY id",
    )
    .bind(id)
    .bind(with_hidden)
    .fetch_all(conn)
    .await?)
}

/// Adds `ticket KIND target` once.
pub async fn add(
    conn: &mut AnyConnection,
    ticket: i64,
    kind: &str,
    target: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO ticket_links (ticket_id, kind, target_id, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(ticket)
    .bind(kind)
    .bind(target)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Targets of `ticket`'s links of one kind.
pub async fn targets(conn: &mut AnyConnection, ticket: i64, kind: &str) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT target_id FROM ticket_links WHERE ticket_id = $1 AND kind = $2 ORDER BY target_id",
    )
    .bind(ticket)
    .bind(kind)
    .fetch_all(conn)
    .await?)
}

pub async fn merged_into(conn: &mut AnyConnection, id: i64) -> Result<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT merged_into FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Moves everything of `from` to `into`: history, messages (so mail
/// threads by Message-ID to the survivor), the mail we sent, requestors,
/// Cc, children and links; then marks `from` merged and resolved.
pub async fn merge(conn: &mut AnyConnection, from: i64, into: i64, now: i64) -> Result<()> {
    for sql in [
        "UPDATE transactions SET ticket_id = $2 WHERE ticket_id = $1",
        "UPDATE messages SET ticket_id = $2 WHERE ticket_id = $1",
        "UPDATE outbox SET ticket_id = $2 WHERE ticket_id = $1",
        "UPDATE tickets SET parent_id = $2 WHERE parent_id = $1",
        "INSERT INTO ticket_requestors (ticket_id, user_id) SELECT $2, user_id \
         FROM ticket_requestors WHERE ticket_id = $1 ON CONFLICT DO NOTHING",
        "DELETE FROM ticket_requestors WHERE ticket_id = $1",
        "INSERT INTO ticket_cc (ticket_id, user_id) SELECT $2, user_id \
         FROM ticket_cc WHERE ticket_id = $1 ON CONFLICT DO NOTHING",
        "DELETE FROM ticket_cc WHERE ticket_id = $1",
        "INSERT INTO ticket_links (ticket_id, kind, target_id, created_at) \
         SELECT $2, kind, target_id, created_at FROM ticket_links \
         WHERE ticket_id = $1 AND target_id <> $2 ON CONFLICT DO NOTHING",
        "DELETE FROM ticket_links WHERE ticket_id = $1",
        "INSERT INTO ticket_links (ticket_id, kind, target_id, created_at) \
         SELECT ticket_id, kind, $2, created_at FROM ticket_links \
         WHERE target_id = $1 AND ticket_id <> $2 ON CONFLICT DO NOTHING",
        "DELETE FROM ticket_links WHERE target_id = $1",
    ] {
        sqlx::query(sql)
            .bind(from)
            .bind(into)
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(
        "UPDATE tickets SET merged_into = $1, status = 'resolved', status_reason = $2, \
         resolved_at = $3, updated_at = $3, status_changed_at = $3, owner_id = NULL WHERE id = $4",
    )
    .bind(into)
    .bind(format!("merged into #{into}"))
    .bind(now)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(())
}
