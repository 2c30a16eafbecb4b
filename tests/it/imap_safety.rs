//! The IMAP poller never loses mail: only what was stored is marked; a UID
//! whose body does not come back is retried and then quarantined; an
//! over-size message stays on the server; the same mail through mailgate
//! and IMAP is stored once; a second `serve` never polls a mailbox the first
//! holds, however long it idles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use docket::config::Config;
use docket::mail::generate;
use docket::service::ingest::Ingestor;
use docket::service::poll::Poller;
use docket::store::{self, mailboxes};

use crate::both;
use crate::support::peers::{Dovecot, PASSWORD};
use crate::support::{Backend, TestDb, docket_bin};

const HELP: &str = "help@example.com";

async fn add(t: &TestDb, d: &Dovecot, name: &str, after: &str, oversize: Option<&str>) {
    let mut c = t.db.pool.acquire().await.expect("conn");
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
            folder: "INBOX",
            queue_id: 1,
            after_action: after,
            move_folder: None,
            oversize_folder: oversize,
            oauth2: Default::default(),
            now: store::now_ms(),
        },
    )
    .await
    .expect("add mailbox");
}

async fn setup(b: Backend) -> Option<(Dovecot, TestDb)> {
    let d = Dovecot::start(&["support"]).await?;
    let t = TestDb::new(b).await?;
    t.add_queue("help", HELP, None).await;
    Some((d, t))
}

/// Another client expunges `uid` (the race between listing and fetching).
async fn expunge(port: u16, uid: u32) {
    use futures::TryStreamExt;
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut client = async_imap::Client::new(tcp);
    client.read_response().await.expect("greeting");
    let mut s = client
        .login("support", PASSWORD)
        .await
        .map_err(|(e, _)| e)
        .expect("login");
    s.select("INBOX").await.expect("select");
    let _: Vec<_> = s
        .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
        .await
        .expect("store")
        .try_collect()
        .await
        .expect("collect");
    let _: Vec<_> = s
        .uid_expunge(uid.to_string())
        .await
        .expect("expunge")
        .try_collect()
        .await
        .expect("collect");
    s.logout().await.expect("logout");
}

async fn missing_body(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    d.load("support", "INBOX", &generate::messages(5, HELP, 31));
    add(&t, &d, "support", "delete", None).await;
    let once = Arc::new(AtomicBool::new(false));
    let port = d.port;
    let hook_once = once.clone();
    let poller = Poller::new(t.ingestor(), "support", "test").on_listed(Arc::new(move |uids| {
        let first = !hook_once.swap(true, Ordering::SeqCst);
        Box::pin(async move {
            if first {
                assert!(uids.contains(&3), "{uids:?}");
                expunge(port, 3).await;
            }
        })
    }));
    let r = poller.poll_once().await;
    assert_eq!(r.error, None);
    assert_eq!((r.fetched, r.tally.quarantined), (4, 0), "{r:?}");
    assert_eq!(t.count("messages").await, 4);
    let tries = || t.scalar_i64("SELECT COALESCE(MAX(tries), 0) FROM imap_missing");
    assert_eq!(tries().await, 1, "UID 3 is remembered for a retry");
    assert_eq!(t.count("quarantine").await, 0);
    // Two more passes: still no body, then quarantined with the reason.
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!((r.error.clone(), r.tally.quarantined), (None, 0));
    assert_eq!(tries().await, 2);
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!((r.error.clone(), r.tally.quarantined), (None, 1), "{r:?}");
    assert_eq!(t.count("imap_missing").await, 0);
    let reason: String = sqlx::query_scalar("SELECT reason FROM quarantine")
        .fetch_one(&t.db.pool)
        .await
        .expect("reason");
    assert!(reason.contains("no body for UID 3"), "{reason}");
    assert_eq!(t.count("messages").await, 4, "the other four, once each");
    t.close().await;
}
both!(
    a_uid_without_a_body_is_retried_then_quarantined,
    missing_body
);

async fn oversize(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    let mut msgs = generate::messages(3, HELP, 32);
    let mut huge = b"From: big@example.net\r\nTo: help@example.com\r\nSubject: huge\r\nMessage-ID: <huge@x>\r\n\r\n".to_vec();
    huge.extend(std::iter::repeat_n(b'z', 200_000));
    msgs.push(huge);
    d.load("support", "INBOX", &msgs);
    add(&t, &d, "support", "delete", None).await;
    let cfg = Config {
        max_message_bytes: 100_000,
        ..t.config()
    };
    let ing = Ingestor::new(t.db.clone(), Arc::new(cfg));
    let r = Poller::new(ing.clone(), "support", "test")
        .poll_once()
        .await;
    assert_eq!(r.error, None);
    assert_eq!((r.fetched, r.tally.quarantined), (4, 1), "{r:?}");
    let left = d.flags("support", "INBOX").await;
    assert_eq!(
        left.len(),
        1,
        "the over-size message is still on the server"
    );
    assert!(
        !left[0]
            .iter()
            .any(|f| f.contains("Seen") || f.contains("Deleted")),
        "untouched: {left:?}"
    );
    let reason: String = sqlx::query_scalar("SELECT reason FROM quarantine")
        .fetch_one(&t.db.pool)
        .await
        .expect("reason");
    assert!(reason.contains("left unread on the server"), "{reason}");
    // Not quarantined again on the next pass.
    let r = Poller::new(ing.clone(), "support", "test")
        .poll_once()
        .await;
    assert_eq!((r.error, r.fetched), (None, 0));
    assert_eq!(t.count("quarantine").await, 1);

    // With an oversize folder it is moved there (never deleted).
    d.load("support", "Oversize", &[]);
    let mut second = b"From: big2@example.net\r\nTo: help@example.com\r\nSubject: huge 2\r\nMessage-ID: <huge2@x>\r\n\r\n".to_vec();
    second.extend(std::iter::repeat_n(b'y', 200_000));
    d.load("support", "INBOX", &[second]);
    let mut c = t.db.pool.acquire().await.expect("conn");
    sqlx::query("UPDATE mailboxes SET oversize_folder = 'Oversize'")
        .execute(&mut *c)
        .await
        .expect("set folder");
    drop(c);
    let r = Poller::new(ing, "support", "test").poll_once().await;
    assert_eq!((r.error, r.tally.quarantined), (None, 1));
    assert_eq!(d.flags("support", "Oversize").await.len(), 1, "moved aside");
    assert_eq!(
        d.flags("support", "INBOX").await.len(),
        1,
        "only the first is left"
    );
    t.close().await;
}
both!(
    an_oversize_message_stays_on_the_server_under_delete,
    oversize
);

