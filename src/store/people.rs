//! Who hears of new tickets, and what a person owns: for the team notice
//! and for the directory sync.

use sqlx::AnyConnection;

use super::Result;

/// The people of a queue who want a notice of each new ticket: its
/// members (never an application), less those who turned it off.
pub async fn team_for_new(conn: &mut AnyConnection, queue_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.email FROM queue_members m JOIN users u ON u.id = m.user_id \
         WHERE m.queue_id = $1 AND u.notify_new = 1 AND u.role IN ('staff', 'admin') \
         AND NOT EXISTS (SELECT 1 FROM applications a WHERE a.user_id = u.id) ORDER BY u.email",
    )
    .bind(queue_id)
    .fetch_all(conn)
    .await?)
}

/// Open tickets a user owns.
pub async fn owned_open(conn: &mut AnyConnection, user: i64) -> Result<Vec<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM tickets WHERE owner_id = $1 AND status NOT IN ('resolved', 'rejected') \
         ORDER BY id",
    )
    .bind(user)
    .fetch_all(conn)
    .await?)
}
