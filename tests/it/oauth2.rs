//! OAuth2 for the mail accounts, against a real Dovecot whose `oauth2`
//! passdb checks every token at the test's introspection endpoint, and an
//! SMTP peer that does the same: the poller signs in with XOAUTH2, a token
//! that expires (early or on time) is refreshed without losing mail, a
//! revoked refresh token shows `auth-failed` with the endpoint's reason,
//! and outgoing mail signs in with XOAUTH2, waiting (never bouncing, nor
//! counting an attempt) while it cannot. The SMTP peer refuses a token as
//! Gmail does: a 334 JSON challenge first.

use std::path::Path;
use std::sync::Arc;

use docket::config::SmtpOAuth2;
use docket::mail::outbound::worker::Sender;
use docket::service::poll::Poller;
use docket::store;
use serde_json::Value;

use crate::both;
use crate::support::oauth::{CLIENT_ID, CLIENT_SECRET, OAuthServer};
use crate::support::peers::{Dovecot, SmtpSink};
use crate::support::{Backend, TestDb, docket, docket_bin, mail, ok};

both!(mail_accounts_sign_in_with_oauth2, oauth2_mail);

fn request(n: u32) -> Vec<u8> {
    mail(
        &format!("Requestor {n} <req{n}@example.com>"),
        "help@example.com",
        &format!("Printer {n} is jammed"),
        &format!("oauth-{n}@example.com"),
        "",
        "It stopped mid-page.",
    )
}

fn status(t: &TestDb, name: &str) -> Value {
    let out = ok(docket(&t.url, &["mailbox", "status", "--json"], b""));
    let all: Value = serde_json::from_str(&out).expect("json");
    all.as_array()
        .expect("list")
        .iter()
        .find(|m| m["name"] == name)
        .cloned()
        .expect("mailbox listed")
}

/// `docket mailbox add USER` for the Dovecot account USER into queue help,
/// signing in with OAuth2 at the test's endpoint; `more` says where the
/// secrets come from.
fn add_mailbox(t: &TestDb, (user, dovecot, oauth): (&str, &Dovecot, &OAuthServer), more: &[&str]) {
    let url = format!("imap://{user}@127.0.0.1:{}/INBOX", dovecot.port);
    let token_url = oauth.token_url();
    let mut args = vec![
        "mailbox",
        "add",
        user,
        "--url",
        &url,
        "--tls",
        "none",
        "--queue",
        "help",
        "--oauth2-token-url",
        &token_url,
        "--oauth2-client-id",
        CLIENT_ID,
    ];
    args.extend_from_slice(more);
    ok(docket(&t.url, &args, b""));
}

async fn tickets(t: &TestDb) -> i64 {
    t.scalar_i64("SELECT COUNT(*) FROM tickets").await
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write secret");
}

