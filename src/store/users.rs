//! Users: staff with passwords, requestors without.

use sqlx::AnyConnection;

use super::Result;

/// The id of the user with this (normalised) address, creating a requestor if new.
/// A display name is filled in when we learn one and had none.
pub async fn ensure(conn: &mut AnyConnection, email: &str, name: &str, now: i64) -> Result<i64> {
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO users (email, display_name, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (email) DO NOTHING RETURNING id",
    )
    .bind(email)
    .bind(name)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = id {
        return Ok(id);
    }
    let (id, existing): (i64, String) =
        sqlx::query_as("SELECT id, display_name FROM users WHERE email = $1")
            .bind(email)
            .fetch_one(&mut *conn)
            .await?;
    if existing.is_empty() && !name.is_empty() {
        sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

pub async fn is_bouncing(conn: &mut AnyConnection, email: &str) -> Result<bool> {
    let b: Option<i16> = sqlx::query_scalar("SELECT bouncing FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(conn)
        .await?;
    Ok(b.unwrap_or(0) != 0)
}

pub async fn mark_bouncing(conn: &mut AnyConnection, email: &str, now: i64) -> Result<()> {
    ensure(&mut *conn, email, "", now).await?;
    sqlx::query("UPDATE users SET bouncing = 1 WHERE email = $1")
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}
