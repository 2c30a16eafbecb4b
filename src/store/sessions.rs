//! Web sessions: token hashes, the user, the CSRF token, the expiry.

use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow)]
pub struct SessionUser {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: String,
    pub csrf_token: String,
    pub time_zone: Option<String>,
}

pub async fn create(
    conn: &mut AnyConnection,
    token_hash: &str,
    user_id: i64,
    csrf: &str,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(csrf)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The signed-in user of an unexpired session.
pub async fn find(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<SessionUser>> {
    Ok(sqlx::query_as(
        "SELECT u.id AS user_id, u.email, u.display_name, u.role, s.csrf_token, u.time_zone \
         FROM sessions s \
         JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

pub async fn delete(conn: &mut AnyConnection, token_hash: &str, now: i64) -> Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1 OR expires_at <= $2")
        .bind(token_hash)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Email, role and password hash of a staff user, for signing in.
pub async fn credentials(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<(i64, String, Option<String>)>> {
    Ok(
        sqlx::query_as("SELECT id, role, password_hash FROM users WHERE email = $1")
            .bind(email)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn has_admin(conn: &mut AnyConnection) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND password_hash IS NOT NULL",
    )
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}