async fn mailgate_then_imap(b: Backend) {
    let Some((d, t)) = setup(b).await else { return };
    // What an MTA pipes to mailgate: LF line endings. Over IMAP the same
    // message arrives with CRLF.
    let lf = b"From: Dana <dana@example.net>\nTo: help@example.com\nSubject: both ways\nMessage-ID: <both@example.net>\nDate: Tue, 24 Nov 2026 08:00:00 +0000\n\nThe printer\nis on fire.  \n".to_vec();
    let o = crate::support::ingest(&t.ingestor(), &lf, None).await;
    assert_eq!(o.ticket, Some(1));
    d.load("support", "INBOX", &[lf]);
    add(&t, &d, "support", "seen", None).await;
    let r = Poller::new(t.ingestor(), "support", "test")
        .poll_once()
        .await;
    assert_eq!(
        (r.error, r.tally.duplicate),
        (None, 1),
        "recognised as the same mail"
    );
    assert_eq!(t.count("messages").await, 1);
    assert_eq!(t.count("tickets").await, 1);
    t.close().await;
}
both!(
    the_same_mail_by_mailgate_and_imap_is_stored_once,
    mailgate_then_imap
);

struct Serve(std::process::Child, tempfile::NamedTempFile);

impl Serve {
    fn start(url: &str, cfg: &std::path::Path) -> Serve {
        let log = tempfile::NamedTempFile::new().expect("log");
        let child = std::process::Command::new(docket_bin())
            .args([
                "--config",
                cfg.to_str().expect("cfg"),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .env("DOCKET_DATABASE_URL", url)
            .env("DOCKET_LOG", "docket=info")
            .stdout(std::process::Stdio::null())
            .stderr(log.reopen().expect("log"))
            .spawn()
            .expect("serve");
        Serve(child, log)
    }
    fn log(&self) -> String {
        std::fs::read_to_string(self.1.path()).unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn lease_owner(t: &TestDb) -> Option<String> {
    sqlx::query_scalar("SELECT lease_owner FROM mailboxes")
        .fetch_one(&t.db.pool)
        .await
        .expect("owner")
}

async fn wait_until(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Two `serve` processes on one PostgreSQL: the lease (2 s here) is renewed
/// while the first idles far longer, so the second never logs in; when the
/// first dies the second takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_never_polls_a_mailbox_the_first_holds() {
    let Some((d, t)) = setup(Backend::Postgres).await else {
        return;
    };
    add(&t, &d, "support", "seen", None).await;
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("docket.toml");
    std::fs::write(&cfg, "imap_lease_secs = 2\n").expect("cfg");
    let logins = || {
        std::fs::read_to_string(d.dir.path().join("dovecot.log"))
            .unwrap_or_default()
            .matches("Login: user=<support>")
            .count()
    };
    let first = Serve::start(&t.url, &cfg);
    let first_pid = first.0.id().to_string();
    wait_until("the first serve to hold the lease", 30, async || {
        lease_owner(&t)
            .await
            .is_some_and(|o| o.contains(&first_pid))
            && logins() == 1
    })
    .await;
    let second = Serve::start(&t.url, &cfg);
    // Four lease lengths while the first sits in IDLE (re-issued only every 4 min).
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        lease_owner(&t)
            .await
            .is_some_and(|o| o.contains(&first_pid))
    );
    assert_eq!(logins(), 1, "the second serve logged in:\n{}", second.log());
    assert!(!second.log().contains("connected"), "{}", second.log());
    // The first still answers: IDLE brings new mail in.
    d.load("support", "INBOX", &generate::messages(1, HELP, 33));
    wait_until("the first serve to take the mail", 20, async || {
        t.count("tickets").await == 1
    })
    .await;

    // The first dies without releasing: the second takes over once the lease lapses.
    drop(first);
    let second_pid = second.0.id().to_string();
    wait_until("the second serve to take over", 30, async || {
        lease_owner(&t)
            .await
            .is_some_and(|o| o.contains(&second_pid))
    })
    .await;
    d.load(
        "support",
        "INBOX",
        &generate::messages(1, "help@example.com", 34),
    );
    wait_until("the second serve to take the mail", 20, async || {
        t.count("tickets").await == 2
    })
    .await;
    drop(second);
    t.close().await;
}
