//! The README's Postfix recipe, run for real: mail through a private Postfix
//! reaches `docket mailgate` over the pipe transport as the `docket` user;
//! while the database is unavailable Postfix defers the mail (exit 75), and
//! after `postqueue -f` it arrives exactly once.

use std::process::Command;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::support::postfix::Postfix;
use crate::support::{docket_bin, mail};

fn docket(url: &str, args: &[&str]) -> String {
    let out = Command::new(docket_bin())
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .expect("run docket");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads as the `docket` user, as an operator must once the database is
/// that user's: a root reader would create SQLite's `-wal`/`-shm` files as
/// root, and mailgate could then no longer write (and would defer).
fn tickets(url: &str) -> Vec<serde_json::Value> {
    let out = Command::new("runuser")
        .args(["-u", "docket", "--", docket_bin(), "--database-url", url])
        .args(["ticket", "list", "--json"])
        .output()
        .expect("run docket as docket");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str::<serde_json::Value>(&String::from_utf8_lossy(&out.stdout))
        .expect("json")
        .as_array()
        .expect("array")
        .clone()
}

async fn send(port: u16, raw: &[u8], from: &str, to: &str) {
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let env = Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    smtp.send_raw(&env, raw)
        .await
        .expect("Postfix accepts the mail");
}

async fn wait_for(what: &str, pf: &Postfix, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}; Postfix log:\n{}",
            pf.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn postfix_pipe_delivers_and_defers_while_the_database_is_away() {
    let queue_addr = "help@help.example.com";
    let dir = tempfile::tempdir().expect("tmp");
    let db_dir = dir.path().join("db");
    std::fs::create_dir_all(&db_dir).expect("mkdir");
    let db_path = db_dir.join("docket.db");
    // sqlite:/// and an absolute path, as the README says.
    let url = format!("sqlite://{}", db_path.display());
    assert!(url.starts_with("sqlite:///"));
    docket(&url, &["migrate"]);
    docket(&url, &["queue", "add", "help", "--address", queue_addr]);
    let Some(pf) = Postfix::start(queue_addr, &url, "help") else {
        return;
    };
    // The database directory belongs to the docket user (the README's recipe).
    for cmd in [
        vec!["chmod", "755", dir.path().to_str().expect("p")],
        vec!["chown", "-R", "docket:", db_dir.to_str().expect("p")],
    ] {
        assert!(
            Command::new(cmd[0])
                .args(&cmd[1..])
                .status()
                .expect("run")
                .success()
        );
    }

    let first = mail(
        "Alice <alice@example.net>",
        queue_addr,
        "printer on fire",
        "pf1@example.net",
        "",
        "help",
    );
    send(pf.port, &first, "alice@example.net", queue_addr).await;
    wait_for("the first ticket", &pf, || tickets(&url).len() == 1).await;
    assert_eq!(tickets(&url)[0]["subject"], "printer on fire");

    // The database is away (a wrong path, a restore in progress): mailgate
    // exits 75 and Postfix keeps the mail in its deferred queue.
    let away = db_dir.join("away.db");
    std::fs::rename(&db_path, &away).expect("move the database away");
    let second = mail(
        "Bob <bob@example.net>",
        queue_addr,
        "second request",
        "pf2@example.net",
        "",
        "more",
    );
    send(pf.port, &second, "bob@example.net", queue_addr).await;
    wait_for("the deferral", &pf, || pf.log().contains("status=deferred")).await;
    let queued = pf.queue();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0]["queue_name"], "deferred");
    let reason = queued[0]["recipients"][0]["delay_reason"]
        .as_str()
        .expect("reason");
    assert!(reason.contains("does not exist"), "{reason}");
    assert!(!db_path.exists(), "mailgate must not create a database");
    assert!(!pf.log().contains("status=bounced"), "{}", pf.log());

    std::fs::rename(&away, &db_path).expect("database back");
    pf.flush();
    wait_for("the deferred mail", &pf, || tickets(&url).len() == 2).await;
    wait_for("an empty queue", &pf, || pf.queue().is_empty()).await;
    // Once: a second flush changes nothing.
    pf.flush();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let all = tickets(&url);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all.iter()
            .filter(|t| t["subject"] == "second request")
            .count(),
        1
    );
}
