//! All SQL lives under `store/`. One code path for SQLite and PostgreSQL via
//! sqlx's `Any` driver; the few per-backend statements branch on [`Backend`].

pub mod api;
pub mod calendar_feeds;
pub mod demo;
pub mod intake;
pub mod links;
pub mod mailboxes;
pub mod messages;
pub mod outbox;
pub mod people;
pub mod quarantine;
pub mod queues;
pub mod reports;
pub mod requestor;
pub mod role_changes;
pub mod schedule;
pub mod search_index;
pub mod sessions;
pub mod settings;
pub mod sla;
pub mod tasks;
pub mod tickets;
pub mod triage;
pub mod users;
pub mod views;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

/// Errors from the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    /// Another delivery stored the same message while this one was being
    /// decided; the caller rolls back and tries again (and finds a duplicate).
    #[error("the same message was stored concurrently")]
    DuplicateRace,
    #[error("the SQLite database {0} does not exist")]
    Missing(String),
}

impl StoreError {
    /// True when the database was unreachable, locked or busy: the caller
    /// should retry later rather than treat the input as bad.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlx(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => is_transient_db(db.as_ref()),
                _ => false,
            },
            _ => false,
        }
    }
}

/// Locked, busy, lost connections, and PostgreSQL's lock timeouts, deadlocks
/// and serialization failures: trying again later succeeds.
fn is_transient_db(db: &dyn sqlx::error::DatabaseError) -> bool {
    let msg = db.message().to_ascii_lowercase();
    msg.contains("locked")
        || msg.contains("busy")
        || db.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "55P03" | "40P01" | "40001")
        })
}

/// The file path inside a normalised `sqlite://PATH?…` URL.
fn sqlite_path(url: &str) -> &str {
    let rest = url.strip_prefix("sqlite://").unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
}

/// A new SQLite database is created readable by its owner only: it holds
/// everyone's mail. SQLite gives the WAL and shared-memory files the mode
/// of the database file.
fn create_private_sqlite_file(url: &str) -> Result<()> {
    let path = sqlite_path(url);
    if path.is_empty() || path == ":memory:" || std::path::Path::new(path).exists() {
        return Ok(());
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Sqlx(sqlx::Error::Io(e))),
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
pub type Tx = Transaction<'static, Any>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database: the pool and which backend it is.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

/// A database name goes into SQL unquoted: letters, digits and `_` only.
fn check_db_name(name: &str) -> Result<()> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(StoreError::Sqlx(sqlx::Error::Configuration(
            format!("{name:?} is not a plain database name").into(),
        )))
    }
}

impl Db {
    /// Connects (creating a SQLite file if missing) and applies per-connection
    /// settings: WAL and `synchronous=FULL` so a commit is durable, a busy timeout.
    pub async fn connect(url: &str, busy_timeout: Duration) -> Result<Db> {
        let (backend, url) = normalise_url(url)?;
        if backend == Backend::Sqlite {
            create_private_sqlite_file(&url)?;
        }
        Self::connect_normalised(backend, url, busy_timeout).await
    }

    /// Connects to a database that must already exist: the mailgate's way,
    /// so a mistyped path is an error and never a second, empty database.
    pub async fn connect_existing(url: &str, busy_timeout: Duration) -> Result<Db> {
        let (backend, url) = normalise_url(url)?;
        let url = match backend {
            Backend::Sqlite => {
                let path = sqlite_path(&url);
                if !path.is_empty() && path != ":memory:" && !std::path::Path::new(path).exists() {
                    return Err(StoreError::Missing(path.to_string()));
                }
                url.replace("mode=rwc", "mode=rw")
            }
            Backend::Postgres => url,
        };
        Self::connect_normalised(backend, url, busy_timeout).await
    }

    async fn connect_normalised(
        backend: Backend,
        url: String,
        busy_timeout: Duration,
    ) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let opts = AnyConnectOptions::from_str(&url)?;
        let busy_ms = busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(busy_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    match backend {
                        Backend::Sqlite => {
                            let pragmas = format!(
                                "PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                                 PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
                            );
                            conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(pragmas)))
                                .await?;
                        }
                        Backend::Postgres => {
                            let lock = format!("SET lock_timeout = '{busy_ms}ms'");
                            conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(lock)))
                                .await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        Ok(Db { pool, backend })
    }

    fn migrator(&self) -> sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        }
    }

    /// Migrations this binary knows that the database has not applied
    /// (all of them for an empty database).
    pub async fn pending_migrations(&self) -> Result<usize> {
        let applied: Vec<i64> =
            match sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
            {
                Ok(v) => v,
                Err(sqlx::Error::Database(e)) if !is_transient_db(e.as_ref()) => Vec::new(),
                Err(e) => return Err(e.into()),
            };
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration() && !applied.contains(&m.version))
            .count())
    }

    /// Whether the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// PostgreSQL: creates database `name` on this server (tests, benchmarks).
    pub async fn create_database(&self, name: &str) -> Result<()> {
        check_db_name(name)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// PostgreSQL: drops database `name`, closing its connections.
    pub async fn drop_database(&self, name: &str) -> Result<()> {
        check_db_name(name)?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn migrate(&self) -> Result<()> {
        self.migrator().run(&self.pool).await?;
        Ok(())
    }

    /// Begins a transaction that will write. SQLite needs `BEGIN IMMEDIATE`:
    /// a deferred transaction that reads and then writes fails with SQLITE_BUSY.
    pub async fn begin_write(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A connection from the pool, for reads and single statements.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Accepts `sqlite://PATH`, `sqlite:PATH` and `postgres(ql)://…`; a SQLite
/// file is created if missing.
fn normalise_url(url: &str) -> Result<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.trim_start_matches("//");
        let mut out = format!("sqlite://{rest}");
        if !rest.contains("mode=") && !rest.contains(":memory:") {
            out.push(if rest.contains('?') { '&' } else { '?' });
            out.push_str("mode=rwc");
        }
        return Ok((Backend::Sqlite, out));
    }
    Err(StoreError::UnsupportedUrl(url.to_string()))
}

/// Milliseconds since the Unix epoch (the one portable timestamp form) on
/// the system clock: for the edges, the CLI and tests. Use cases take `now`
/// or a [`crate::domain::clock::Clock`].
pub fn now_ms() -> i64 {
    use crate::domain::clock::Clock;
    crate::domain::clock::SystemClock.now_ms()
}

/// RFC 3339 UTC text for a stored timestamp.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Creates a uniquely named database on the server at `server_url` and returns
/// its URL and a future that drops it.
pub async fn fresh_postgres(
    server_url: &str,
    prefix: &str,
) -> Result<(String, impl std::future::Future<Output = Result<()>>)> {
    let name = format!("{prefix}_{}_{}", std::process::id(), rand::random::<u32>());
    let admin = Db::connect(server_url, Duration::from_secs(10)).await?;
    admin.create_database(&name).await?;
    let url = replace_db_name(server_url, &name);
    let drop = async move {
        admin.drop_database(&name).await?;
        admin.close().await;
        Ok(())
    };
    Ok((url, drop))
}

/// `postgres://host:5432/test?x=y` with the database name replaced.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_get_create_mode() {
        assert_eq!(
            normalise_url("sqlite://docket.db").unwrap(),
            (Backend::Sqlite, "sqlite://docket.db?mode=rwc".to_string())
        );
        assert_eq!(
            normalise_url("sqlite:///tmp/x.db").unwrap().1,
            "sqlite:///tmp/x.db?mode=rwc"
        );
        assert!(normalise_url("mysql://x").is_err());
    }

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
