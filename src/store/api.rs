//! Applications, API tokens and idempotency keys.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct App {
    pub id: i64,
    pub name: String,
    pub user_id: i64,
    pub email: String,
}

pub async fn add_app(conn: &mut AnyConnection, name: &str, user_id: i64, now: i64) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO applications (name, user_id, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(name)
    .bind(user_id)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn app_by_name(conn: &mut AnyConnection, name: &str) -> Result<Option<App>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.name, a.user_id, u.email FROM applications a \
         JOIN users u ON u.id = a.user_id WHERE a.name = $1",
    )
    .bind(name)
    .fetch_optional(conn)
    .await?)
}

pub async fn app(conn: &mut AnyConnection, id: i64) -> Result<Option<App>> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.name, a.user_id, u.email FROM applications a \
         JOIN users u ON u.id = a.user_id WHERE a.id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn set_queue_app(conn: &mut AnyConnection, queue: i64, app: i64) -> Result<()> {
    sqlx::query("UPDATE queues SET app_id = $1 WHERE id = $2")
        .bind(app)
        .bind(queue)
        .execute(conn)
        .await?;
    Ok(())
}

/// The queues an application owns.
pub async fn app_queues(conn: &mut AnyConnection, app: i64) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM queues WHERE app_id = $1 ORDER BY id")
            .bind(app)
            .fetch_all(conn)
            .await?,
    )
}

/// Every queue some application owns: out of people's sight.
pub async fn owned_queues(conn: &mut AnyConnection) -> Result<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM queues WHERE app_id IS NOT NULL")
            .fetch_all(conn)
            .await?,
    )
}

pub struct NewToken<'a> {
    pub name: &'a str,
    pub app_id: Option<i64>,
    pub user_id: Option<i64>,
    pub queues: &'a str,
    pub read_only: bool,
    pub hash: &'a str,
    pub now: i64,
}

pub async fn add_token(conn: &mut AnyConnection, t: NewToken<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO api_tokens (name, app_id, user_id, queues, read_only, hash, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(t.name)
    .bind(t.app_id)
    .bind(t.user_id)
    .bind(t.queues)
    .bind(i16::from(t.read_only))
    .bind(t.hash)
    .bind(t.now)
    .fetch_one(conn)
    .await?)
}

/// A token as listed (never its secret) or as found by its hash.
#[derive(Debug, Clone, FromRow, Serialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub app_id: Option<i64>,
    pub app: Option<String>,
    pub user_id: Option<i64>,
    pub user: Option<String>,
    pub queues: String,
    #[serde(serialize_with = "as_bool")]
    pub read_only: i16,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn as_bool<S: serde::Serializer>(v: &i16, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_bool(*v != 0)
}

const TOKEN_COLUMNS: &str = "SELECT t.id, t.name, t.app_id, a.name AS app, \
     COALESCE(t.user_id, a.user_id) AS user_id, u.email AS user, t.queues, t.read_only, \
     t.created_at, t.last_used_at, t.revoked_at FROM api_tokens t \
     LEFT JOIN applications a ON a.id = t.app_id \
     LEFT JOIN users u ON u.id = COALESCE(t.user_id, a.user_id)";

pub async fn list_tokens(conn: &mut AnyConnection) -> Result<Vec<TokenRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TOKEN_COLUMNS} ORDER BY t.id"
    )))
    .fetch_all(conn)
    .await?)
}

/// The live token with this hash, while its holder is staff.
pub async fn token_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<TokenRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        // A person no longer staff (left their directory group) keeps no power.
        "{TOKEN_COLUMNS} WHERE t.hash = $1 AND t.revoked_at IS NULL \
         AND u.role IN ('staff', 'admin')"
    )))
    .bind(hash)
    .fetch_optional(conn)
    .await?)
}

/// Notes a use at most once a minute, so reads stay reads.
pub async fn touch_token(conn: &mut AnyConnection, id: i64, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now)
    .bind(id)
    .bind(now - 60_000)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn revoke_token(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool> {
    let r =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(r.rows_affected() == 1)
}

/// What is stored for an idempotency key.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub fingerprint: String,
    pub status: Option<i64>,
    pub content_type: Option<String>,
    pub response: Option<String>,
    pub created_at: i64,
}

/// Claims a key for a request in flight; false when it was already there.
pub async fn claim_key(
    conn: &mut AnyConnection,
    token: i64,
    key: &str,
    fingerprint: &str,
    now: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO idempotency_keys (token_id, key, fingerprint, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (token_id, key) DO NOTHING",
    )
    .bind(token)
    .bind(key)
    .bind(fingerprint)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn find_key(conn: &mut AnyConnection, token: i64, key: &str) -> Result<Option<KeyRow>> {
    Ok(sqlx::query_as(
        "SELECT fingerprint, status, content_type, response, created_at FROM idempotency_keys \
         WHERE token_id = $1 AND key = $2",
    )
    .bind(token)
    .bind(key)
    .fetch_optional(conn)
    .await?)
}

pub async fn finish_key(
    conn: &mut AnyConnection,
    token: i64,
    key: &str,
    status: u16,
    content_type: &str,
    response: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $1, content_type = $2, response = $3 \
         WHERE token_id = $4 AND key = $5",
    )
    .bind(i64::from(status))
    .bind(content_type)
    .bind(response)
    .bind(token)
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets a key whose request failed before answering, so it can be retried.
pub async fn drop_key(conn: &mut AnyConnection, token: i64, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE token_id = $1 AND key = $2")
        .bind(token)
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Drops keys older than `before`.
pub async fn expire_keys(conn: &mut AnyConnection, before: i64) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}
