//! The IMAP poller against a real Dovecot: bulk, IDLE, crashes, server
//! restarts, bad passwords, UIDVALIDITY changes, two instances.

use std::time::{Duration, Instant};

use docket::mail::generate;
use docket::service::poll::Poller;
use docket::store::{self, mailboxes};

use crate::both;
use crate::support::peers::{Dovecot, PASSWORD};
use crate::support::{Backend, TestDb, docket_bin};

const HELP: &str = "help@example.com";

async fn add_mailbox(
    t: &TestDb,
    d: &Dovecot,
    name: &str,
    folder: &str,
    after: &str,
    password: &str,
) {
    let mut c = t.db.pool.acquire().await.expect("conn");
    let (action, move_folder) = match after.split_once('=') {
        Some((a, f)) => (a.to_string(), Some(f.to_string())),
        None => (after.to_string(), None),
    };
    mailboxes::add(
        &mut c,
        mailboxes::NewMailbox {
            name,
            host: "127.0.0.1",
            port: i64::from(d.port),
            tls: "none",
            username: "support",
            password: Some(password),
            password_env: None,
            password_file: None,
            folder,
            queue_id: 1,
            after_action: &action,
            move_folder: move_folder.as_deref(),
            oversize_folder: None,
            oauth2: Default::default(),
            now: store::now_ms(),
        },
    )
    .await
    .expect("add mailbox");
}

async fn status(t: &TestDb, name: &str) -> mailboxes::Mailbox {
    let mut c = t.db.pool.acquire().await.expect("conn");
    mailboxes::get(&mut c, name)
        .await
        .expect("get")
        .expect("mailbox")
}

async fn stored_tickets_and_replies(t: &TestDb) -> i64 {
    t.scalar_i64("SELECT COUNT(*) FROM transactions WHERE message_row_id IS NOT NULL")
        .await
}

async fn setup(b: Backend) -> Option<(Dovecot, TestDb)> {
    let d = Dovecot::start(&["support"]).await?;
    let t = TestDb::new(b).await?;
    t.add_queue("help", HELP, None).await;
    Some((d, t))
}

async fn bulk_then_flagged(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    d.load("support", "INBOX", &generate::messages(500, HELP, 11));
    add_mailbox(&t, &d, "support", "INBOX", "seen", PASSWORD).await;
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!(r.error, None);
    assert_eq!(r.fetched, 500);
    assert_eq!(r.tally.created + r.tally.replied, 500, "{r:?}");
    assert_eq!(stored_tickets_and_replies(&t).await, 500);
    let flags = d.flags("support", "INBOX").await;
    assert_eq!(flags.len(), 500);
    assert!(
        flags.iter().all(
            |f| f.iter().any(|x| x.contains("Seen")) && f.iter().any(|x| x.contains("$Docket"))
        ),
        "{:?}",
        &flags[..3]
    );
    let again = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!(again.fetched, 0, "nothing twice");
    let m = status(&t, "support").await;
    assert_eq!((m.state.as_str(), m.backlog, m.last_uid), ("ok", 0, 500));
    assert!(m.last_success_at.is_some());
    t.close().await;
}
both!(
    five_hundred_messages_become_tickets_and_are_flagged,
    bulk_then_flagged
);

async fn move_and_delete(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    d.load("support", "INBOX", &generate::messages(30, HELP, 12));
    d.load("support", "Archive", &[]);
    add_mailbox(&t, &d, "support", "INBOX", "move=Archive", PASSWORD).await;
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!((r.fetched, r.error), (30, None));
    assert_eq!(d.flags("support", "INBOX").await.len(), 0, "moved out");
    assert_eq!(d.flags("support", "Archive").await.len(), 30, "moved in");

    d.load("support", "Trashme", &generate::messages(10, HELP, 13));
    add_mailbox(&t, &d, "trash", "Trashme", "delete", PASSWORD).await;
    let r = Poller::new(t.ingestor(), "trash", "test").poll_once().await;
    assert_eq!((r.fetched, r.error), (10, None));
    assert_eq!(
        d.flags("support", "Trashme").await.len(),
        0,
        "deleted and expunged"
    );
    t.close().await;
}
both!(after_store_move_and_delete, move_and_delete);