async fn oauth2_mail(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let oauth = OAuthServer::start().await;
    let Some(dovecot) = Dovecot::start_oauth2(&["help", "ops"], &oauth.introspection_url()).await
    else {
        return;
    };
    let Some(mut sink) = SmtpSink::start_oauth2(&dovecot, &oauth.introspection_url()).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let secrets = tempfile::tempdir().expect("tempdir");
    let (client_secret, refresh) = (
        secrets.path().join("client-secret"),
        secrets.path().join("refresh-token"),
    );
    write(&client_secret, CLIENT_SECRET);
    write(&refresh, "rt-help-1\n");
    oauth.grant("rt-help-1", "help");
    let (secret_file, refresh_file) = (
        client_secret.display().to_string(),
        refresh.display().to_string(),
    );
    add_mailbox(
        &t,
        ("help", &dovecot, &oauth),
        &[
            "--oauth2-client-secret-file",
            &secret_file,
            "--oauth2-refresh-token-file",
            &refresh_file,
        ],
    );
    let listed = status(&t, "help");
    assert_eq!(listed["password_source"], "oauth2");
    assert_eq!(listed["oauth2_token_url"], oauth.token_url());
    let poll = || async { Poller::new(t.ingestor(), "help", "test").poll_once().await };

    // Signs in with XOAUTH2; the token is held for the next pass, and
    // renewed before it runs out (no refusal needed).
    oauth.set_lifetime(4);
    dovecot.load("help", "INBOX", &[request(1)]);
    let r = poll().await;
    assert_eq!((r.error.as_deref(), r.fetched), (None, 1), "{r:?}");
    let r = poll().await;
    assert_eq!(r.error, None);
    assert_eq!(oauth.issued(), 1, "one token for both passes");
    oauth.set_lifetime(3600);
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    dovecot.load("help", "INBOX", &[request(2)]);
    let r = poll().await;
    assert_eq!((r.error.as_deref(), r.fetched), (None, 1), "{r:?}");
    assert_eq!(oauth.issued(), 2, "renewed on time");

    // The provider ends the token early: refused, refreshed, nothing lost.
    oauth.expire_access();
    dovecot.load("help", "INBOX", &[request(3), request(4)]);
    let r = poll().await;
    assert_eq!((r.error.as_deref(), r.fetched), (None, 2), "{r:?}");
    assert_eq!(oauth.issued(), 3);
    assert_eq!(tickets(&t).await, 4);

    // The refresh token is revoked: auth-failed, with the endpoint's words.
    oauth.revoke("rt-help-1");
    oauth.expire_access();
    dovecot.load("help", "INBOX", &[request(5)]);
    let r = poll().await;
    assert!(r.error.is_some(), "{r:?}");
    let m = status(&t, "help");
    assert_eq!(m["state"], "auth-failed", "{m}");
    let why = m["last_error"].as_str().unwrap_or("");
    assert!(
        why.contains("invalid_grant") && why.contains("The refresh token was revoked."),
        "{why}"
    );
    assert_eq!(dovecot.fetch_all("help").await.len(), 5, "the mail waits");
    // A new consent (a new refresh token in the file) and the mail comes in.
    oauth.grant("rt-help-2", "help");
    write(&refresh, "rt-help-2\n");
    let r = poll().await;
    assert_eq!((r.error.as_deref(), r.fetched), (None, 1), "{r:?}");
    assert_eq!(status(&t, "help")["state"], "ok");
    assert_eq!(tickets(&t).await, 5);

    env_configured_mailbox(&t, &dovecot, &oauth);
    smtp(&t, &dovecot, &mut sink, &oauth, secrets.path()).await;
    t.close().await;
}

/// The contract's form: client secret and refresh token from variables, in
/// a separate `docket poll` process, signing in with OAUTHBEARER.
fn env_configured_mailbox(t: &TestDb, dovecot: &Dovecot, oauth: &OAuthServer) {
    oauth.grant("rt-ops", "ops");
    add_mailbox(
        t,
        ("ops", dovecot, oauth),
        &[
            "--oauth2-client-secret-env",
            "OPS_CLIENT_SECRET",
            "--oauth2-refresh-token-env",
            "OPS_REFRESH_TOKEN",
            "--oauth2-mechanism",
            "oauthbearer",
        ],
    );
    dovecot.load("ops", "INBOX", &[request(6)]);
    let out = std::process::Command::new(docket_bin())
        .args(["poll", "--once", "--mailbox", "ops", "--json"])
        .env("DOCKET_DATABASE_URL", &t.url)
        // The most verbose logging there is: still no secret in it.
        .env("DOCKET_LOG", "trace,async_imap::imap_stream=trace")
        .env("OPS_CLIENT_SECRET", CLIENT_SECRET)
        .env("OPS_REFRESH_TOKEN", "rt-ops")
        .output()
        .expect("poll");
    let text = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text} {log}");
    let token = oauth.last_token().expect("a token was issued");
    let sasl = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        docket::mail::oauth2::oauthbearer("ops", &token),
    );
    assert!(log.contains("TRACE"), "trace logging was on");
    for secret in [CLIENT_SECRET, "rt-ops", token.as_str(), sasl.as_str()] {
        assert!(!log.contains(secret), "a secret in the log: {secret}");
    }
    let reports: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(reports[0]["fetched"], 1, "{reports}");
    assert_eq!(status(t, "ops")["oauth2_mechanism"], "oauthbearer");
}

