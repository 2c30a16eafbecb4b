//! Instance-wide values generated on first use and kept in the database.

use sqlx::AnyConnection;

use super::Result;

/// The value stored under `name`, storing `fresh()` first when there is
/// none. Two first users at once agree: the first insert wins and both
/// read it back.
pub async fn get_or_create(
    conn: &mut AnyConnection,
    name: &str,
    fresh: impl FnOnce() -> String,
) -> Result<String> {
    let found: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(v) = found {
        return Ok(v);
    }
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(fresh())
        .execute(&mut *conn)
        .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_one(conn)
            .await?,
    )
}
