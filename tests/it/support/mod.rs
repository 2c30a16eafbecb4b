//! Test support: fresh databases on both backends, an ingestor, helpers.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use docket::config::Config;
use docket::service::ingest::Hints;
use docket::service::ingest::{Ingestor, Outcome, Source};
use docket::store::{self, Db, queues, tickets};

pub mod ldap;
pub mod oauth;
pub mod peers;
pub mod postfix;
pub mod web;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// For file names: screenshots of each backend's run.
    pub fn label(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Runs an async test body once per backend: `both!(name, body_fn)`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::support::within_limit(super::$body($crate::support::Backend::Sqlite)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::support::within_limit(super::$body($crate::support::Backend::Postgres))
                    .await
            }
        }
    };
}

/// No test may hang the run: one that takes over five minutes fails.
pub async fn within_limit(test: impl std::future::Future<Output = ()>) {
    if tokio::time::timeout(Duration::from_secs(300), test)
        .await
        .is_err()
    {
        panic!("the test did not finish within 5 minutes");
    }
}

/// A fresh database for one test: a temp-file SQLite database, or a new
/// PostgreSQL database dropped by `close()`.
pub struct TestDb {
    pub db: Db,
    pub url: String,
    pub backend: Backend,
    _dir: tempfile::TempDir,
    drop_pg: Option<String>,
}

pub fn postgres_server_url() -> String {
    std::env::var("DOCKET_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A peer is missing: fail in CI and under `scripts/test.sh`; skip loudly
/// only when a developer runs cargo directly (or opts out explicitly), and
/// then also where libtest cannot capture it: the skip log and the terminal.
pub fn missing_peer(what: &str, why: &str) {
    let required = std::env::var("DOCKET_TEST_REQUIRE_PEERS").is_ok_and(|v| v == "1");
    if in_ci() || required {
        panic!("test peer {what} is not available: {why}");
    }
    let test = std::thread::current().name().unwrap_or("?").to_string();
    let line = format!("SKIPPING {test}: test peer {what} is not available: {why}\n");
    eprint!("{line}");
    use std::io::Write;
    if let Ok(path) = std::env::var("DOCKET_TEST_SKIP_LOG")
        && let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = f.write_all(line.as_bytes());
    }
    if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
        let _ = tty.write_all(line.as_bytes());
    }
}

impl TestDb {
    /// `None` when the backend is unavailable outside CI (the test then returns).
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("docket.db").display());
                let db = Db::connect(&url, Duration::from_secs(30))
                    .await
                    .expect("sqlite connect");
                db.migrate().await.expect("migrate");
                Some(TestDb {
                    db,
                    url,
                    backend,
                    _dir: dir,
                    drop_pg: None,
                })
            }
            Backend::Postgres => {
                let server = postgres_server_url();
                let admin = match Db::connect(&server, Duration::from_secs(5)).await {
                    Ok(a) => a,
                    Err(e) => {
                        missing_peer("PostgreSQL", &e.to_string());
                        return None;
                    }
                };
                let name = format!("docket_it_{}_{}", std::process::id(), rand::random::<u32>());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin.pool)
                    .await
                    .expect("create database");
                admin.close().await;
                let url = docket::store::replace_db_name(&server, &name);
                let db = Db::connect(&url, Duration::from_secs(30))
                    .await
                    .expect("pg connect");
                db.migrate().await.expect("migrate");
                Some(TestDb {
                    db,
                    url,
                    backend,
                    _dir: dir,
                    drop_pg: Some(name),
                })
            }
        }
    }

    pub fn config(&self) -> Config {
        Config {
            database_url: self.url.clone(),
            instance_name: "docket.test".into(),
            ..Config::default()
        }
    }

    /// The instance's secret for reply addresses and status links.
    pub async fn reply_secret(&self) -> docket::domain::secret::Secret {
        let mut c = self.db.pool.acquire().await.expect("conn");
        docket::service::notify::reply_secret(&mut c, &self.config())
            .await
            .expect("secret")
    }

    pub fn ingestor(&self) -> Ingestor {
        Ingestor::new(self.db.clone(), Arc::new(self.config()))
    }

    pub async fn add_queue(&self, name: &str, address: &str, comment: Option<&str>) -> i64 {
        let mut c = self.db.pool.acquire().await.expect("conn");
        queues::add(&mut c, name, address, comment, None, store::now_ms())
            .await
            .expect("add queue")
    }

    pub async fn show(&self, id: i64) -> tickets::TicketDetail {
        let mut c = self.db.pool.acquire().await.expect("conn");
        tickets::show(&mut c, id)
            .await
            .expect("show")
            .expect("ticket exists")
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&self.db.pool)
            .await
            .expect("count")
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(&self.db.pool)
            .await
            .expect("scalar")
    }

    pub async fn close(self) {
        self.db.close().await;
        if let Some(name) = self.drop_pg {
            let admin = Db::connect(&postgres_server_url(), Duration::from_secs(5))
                .await
                .expect("admin");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin.pool)
            .await
            .expect("drop database");
            admin.close().await;
        }
    }
}