async fn idle_wakes(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    add_mailbox(&t, &d, "support", "INBOX", "seen", PASSWORD).await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let poller = Poller::new(t.ingestor(), "support", "test");
    // Polling every 10 minutes: only IDLE can bring the mail in quickly.
    let task = tokio::spawn(async move { poller.run(Duration::from_secs(600), rx).await });
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(&t, "support").await.state != "ok" {
        assert!(Instant::now() < deadline, "the poller never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // now in IDLE
    let mut s = d.session("support").await;
    let raw = crate::support::mail(
        "Sam <sam@example.net>",
        HELP,
        "idle test",
        "idle1@x",
        "",
        "hello",
    );
    let appended = Instant::now();
    s.append("INBOX", None, None, &raw).await.expect("append");
    s.logout().await.expect("logout");
    loop {
        if t.count("tickets").await == 1 {
            break;
        }
        // Generous: IDLE usually takes well under a second (see the bench).
        assert!(
            appended.elapsed() < Duration::from_secs(10),
            "IDLE did not bring the mail in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("IDLE: appended → committed in {:?}", appended.elapsed());
    stop.send(true).expect("stop");
    task.await.expect("poller task");
    t.close().await;
}
both!(idle_turns_a_new_message_into_a_ticket_quickly, idle_wakes);

async fn killed_poller(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    d.load("support", "INBOX", &generate::messages(1000, HELP, 14));
    add_mailbox(&t, &d, "support", "INBOX", "seen", PASSWORD).await;
    let poll = || {
        std::process::Command::new(docket_bin())
            .args(["poll", "--once"])
            .env("DOCKET_DATABASE_URL", &t.url)
            .env("DOCKET_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let mut kills = 0;
    for delay in [100u64, 250, 400, 600] {
        let mut child = poll();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            kills += 1;
        }
        child.wait().expect("reap");
    }
    let status = poll().wait().expect("final run");
    assert!(status.success());
    eprintln!("poller killed {kills} times mid-run");
    assert!(
        kills >= 1,
        "no kill landed mid-run; the test proved nothing"
    );
    assert_eq!(
        t.count("messages").await,
        1000,
        "every message exactly once"
    );
    assert_eq!(stored_tickets_and_replies(&t).await, 1000);
    let flags = d.flags("support", "INBOX").await;
    assert!(
        flags
            .iter()
            .all(|f| f.iter().any(|x| x.contains("$Docket"))),
        "all marked in the end"
    );
    t.close().await;
}
both!(
    sigkill_during_a_1000_message_poll_loses_and_duplicates_nothing,
    killed_poller
);

async fn server_restart(b: Backend) {
    let Some((mut d, t)) = setup(b).await else {
        return;
    };
    d.load("support", "INBOX", &generate::messages(100, HELP, 15));
    add_mailbox(&t, &d, "support", "INBOX", "seen", PASSWORD).await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let poller = Poller::new(t.ingestor(), "support", "test");
    let task = tokio::spawn(async move { poller.run(Duration::from_secs(1), rx).await });
    let wait_for = |n: i64| {
        let t = &t;
        async move {
            let deadline = Instant::now() + Duration::from_secs(30);
            while t.count("messages").await < n {
                assert!(Instant::now() < deadline, "stuck below {n} messages");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for(100).await;
    d.restart().await;
    d.load("support", "INBOX", &generate::messages(50, HELP, 16));
    wait_for(150).await;
    stop.send(true).expect("stop");
    task.await.expect("task");
    assert_eq!(t.count("messages").await, 150);
    let m = status(&t, "support").await;
    assert_eq!(m.state, "ok", "recovered: {:?}", m.last_error);
    t.close().await;
}
both!(
    dovecot_restart_mid_run_reconnects_and_carries_on,
    server_restart
);

async fn wrong_password(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    add_mailbox(&t, &d, "support", "INBOX", "seen", "not-the-password").await;
    let (stop, rx) = tokio::sync::watch::channel(false);
    let poller = Poller::new(t.ingestor(), "support", "test");
    let task = tokio::spawn(async move { poller.run(Duration::from_secs(1), rx).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.send(true).expect("stop");
    task.await.expect("task");
    let m = status(&t, "support").await;
    assert_eq!(m.state, "auth-failed");
    assert!(
        m.last_error
            .as_deref()
            .unwrap_or("")
            .contains("login refused"),
        "{:?}",
        m.last_error
    );
    assert!(
        m.failures <= 2,
        "bounded retries, not a tight loop: {} in 3 s",
        m.failures
    );
    // The CLI shows it too.
    let out = std::process::Command::new(docket_bin())
        .args(["mailbox", "status", "--json"])
        .env("DOCKET_DATABASE_URL", &t.url)
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v[0]["state"], "auth-failed");
    assert_eq!(v[0]["password_source"], "inline");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("not-the-password"),
        "no secret in the output"
    );
    t.close().await;
}
both!(
    wrong_password_is_a_clear_status_with_bounded_retries,
    wrong_password
);

async fn uidvalidity_change(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    let msgs = generate::messages(20, HELP, 17);
    let mut s = d.session("support").await;
    s.create("Support").await.expect("create");
    for m in &msgs {
        s.append("Support", None, None, m).await.expect("append");
    }
    add_mailbox(&t, &d, "support", "Support", "seen", PASSWORD).await;
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!((r.fetched, r.error.clone()), (20, None));
    let before = status(&t, "support").await.uidvalidity;
    // The folder is deleted and re-created with the same messages.
    s.delete("Support").await.expect("delete");
    s.create("Support").await.expect("create");
    for m in &msgs {
        s.append("Support", None, None, m).await.expect("append");
    }
    s.logout().await.expect("logout");
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!(r.error, None);
    assert_eq!(
        (r.fetched, r.tally.duplicate),
        (20, 20),
        "rescanned, all recognised"
    );
    assert_ne!(status(&t, "support").await.uidvalidity, before);
    assert_eq!(t.count("messages").await, 20, "no duplicates");
    t.close().await;
}
both!(
    new_uidvalidity_rescans_without_duplicates,
    uidvalidity_change
);

/// Two `docket serve` processes on one PostgreSQL database and one mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_store_every_message_once() {
    let Some((d, t)) = setup(Backend::Postgres).await else {
        return;
    };
    d.load("support", "INBOX", &generate::messages(300, HELP, 18));
    add_mailbox(&t, &d, "support", "INBOX", "seen", PASSWORD).await;
    let serve = || {
        std::process::Command::new(docket_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DOCKET_DATABASE_URL", &t.url)
            .env("DOCKET_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve")
    };
    let (mut a, mut b) = (serve(), serve());
    let deadline = Instant::now() + Duration::from_secs(60);
    while t.count("messages").await < 300 {
        assert!(Instant::now() < deadline, "not all mail arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    d.load("support", "INBOX", &generate::messages(50, HELP, 19));
    while t.count("messages").await < 350 {
        assert!(Instant::now() < deadline, "later mail did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    crate::support::terminate(&mut a, "the first docket serve");
    crate::support::terminate(&mut b, "the second docket serve");
    assert_eq!(t.count("messages").await, 350);
    assert_eq!(
        stored_tickets_and_replies(&t).await,
        350,
        "every message exactly once"
    );
    t.close().await;
}

/// One broken mailbox never stops the others; an over-size message is
/// quarantined from its header alone and the rest go in; passwords can come
/// from a file or the environment.
async fn mixed_mailboxes(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    let mut msgs = generate::messages(20, HELP, 22);
    let mut huge = b"From: big@example.net\r\nTo: help@example.com\r\nSubject: huge\r\nMessage-ID: <huge@x>\r\n\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'z', 200_000));
    msgs.insert(10, huge);
    d.load("support", "INBOX", &msgs);
    let pw_file = t_dir_file(&t, PASSWORD);
    {
        let mut c = t.db.pool.acquire().await.expect("conn");
        for (name, password, env, file) in [
            ("broken", Some("wrong"), None, None),
            ("good", None, None, Some(pw_file.as_str())),
            ("fromenv", None, Some("DOCKET_TEST_IMAP_PASSWORD"), None),
        ] {
            mailboxes::add(
                &mut c,
                mailboxes::NewMailbox {
                    name,
                    host: "127.0.0.1",
                    port: i64::from(d.port),
                    tls: "none",
                    username: "support",
                    password,
                    password_env: env,
                    password_file: file,
                    folder: "INBOX",
                    queue_id: 1,
                    after_action: "seen",
                    move_folder: None,
                    oversize_folder: None,
                    oauth2: Default::default(),
                    now: store::now_ms(),
                },
            )
            .await
            .expect("add");
        }
    }
    let out = std::process::Command::new(docket_bin())
        .args(["--max-message-bytes", "100000", "poll", "--once", "--json"])
        .env("DOCKET_DATABASE_URL", &t.url)
        .env("DOCKET_TEST_IMAP_PASSWORD", PASSWORD)
        .env("DOCKET_LOG", "error")
        .output()
        .expect("poll");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed mailbox makes the run fail"
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let by_name = |n: &str| {
        reports
            .as_array()
            .expect("array")
            .iter()
            .find(|r| r["mailbox"] == n)
            .cloned()
            .expect("report")
    };
    assert!(
        by_name("broken")["error"]
            .as_str()
            .unwrap_or("")
            .contains("login refused")
    );
    let good = by_name("good");
    assert_eq!(good["fetched"], 21, "{good}");
    assert_eq!(good["quarantined"], 1, "the huge one");
    assert_eq!(
        by_name("fromenv")["error"],
        serde_json::Value::Null,
        "password from the environment works"
    );
    assert_eq!(t.count("messages").await, 20);
    let reason: String = sqlx::query_scalar("SELECT reason FROM quarantine")
        .fetch_one(&t.db.pool)
        .await
        .expect("q");
    assert!(reason.contains("only its header was read"), "{reason}");
    t.close().await;
}
both!(
    a_broken_mailbox_or_huge_message_does_not_block_the_rest,
    mixed_mailboxes
);

fn t_dir_file(t: &TestDb, content: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("docket-pw-{}-{}", std::process::id(), t.url.len()));
    std::fs::write(&path, format!("{content}\n")).expect("write");
    path.display().to_string()
}
