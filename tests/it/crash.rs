//! Crash safety: mailgate killed with SIGKILL at random moments, then run again
//! (as an MTA retries anything that did not exit 0). Each message ends up
//! stored exactly once.

use std::time::Duration;

use rand::Rng;
use tokio::io::AsyncWriteExt;

use crate::both;
use crate::support::{Backend, TestDb, docket_bin};

fn message(i: usize) -> Vec<u8> {
    // Attachments make ingest long enough for kills to land inside it.
    let blob = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n".repeat(2000);
    format!(
        "From: user{i}@example.net\r\nTo: help@example.com\r\nSubject: crash {i}\r\nMessage-ID: <crash{i}@x>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"c\"\r\n\r\n--c\r\nContent-Type: text/plain\r\n\r\nbody {i}\r\n\
--c\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{blob}--c\r\n\
Content-Type: application/octet-stream; name=\"b.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{blob}--c--\r\n"
    )
    .into_bytes()
}

async fn run_mailgate(
    url: &str,
    raw: &[u8],
    kill_after: Option<Duration>,
) -> Option<std::process::ExitStatus> {
    let mut child = tokio::process::Command::new(docket_bin())
        .args(["mailgate", "--queue", "help"])
        .env("DOCKET_DATABASE_URL", url)
        .env("DOCKET_LOG", "error")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(raw).await.expect("write");
    drop(stdin);
    if let Some(d) = kill_after {
        tokio::time::sleep(d).await;
        let _ = child.start_kill(); // SIGKILL
    }
    child.wait().await.ok()
}

async fn killed_and_rerun(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let n = 25;
    let mut killed_before_success = 0;
    for i in 0..n {
        let raw = message(i);
        let delay = Duration::from_millis(rand::rng().random_range(0..80));
        let status = run_mailgate(&t.url, &raw, Some(delay)).await;
        if !status.is_some_and(|s| s.success()) {
            killed_before_success += 1;
            let again = run_mailgate(&t.url, &raw, None).await.expect("rerun");
            assert!(again.success(), "the retry stores the message");
        } else if i % 2 == 0 {
            // a redelivery after success is a no-op too
            run_mailgate(&t.url, &raw, None).await;
        }
    }
    eprintln!("{killed_before_success} of {n} mailgate runs were killed before they finished");
    assert_eq!(t.count("messages").await, n as i64);
    assert_eq!(t.count("tickets").await, n as i64);
    assert_eq!(t.count("transactions").await, n as i64);
    assert_eq!(t.count("attachments").await, 2 * n as i64);
    assert_eq!(t.count("outbox").await, n as i64);
    let per_ticket = t.scalar_i64("SELECT COUNT(*) FROM (SELECT ticket_id FROM messages GROUP BY ticket_id HAVING COUNT(*) > 1) x").await;
    assert_eq!(per_ticket, 0);
    t.close().await;
}
both!(
    sigkill_during_mailgate_loses_nothing_and_duplicates_nothing,
    killed_and_rerun
);
