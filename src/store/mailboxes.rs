//! IMAP mailboxes: where they are, what to do after a message is stored, and
//! how the poller is doing.

use serde::Serialize;
use sqlx::{AnyConnection, FromRow};

use super::{Result, rfc3339};

#[derive(Debug, Clone, FromRow)]
pub struct Mailbox {
    pub id: i64,
    pub name: String,
    pub host: String,
    pub port: i64,
    pub tls: String,
    pub username: String,
    /// Stored in the database (prefer `password_env` or `password_file`).
    pub password: Option<crate::domain::secret::Secret>,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
    pub folder: String,
    pub queue_id: i64,
    pub queue_name: String,
    pub after_action: String,
    pub move_folder: Option<String>,
    /// Where an over-size message is moved (else it stays where it is).
    pub oversize_folder: Option<String>,
    pub uidvalidity: Option<i64>,
    pub last_uid: i64,
    pub state: String,
    pub last_success_at: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub failures: i64,
    pub backlog: i64,
    #[sqlx(flatten)]
    pub oauth2: OAuth2Settings,
}

/// XOAUTH2 instead of a password: where to get tokens, and where the
/// secrets are read from (never the secrets).
#[derive(Debug, Clone, FromRow)]
pub struct OAuth2Settings {
    pub oauth2_token_url: Option<String>,
    pub oauth2_client_id: Option<String>,
    pub oauth2_client_secret_env: Option<String>,
    pub oauth2_client_secret_file: Option<String>,
    pub oauth2_refresh_token_env: Option<String>,
    pub oauth2_refresh_token_file: Option<String>,
    pub oauth2_scope: Option<String>,
    /// `xoauth2` or `oauthbearer`.
    pub oauth2_mechanism: String,
}

impl Default for OAuth2Settings {
    fn default() -> Self {
        OAuth2Settings {
            oauth2_token_url: None,
            oauth2_client_id: None,
            oauth2_client_secret_env: None,
            oauth2_client_secret_file: None,
            oauth2_refresh_token_env: None,
            oauth2_refresh_token_file: None,
            oauth2_scope: None,
            oauth2_mechanism: "xoauth2".into(),
        }
    }
}

pub struct NewMailbox<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub port: i64,
    pub tls: &'a str,
    pub username: &'a str,
    pub password: Option<&'a str>,
    pub password_env: Option<&'a str>,
    pub password_file: Option<&'a str>,
    pub folder: &'a str,
    pub queue_id: i64,
    pub after_action: &'a str,
    pub move_folder: Option<&'a str>,
    pub oversize_folder: Option<&'a str>,
    pub oauth2: OAuth2Settings,
    pub now: i64,
}

pub async fn add(conn: &mut AnyConnection, m: NewMailbox<'_>) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO mailboxes (name, host, port, tls, username, password, password_env, password_file, \
         folder, queue_id, after_action, move_folder, created_at, oversize_folder, \
         oauth2_token_url, oauth2_client_id, oauth2_client_secret_env, oauth2_client_secret_file, \
         oauth2_refresh_token_env, oauth2_refresh_token_file, oauth2_scope, oauth2_mechanism) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20, $21, $22) RETURNING id",
    )
    .bind(m.name)
    .bind(m.host)
    .bind(m.port)
    .bind(m.tls)
    .bind(m.username)
    .bind(m.password)
    .bind(m.password_env)
    .bind(m.password_file)
    .bind(m.folder)
    .bind(m.queue_id)
    .bind(m.after_action)
    .bind(m.move_folder)
    .bind(m.now)
    .bind(m.oversize_folder)
    .bind(m.oauth2.oauth2_token_url)
    .bind(m.oauth2.oauth2_client_id)
    .bind(m.oauth2.oauth2_client_secret_env)
    .bind(m.oauth2.oauth2_client_secret_file)
    .bind(m.oauth2.oauth2_refresh_token_env)
    .bind(m.oauth2.oauth2_refresh_token_file)
    .bind(m.oauth2.oauth2_scope)
    .bind(m.oauth2.oauth2_mechanism)
    .fetch_one(conn)
    .await?)
}

