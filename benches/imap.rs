//! IMAP benchmark (not a test): `cargo bench --bench imap` (scripts/bench.sh).
//! Starts a private Dovecot, then measures
//! - IMAP → committed tickets, messages per second over 10,000 messages (SQLite);
//! - IDLE latency from APPEND to commit (median and p95 of 30).

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
use docket::mail::inbound::Ingestor;
use docket::mail::inbound::imap::Poller;
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