/// Ingests one message in its own transaction (the mailgate path).
pub async fn ingest(ing: &Ingestor, raw: &[u8], queue: Option<&str>) -> Outcome {
    let hints = Hints {
        queue: queue.map(str::to_string),
        action: None,
        keep_dates: false,
    };
    ing.ingest_one(raw, Source::Mailgate, &hints)
        .await
        .expect("ingest")
}

/// Builds a simple message; `extra` headers end with CRLF.
pub fn mail(
    from: &str,
    to: &str,
    subject: &str,
    message_id: &str,
    extra: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
Date: Tue, 24 Nov 2026 08:00:00 +0000\r\n{extra}Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Stops a `docket serve` (or `poll`) child with SIGTERM and insists it
/// exits cleanly within 20 s. One that hangs is killed and fails its test
/// instead of stalling the whole run.
pub fn terminate(child: &mut std::process::Child, what: &str) {
    let _ = std::process::Command::new("kill")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            assert!(status.success(), "{what} exited with {status} on SIGTERM");
            return;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not stop within 20 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The application `serve` runs, in this process on a free port, until
/// `stop`.
pub struct Served {
    pub base: String,
    pub health: Arc<docket::service::health::Health>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Served {
    pub async fn start(
        t: &TestDb,
        mut cfg: Config,
        opts: docket::app::Options,
        more: impl FnOnce(docket::app::Application) -> docket::app::Application,
    ) -> Served {
        cfg.listen = "127.0.0.1:0".into();
        let app = docket::app::Application::build(t.db.clone(), Arc::new(cfg), opts)
            .await
            .expect("build the application");
        let app = more(app);
        let base = format!("http://{}", app.local_addr());
        let health = app.health();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(app.run(async {
            let _ = rx.await;
        }));
        Served {
            base,
            health,
            stop: Some(tx),
            task,
        }
    }

    /// Stops every worker; fails the test if that takes over 40 s.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(40), &mut self.task)
            .await
            .expect("the application stops")
            .expect("join")
            .expect("run");
    }
}

/// Runs the `docket` binary on the database at `url` with `stdin`.
pub fn docket(url: &str, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = std::process::Command::new(docket_bin())
        .args(args)
        .env("DOCKET_DATABASE_URL", url)
        .env("DOCKET_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut input = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut input, stdin).expect("write");
    drop(input);
    child.wait_with_output().expect("wait")
}

pub fn docket_bin() -> &'static str {
    env!("CARGO_BIN_EXE_docket")
}

/// Path of the shared corpus, when present beside the project.
pub fn corpus_dir() -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    p.is_dir().then_some(p)
}

/// The stdout of a `docket` run that must succeed.
pub fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// `docket ARGS --json`, which must succeed, as JSON.
pub fn json_ok(url: &str, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&ok(docket(url, &all, b""))).expect("json")
}

/// `docket ARGS --json`, which a rule must refuse: exit 1, the error code.
pub fn refused(url: &str, args: &[&str], stdin: &[u8]) -> (String, String) {
    let mut all = args.to_vec();
    all.push("--json");
    let out = docket(url, &all, stdin);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?} should be refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json problem");
    (
        v["error"].as_str().expect("code").to_string(),
        v["message"].as_str().expect("message").to_string(),
    )
}