const SELECT: &str = "SELECT m.id, m.name, m.host, m.port, m.tls, m.username, m.password, m.password_env, \
     m.password_file, m.folder, m.queue_id, q.name AS queue_name, m.after_action, m.move_folder, m.oversize_folder, m.uidvalidity, \
     m.last_uid, m.state, m.last_success_at, m.last_error, m.last_error_at, m.failures, m.backlog, \
     m.oauth2_token_url, m.oauth2_client_id, m.oauth2_client_secret_env, m.oauth2_client_secret_file, \
     m.oauth2_refresh_token_env, m.oauth2_refresh_token_file, m.oauth2_scope, m.oauth2_mechanism \
     FROM mailboxes m JOIN queues q ON q.id = m.queue_id";

pub async fn list(conn: &mut AnyConnection) -> Result<Vec<Mailbox>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY m.name")))
            .fetch_all(conn)
            .await?,
    )
}

pub async fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<Mailbox>> {
    Ok(
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE m.name = $1")))
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

/// Takes or renews the lease on a mailbox for `owner` until `until`. False
/// when another live instance holds it.
pub async fn lease(
    conn: &mut AnyConnection,
    id: i64,
    owner: &str,
    now: i64,
    until: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE mailboxes SET lease_owner = $1, lease_until = $2 \
         WHERE id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until IS NULL OR lease_until < $4)",
    )
    .bind(owner)
    .bind(until)
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn lease_owner(conn: &mut AnyConnection, id: i64) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT lease_owner FROM mailboxes WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .flatten(),
    )
}

/// Takes the lease from `from` (a holder known to be gone), only if it still has it.
pub async fn take_over(
    conn: &mut AnyConnection,
    id: i64,
    from: &str,
    owner: &str,
    until: i64,
) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE mailboxes SET lease_owner = $1, lease_until = $2 WHERE id = $3 AND lease_owner = $4",
    )
    .bind(owner)
    .bind(until)
    .bind(id)
    .bind(from)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn release(conn: &mut AnyConnection, id: i64, owner: &str) -> Result<()> {
    sqlx::query("UPDATE mailboxes SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2")
        .bind(id)
        .bind(owner)
        .execute(conn)
        .await?;
    Ok(())
}

/// A new UIDVALIDITY: the folder was re-created; rescan from the start
/// (dedupe makes the known messages no-ops).
pub async fn reset_uidvalidity(conn: &mut AnyConnection, id: i64, uidvalidity: i64) -> Result<()> {
    sqlx::query("UPDATE mailboxes SET uidvalidity = $1, last_uid = 0 WHERE id = $2")
        .bind(uidvalidity)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_last_uid(
    conn: &mut AnyConnection,
    id: i64,
    uid: i64,
    backlog: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE mailboxes SET last_uid = $1, backlog = $2, last_success_at = $3, state = 'ok', failures = 0 \
         WHERE id = $4 AND last_uid < $1",
    )
    .bind(uid)
    .bind(backlog)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A successful look at the mailbox (nothing new, or all done).
pub async fn record_success(
    conn: &mut AnyConnection,
    id: i64,
    backlog: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE mailboxes SET backlog = $1, last_success_at = $2, state = 'ok', failures = 0 WHERE id = $3",
    )
    .bind(backlog)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn record_error(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    error: &str,
    now: i64,
) -> Result<i64> {
    sqlx::query(
        "UPDATE mailboxes SET state = $1, last_error = $2, last_error_at = $3, failures = failures + 1 WHERE id = $4",
    )
    .bind(state)
    .bind(error)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT failures FROM mailboxes WHERE id = $1")
            .bind(id)
            .fetch_one(conn)
            .await?,
    )
}