/// Outgoing mail: the acknowledgements go out through an SMTP peer that
/// takes XOAUTH2 only; a refused token is replaced; a revoked grant makes
/// the mail wait.
async fn smtp(t: &TestDb, dovecot: &Dovecot, sink: &mut SmtpSink, oauth: &OAuthServer, dir: &Path) {
    let refresh = dir.join("smtp-refresh-token");
    write(&refresh, "rt-smtp");
    oauth.grant("rt-smtp", "help");
    let mut cfg = t.config();
    cfg.smtp_url = Some(format!("smtp://help@127.0.0.1:{}", sink.port));
    cfg.smtp_oauth2 = Some(SmtpOAuth2 {
        token_url: oauth.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret_file: Some(dir.join("client-secret").display().to_string()),
        refresh_token_file: Some(refresh.display().to_string()),
        ..Default::default()
    });
    let sender = Sender::new(t.db.clone(), Arc::new(cfg)).expect("sender");
    let before = oauth.issued();
    let now = store::now_ms();
    let r = sender.send_due(now).await.expect("send");
    assert_eq!((r.sent, r.retry, r.dead), (6, 0, 0), "{r:?}");
    assert_eq!(oauth.issued(), before + 1);
    assert_eq!(
        dovecot.delivered("req1").len(),
        1,
        "the acknowledgement arrived"
    );

    // A token the server refuses (on a new connection: the pooled one
    // signed in already): tried once more with a fresh token, which sends
    // it; the refused try is not counted against the mail.
    oauth.expire_access();
    sink.stop();
    sink.spawn().await;
    crate::support::ingest(&t.ingestor(), &request(7), None).await;
    let now = store::now_ms();
    let r = sender.send_due(now).await.expect("send");
    assert_eq!(
        (r.sent, r.retry, r.dead),
        (1, 1, 0),
        "refused, then sent with a fresh token: {r:?}"
    );
    let tries = "SELECT attempts FROM outbox WHERE to_addrs = 'req7@example.com'";
    assert_eq!(
        t.scalar_i64(tries).await,
        1,
        "only the try that sent counts"
    );
    assert_eq!(dovecot.delivered("req7").len(), 1);

    // The fresh token is refused too (it names someone else): the mail
    // waits, uncounted, and sending pauses rather than sign in again.
    oauth.grant("rt-stranger", "stranger");
    write(&refresh, "rt-stranger");
    oauth.expire_access();
    sink.stop();
    sink.spawn().await;
    crate::support::ingest(&t.ingestor(), &request(8), None).await;
    crate::support::ingest(&t.ingestor(), &request(9), None).await;
    let now = store::now_ms();
    let r = sender.send_due(now).await.expect("send");
    assert_eq!(
        (r.sent, r.dead),
        (0, 0),
        "a refused sign-in is not a bounce: {r:?}"
    );
    assert!(r.retry >= 2, "{r:?}");
    let counted = t
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE attempts <> 0 AND to_addrs IN ('req8@example.com', 'req9@example.com')")
        .await;
    assert_eq!(counted, 0, "nor an attempt of the mail's");
    let r = sender.send_due(now + 60_000).await.expect("send");
    assert_eq!((r.sent, r.retry), (0, 0), "a pause before signing in again");
    assert!(
        r.auth_failed
            .as_deref()
            .is_some_and(|w| w.contains("refused our sign-in")),
        "{r:?}"
    );

    // The grant revoked: nothing is tried, the endpoint's words are kept.
    oauth.revoke("rt-stranger");
    let r = sender.send_due(now + 7_200_000).await.expect("send");
    assert_eq!((r.sent, r.retry, r.dead), (0, 0, 0), "{r:?}");
    assert!(
        r.auth_failed
            .as_deref()
            .is_some_and(|w| w.contains("invalid_grant")),
        "{r:?}"
    );
    let waiting = t
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        .await;
    assert_eq!(waiting, 2, "the acknowledgements wait");

    // A server that offers no way to sign in with a token (no AUTH at all)
    // is our configuration's mistake too: the mail waits, uncounted.
    let Some(plain) = SmtpSink::start(dovecot).await else {
        return;
    };
    oauth.grant("rt-smtp-2", "help");
    write(&refresh, "rt-smtp-2");
    let mut cfg = t.config();
    cfg.smtp_url = Some(format!("smtp://help@127.0.0.1:{}", plain.port));
    cfg.smtp_oauth2 = Some(SmtpOAuth2 {
        token_url: oauth.token_url(),
        client_id: CLIENT_ID.into(),
        client_secret_file: Some(dir.join("client-secret").display().to_string()),
        refresh_token_file: Some(refresh.display().to_string()),
        ..Default::default()
    });
    let other = Sender::new(t.db.clone(), Arc::new(cfg)).expect("sender");
    let r = other.send_due(now + 7_200_000).await.expect("send");
    assert_eq!((r.sent, r.dead), (0, 0), "not a bounce: {r:?}");
    assert!(r.retry >= 2, "{r:?}");
    let counted = t
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts <> 0")
        .await;
    assert_eq!(counted, 0, "nor an attempt of the mails'");
}
