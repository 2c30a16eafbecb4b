//! The composition root: supervised workers restarted with backoff and
//! shown on `/healthz`; a mailbox added while running is polled without a
//! restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use docket::app::Options;
use docket::mail::generate;
use docket::store::{self, mailboxes};

use crate::both;
use crate::support::peers::{Dovecot, PASSWORD};
use crate::support::{Backend, Served, TestDb};

async fn healthz(base: &str) -> (u16, String) {
    let r = reqwest::get(format!("{base}/healthz"))
        .await
        .expect("healthz");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// A worker that panics on its first two starts, then runs.
async fn a_panicking_worker_is_restarted(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let starts = Arc::new(AtomicU32::new(0));
    let counter = starts.clone();
    let served = Served::start(&t, t.config(), Options::default(), move |app| {
        app.with_worker("flaky", move |mut stop| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                assert!(n >= 2, "flaky start {n} fails on purpose");
                let _ = stop.wait_for(|s| *s).await;
                Ok(())
            })
        })
    })
    .await;
    let began = Instant::now();
    let mut saw_degraded = false;
    let body = loop {
        let (status, body) = healthz(&served.base).await;
        assert_eq!(status, 200, "{body}");
        saw_degraded |= body.starts_with("degraded\n");
        if body.contains("flaky: running, restarts 2") {
            break body;
        }
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "never restarted twice:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(starts.load(Ordering::SeqCst), 3);
    // Backoff: 1 s, then 2 s.
    assert!(
        began.elapsed() >= Duration::from_secs(3),
        "restarted without backoff"
    );
    assert!(saw_degraded, "a restarting worker showed as healthy");
    assert!(body.starts_with("ok\n"), "{body}");
    for worker in ["web", "outbox", "search-index", "mailboxes", "scheduler"] {
        assert!(
            body.contains(&format!("{worker}: running, restarts 0")),
            "{body}"
        );
    }
    served.stop().await;
    t.close().await;
}
both!(
    a_failing_worker_is_restarted_with_backoff_and_reported,
    a_panicking_worker_is_restarted
);

/// A mailbox added after `serve` started is polled within a rescan, and
/// shows on `/healthz`.
async fn mailbox_added_while_running(b: Backend) {
    let Some(d) = Dovecot::start(&["support"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let q = t.add_queue("help", "help@example.com", None).await;
    let opts = Options {
        mailbox_rescan: Duration::from_millis(300),
        poll_interval: Duration::from_secs(1),
        ..Options::default()
    };
    let served = Served::start(&t, t.config(), opts, |a| a).await;
    // Running without mailboxes first.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!healthz(&served.base).await.1.contains("imap "));
    d.load(
        "support",
        "INBOX",
        &generate::messages(5, "help@example.com", 3),
    );
    {
        let mut c = t.db.pool.acquire().await.expect("conn");
        mailboxes::add(
            &mut c,
            mailboxes::NewMailbox {
                name: "support",
                host: "127.0.0.1",
                port: i64::from(d.port),
                tls: "none",
                username: "support",
                password: Some(PASSWORD),
                password_env: None,
                password_file: None,
                folder: "INBOX",
                queue_id: q,
                after_action: "seen",
                move_folder: None,
                oversize_folder: None,
                oauth2: Default::default(),
                now: store::now_ms(),
            },
        )
        .await
        .expect("add mailbox");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while t.count("messages").await < 5 {
        assert!(
            Instant::now() < deadline,
            "the new mailbox was never polled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, body) = healthz(&served.base).await;
    assert!(body.contains("imap support: running, restarts 0"), "{body}");
    served.stop().await;
    assert_eq!(t.count("messages").await, 5);
    t.close().await;
}
both!(
    a_mailbox_added_while_running_is_polled,
    mailbox_added_while_running
);