/// UIDs whose body did not come back, with how often that happened.
pub async fn missing(
    conn: &mut AnyConnection,
    id: i64,
    uidvalidity: i64,
) -> Result<Vec<(i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT uid, tries FROM imap_missing WHERE mailbox_id = $1 AND uidvalidity = $2 ORDER BY uid",
    )
    .bind(id)
    .bind(uidvalidity)
    .fetch_all(conn)
    .await?)
}

/// Counts one more pass in which `uid` came back without a body; returns the count.
pub async fn count_missing(
    conn: &mut AnyConnection,
    id: i64,
    uidvalidity: i64,
    uid: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO imap_missing (mailbox_id, uidvalidity, uid, tries) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (mailbox_id, uidvalidity, uid) DO UPDATE SET tries = imap_missing.tries + 1 \
         RETURNING tries",
    )
    .bind(id)
    .bind(uidvalidity)
    .bind(uid)
    .fetch_one(conn)
    .await?)
}

/// The UID was stored, or given up on (quarantined): stop retrying it.
pub async fn forget_missing(
    conn: &mut AnyConnection,
    id: i64,
    uidvalidity: i64,
    uid: i64,
) -> Result<()> {
    sqlx::query("DELETE FROM imap_missing WHERE mailbox_id = $1 AND uidvalidity = $2 AND uid = $3")
        .bind(id)
        .bind(uidvalidity)
        .bind(uid)
        .execute(conn)
        .await?;
    Ok(())
}

/// What `docket mailbox list/status --json` print (never the password).
#[derive(Debug, Serialize)]
pub struct MailboxView {
    pub name: String,
    pub url: String,
    pub host: String,
    pub port: i64,
    pub tls: String,
    pub user: String,
    pub password_source: String,
    pub folder: String,
    pub queue: String,
    pub after: String,
    pub state: String,
    pub uidvalidity: Option<i64>,
    pub last_uid: i64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub failures: i64,
    pub backlog: i64,
    /// Where tokens come from, for a mailbox signing in with OAuth2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_token_url: Option<String>,
    /// `xoauth2` or `oauthbearer`, for a mailbox signing in with OAuth2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2_mechanism: Option<String>,
}

impl From<&Mailbox> for MailboxView {
    fn from(m: &Mailbox) -> Self {
        let password_source = match (&m.password, &m.password_env, &m.password_file) {
            _ if m.oauth2.oauth2_token_url.is_some() => "oauth2".to_string(),
            (Some(_), _, _) => "inline".to_string(),
            (None, Some(v), _) => format!("env:{v}"),
            (None, None, Some(f)) => format!("file:{f}"),
            _ => "none".to_string(),
        };
        let after = match (m.after_action.as_str(), &m.move_folder) {
            ("move", Some(f)) => format!("move={f}"),
            (a, _) => a.to_string(),
        };
        let scheme = if m.tls == "tls" { "imaps" } else { "imap" };
        MailboxView {
            name: m.name.clone(),
            url: format!(
                "{scheme}://{}@{}:{}/{}",
                m.username, m.host, m.port, m.folder
            ),
            host: m.host.clone(),
            port: m.port,
            tls: m.tls.clone(),
            user: m.username.clone(),
            password_source,
            folder: m.folder.clone(),
            queue: m.queue_name.clone(),
            after,
            state: m.state.clone(),
            uidvalidity: m.uidvalidity,
            last_uid: m.last_uid,
            last_success: m.last_success_at.map(rfc3339),
            last_error: m.last_error.clone(),
            last_error_at: m.last_error_at.map(rfc3339),
            failures: m.failures,
            backlog: m.backlog,
            oauth2_token_url: m.oauth2.oauth2_token_url.clone(),
            oauth2_mechanism: m
                .oauth2
                .oauth2_token_url
                .as_ref()
                .map(|_| m.oauth2.oauth2_mechanism.clone()),
        }
    }
}
