//! Demo data: spreads freshly generated tickets over statuses, owners,
//! priorities and the last 60 days, so a demo looks like a working queue.

use sqlx::AnyConnection;

use super::Result;

pub async fn spread(conn: &mut AnyConnection, staff: &[i64]) -> Result<()> {
    for sql in [
        "UPDATE tickets SET status = 'open' WHERE id % 5 = 1",
        "UPDATE tickets SET status = 'stalled' WHERE id % 11 = 2",
        "UPDATE tickets SET status = 'needs-info' WHERE id % 13 = 3",
        "UPDATE tickets SET status = 'resolved', resolved_at = updated_at WHERE id % 3 = 0",
        "UPDATE tickets SET status = 'postponed', postponed_until = updated_at + (id % 10 + 1) * 86400000, \
         status_reason = 'after the change freeze' WHERE id % 17 = 4",
        "UPDATE tickets SET priority = id % 4",
    ] {
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    for (i, id) in staff.iter().enumerate() {
        sqlx::query("UPDATE tickets SET owner_id = $1 WHERE id % 7 = $2 AND status <> 'new'")
            .bind(id)
            .bind(i as i64)
            .execute(&mut *conn)
            .await?;
    }
    // Tickets arrived over the last 60 days, not all this second.
    sqlx::query(
        "UPDATE tickets SET created_at = created_at - (id % 60) * 86400000 - (id % 1440) * 60000, \
         updated_at = updated_at - (id % 30) * 86400000",
    )
    .execute(conn)
    .await?;
    Ok(())
}
