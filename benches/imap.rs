//! IMAP benchmark (not a test): `cargo bench --bench imap` (scripts/bench.sh).
//! Starts a private Dovecot, then measures
//! - IMAP → committed tickets, messages per second over 10,000 messages (SQLite);
//! - IDLE latency from APPEND to commit (median and p95 of 30);
//! - with `IMAP_BENCH_MEMORY=1` instead: the peak RSS of `docket poll
//!   --once` (the binary in `DOCKET_BIN`) taking 200 messages of 5 MB.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tests' peers module finds this where it expects its parent's.
pub fn missing_peer(what: &str, why: &str) {
    panic!("benchmark needs {what}: {why}");
}
#[path = "../tests/it/support/peers.rs"]
#[allow(dead_code)]
mod peers;

use docket::config::Config;
use docket::mail::generate;
use docket::service::ingest::Ingestor;
use docket::service::poll::Poller;
use docket::store::{self, Db, mailboxes, queues};
use peers::{Dovecot, PASSWORD};

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("imap benchmark: run it with `cargo bench --bench imap`");
        return;
    }
    let n: usize = std::env::var("IMAP_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let memory = std::env::var("IMAP_BENCH_MEMORY").is_ok_and(|v| v == "1");
    let d = Dovecot::start(&["support"]).await.expect("dovecot");
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = Db::connect(&url, Duration::from_secs(30))
        .await
        .expect("db");
    db.migrate().await.expect("migrate");
    {
        let mut c = db.pool.acquire().await.expect("conn");
        queues::add(
            &mut c,
            "help",
            "help@example.com",
            None,
            None,
            store::now_ms(),
        )
        .await
        .expect("queue");
        for (name, folder) in [("bulk", "Bulk"), ("idle", "INBOX")] {
            mailboxes::add(
                &mut c,
                mailboxes::NewMailbox {
                    name,
                    host: "127.0.0.1",
                    port: i64::from(d.port),
                    tls: "none",
                    username: "support",
                    password: Some(PASSWORD),
                    password_env: None,
                    password_file: None,
                    folder,
                    queue_id: 1,
                    after_action: "seen",
                    move_folder: None,
                    oversize_folder: None,
                    oauth2: Default::default(),
                    now: store::now_ms(),
                },
            )
            .await
            .expect("mailbox");
        }
    }
    let cfg = Config {
        database_url: url.clone(),
        ..Config::default()
    };
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    if memory {
        db.close().await;
        return poll_memory(&d, &url);
    }

    d.load(
        "support",
        "Bulk",
        &generate::messages(n, "help@example.com", 21),
    );
    let started = Instant::now();
    let r = Poller::new(ingestor.clone(), "bulk", "bench")
        .poll_once()
        .await;
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(r.fetched, n, "{r:?}");
    println!(
        "{}",
        serde_json::json!({"what": "imap to committed tickets (sqlite)", "messages": n, "seconds": secs, "per_second": n as f64 / secs})
    );

    let (stop, rx) = tokio::sync::watch::channel(false);
    let poller = Poller::new(ingestor.clone(), "idle", "bench");
    let task = tokio::spawn(async move { poller.run(Duration::from_secs(600), rx).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut latencies = Vec::new();
    for i in 0..30 {
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        let raw = format!(
            "From: Sam <sam{i}@example.net>\r\nTo: help@example.com\r\nSubject: idle {i}\r\nMessage-ID: <idle-bench-{i}@x>\r\n\r\nhello\r\n"
        );
        let mut s = d.session("support").await;
        let t0 = Instant::now();
        s.append("INBOX", None, None, raw.as_bytes())
            .await
            .expect("append");
        loop {
            let now: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
                .fetch_one(&db.pool)
                .await
                .expect("count");
            if now > before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
        s.logout().await.expect("logout");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.send(true).expect("stop");
    task.await.expect("task");
    latencies.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "{}",
        serde_json::json!({"what": "IDLE latency, APPEND to commit (ms)", "samples": latencies.len(), "median_ms": pct(0.5), "p95_ms": pct(0.95), "max_ms": pct(1.0)})
    );
}

/// 200 messages of 5 MB (a base64 attachment each) polled by a separate
/// `docket poll --once` under `/usr/bin/time -v`: its peak RSS.
fn poll_memory(d: &Dovecot, url: &str) {
    let count = 200;
    let chunk = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let attachment = chunk.repeat(5 * 1024 * 1024 / chunk.len());
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            format!(
                "From: Sam <sam{i}@example.net>\r\nTo: help@example.com\r\nSubject: big {i}\r\n\
                 Message-ID: <big-{i}@example.net>\r\nMIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
                 see attached\r\n--b\r\nContent-Type: application/octet-stream\r\n\
                 Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=dump.bin\r\n\r\n\
                 {attachment}--b--\r\n"
            )
            .into_bytes()
        })
        .collect();
    let total: usize = messages.iter().map(Vec::len).sum();
    d.load("support", "Bulk", &messages);
    drop(messages);
    let bin = std::env::var("DOCKET_BIN").unwrap_or_else(|_| "target/release/docket".into());
    let out = std::process::Command::new("/usr/bin/time")
        .args([
            "-v",
            &bin,
            "--database-url",
            url,
            "poll",
            "--once",
            "--mailbox",
            "bulk",
        ])
        .env("DOCKET_LOG", "warn")
        .output()
        .expect("run docket poll under /usr/bin/time");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| {
        stderr
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim_start_matches(':').trim().to_string())
            .unwrap_or_default()
    };
    assert!(out.status.success(), "{stderr}");
    println!(
        "{}",
        serde_json::json!({"what": "imap poll --once, 200 x 5 MB", "messages": count, "mail_mb": total / (1024 * 1024), "max_rss_kb": field("Maximum resident set size (kbytes)").parse::<u64>().unwrap_or(0), "wall": field("Elapsed (wall clock) time (h:mm:ss or m:ss)")})
    );
}
