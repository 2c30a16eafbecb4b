//! Outbound mail end to end with real peers: Docket's sender talks SMTP to
//! aiosmtpd, which delivers into Maildirs that Dovecot serves over IMAP.

use std::collections::HashSet;
use std::sync::Arc;

use docket::mail::inbound::parse::parse;
use docket::mail::outbound::worker::Sender;
use docket::service::ingest::{Ingestor, OutcomeKind};
use docket::store;

use crate::both;
use crate::support::peers::{Dovecot, SmtpSink};
use crate::support::{Backend, TestDb, ingest, mail};

async fn peers(users: &[&str]) -> Option<(Dovecot, SmtpSink)> {
    let dovecot = Dovecot::start(users).await?;
    let smtp = SmtpSink::start(&dovecot).await?;
    Some((dovecot, smtp))
}

fn sender(t: &TestDb, smtp_url: &str) -> Sender {
    let mut cfg = t.config();
    cfg.smtp_url = Some(smtp_url.to_string());
    Sender::new(t.db.clone(), Arc::new(cfg)).expect("sender")
}

fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

/// Sends `raw` through the SMTP peer, as a mail client would.
async fn smtp_send(smtp: &SmtpSink, from: &str, to: &str, raw: &[u8]) {
    use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor, address::Envelope};
    let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp.port)
        .build();
    let env = Envelope::new(
        Some(from.parse().expect("from")),
        vec![to.parse().expect("to")],
    )
    .expect("envelope");
    t.send_raw(&env, raw).await.expect("smtp send");
}

async fn ack_over_imap_then_reply(b: Backend) {
    let Some((dovecot, smtp)) = peers(&["sam", "help"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ing = t.ingestor();
    let o = ingest(
        &ing,
        &mail(
            "Sam Sample <sam@example.com>",
            "help@example.com",
            "Printer on fire",
            "p1@example.com",
            "",
            "It burns.",
        ),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");

    let report = sender(&t, &smtp.url())
        .send_due(store::now_ms())
        .await
        .expect("send");
    assert_eq!(
        (report.sent, report.retry, report.dead),
        (1, 0, 0),
        "{report:?}"
    );

    let inbox = dovecot.fetch_all("sam").await;
    assert_eq!(
        inbox.len(),
        1,
        "one acknowledgement in the requestor's mailbox"
    );
    let raw = String::from_utf8_lossy(&inbox[0]).into_owned();
    let ack = parse(&inbox[0]).expect("parse ack");
    assert!(
        ack.subject.contains(&format!("[Docket #{id}]")),
        "{}",
        ack.subject
    );
    assert!(ack.body.contains(&format!("#{id}")), "{}", ack.body);
    assert_eq!(header(&raw, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(&raw, "X-Loop"), Some("docket.test"));
    assert_eq!(ack.in_reply_to, vec!["p1@example.com"]);
    let row_id: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&t.db.pool)
        .await
        .expect("row");
    assert_eq!(
        ack.message_id, row_id,
        "the Message-ID on the wire is the one stored"
    );
    let status: String = sqlx::query_scalar("SELECT status FROM outbox WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&t.db.pool)
        .await
        .expect("status");
    assert_eq!(status, "sent");

    // Sam answers the acknowledgement; the reply travels through SMTP into
    // the queue's mailbox, and from there into Docket.
    let reply = format!(
        "From: Sam Sample <sam@example.com>\r\nTo: help@example.com\r\nSubject: Re: {}\r\nMessage-ID: <p2@example.com>\r\n\
In-Reply-To: <{}>\r\nReferences: <p1@example.com> <{}>\r\n\r\nIt is the one on floor 2.\r\n",
        ack.subject, ack.message_id, ack.message_id
    );
    smtp_send(
        &smtp,
        "sam@example.com",
        "help@example.com",
        reply.as_bytes(),
    )
    .await;
    let queue_mail = dovecot.fetch_all("help").await;
    assert_eq!(queue_mail.len(), 1);
    let o = ingest(&ing, &queue_mail[0], None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "{o:?}"
    );
    t.close().await;
}
both!(
    acknowledgement_arrives_over_imap_and_its_reply_threads,
    ack_over_imap_then_reply
);

async fn smtp_down_then_up(b: Backend) {
    let Some((dovecot, mut smtp)) = peers(&["u0", "u1", "u2", "u3", "u4"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ing = t.ingestor();
    for i in 0..5 {
        ingest(
            &ing,
            &mail(
                &format!("u{i}@example.com"),
                "help@example.com",
                "hi",
                &format!("d{i}@x"),
                "",
                "b",
            ),
            None,
        )
        .await;
    }
    let s = sender(&t, &smtp.url());
    smtp.stop();
    let now = store::now_ms();
    let r = s.send_due(now).await.expect("send");
    assert_eq!(
        (r.sent, r.retry, r.dead),
        (0, 5, 0),
        "server down: every row waits"
    );
    let waiting: i64 = t.scalar_i64(&format!("SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND attempts = 1 AND next_attempt_at > {now}")).await;
    assert_eq!(waiting, 5, "each row scheduled for a later attempt");
    let r = s.send_due(now + 1000).await.expect("send");
    assert_eq!(r.attempts.len(), 0, "not due again yet (backoff)");

    smtp.spawn().await;
    let r = s.send_due(now + 2 * 3_600_000).await.expect("send");
    assert_eq!(r.sent, 5);
    let r = s.send_due(now + 3 * 3_600_000).await.expect("send");
    assert_eq!(r.attempts.len(), 0, "nothing sent twice");
    for i in 0..5 {
        assert_eq!(
            dovecot.delivered(&format!("u{i}")).len(),
            1,
            "u{i} got exactly one mail"
        );
    }
    t.close().await;
}
both!(
    smtp_down_rows_wait_and_are_delivered_once,
    smtp_down_then_up
);

async fn permanent_failure(b: Backend) {
    let Some((_dovecot, smtp)) = peers(&["x"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ing = t.ingestor();
    ingest(
        &ing,
        &mail(
            "reject-me@example.com",
            "help@example.com",
            "hi",
            "r1@x",
            "",
            "b",
        ),
        None,
    )
    .await;
    let r = sender(&t, &smtp.url())
        .send_due(store::now_ms())
        .await
        .expect("send");
    assert_eq!((r.sent, r.retry, r.dead), (0, 0, 1), "{r:?}");
    let (status, err): (String, String) = sqlx::query_as("SELECT status, last_error FROM outbox")
        .fetch_one(&t.db.pool)
        .await
        .expect("row");
    assert_eq!(status, "dead");
    assert!(
        err.contains("550") && err.contains("User unknown"),
        "the server's own words: {err}"
    );
    // `docket outbox retry` puts it back.
    let mut c = t.db.pool.acquire().await.expect("conn");
    let id: i64 = sqlx::query_scalar("SELECT id FROM outbox")
        .fetch_one(&mut *c)
        .await
        .expect("id");
    assert!(
        store::outbox::requeue(&mut c, id, store::now_ms())
            .await
            .expect("requeue")
    );
    let status: String = sqlx::query_scalar("SELECT status FROM outbox")
        .fetch_one(&mut *c)
        .await
        .expect("status");
    assert_eq!(status, "pending");
    drop(c);
    t.close().await;
}
both!(
    a_550_parks_the_row_as_dead_with_the_servers_text,
    permanent_failure
);

async fn staff_reply_and_status_reach_requestor(b: Backend) {
    let Some((dovecot, smtp)) = peers(&["sam", "boss", "alice"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let cfg = t.config();
    let ing = t.ingestor();
    let o = ingest(
        &ing,
        &mail(
            "sam@example.com",
            "help@example.com",
            "VPN down",
            "v1@x",
            "Cc: boss@example.com\r\n",
            "b",
        ),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");
    docket::service::tickets::reply(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        "Restarting the concentrator.",
        store::now_ms(),
    )
    .await
    .expect("reply");
    docket::service::tickets::comment(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        "internal: vendor case 123",
        store::now_ms(),
    )
    .await
    .expect("comment");
    docket::service::tickets::change_status(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        docket::service::tickets::StatusChange {
            status: "resolved",
            reason: Some("concentrator replaced"),
            eta: None,
            criteria_met: false,
        },
        store::now_ms(),
    )
    .await
    .expect("status");
    sender(&t, &smtp.url())
        .send_due(store::now_ms())
        .await
        .expect("send");

    let sam: Vec<String> = dovecot
        .fetch_all("sam")
        .await
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    assert_eq!(sam.len(), 3, "ack, reply, resolved notice");
    let reply = sam
        .iter()
        .find(|m| m.contains("Restarting the concentrator"))
        .expect("the reply");
    assert_eq!(
        header(reply, "Auto-Submitted"),
        None,
        "a person's reply is not auto-submitted"
    );
    assert!(header(reply, "In-Reply-To").is_some() && header(reply, "References").is_some());
    assert!(
        sam.iter()
            .any(|m| m.contains("concentrator replaced") && m.contains("resolved"))
    );
    assert!(
        !sam.iter().any(|m| m.contains("vendor case 123")),
        "comments never go to requestors"
    );
    let boss = dovecot.delivered("boss");
    assert_eq!(
        boss.len(),
        2,
        "Cc gets the reply and the status change, not the ack"
    );
    assert!(
        dovecot.delivered("alice").is_empty(),
        "nobody gets their own words back"
    );
    t.close().await;
}
both!(
    staff_reply_and_resolution_reach_requestor_and_cc_but_comments_do_not,
    staff_reply_and_status_reach_requestor
);

/// Two Docket installations whose queue addresses write to each other, plus
/// a naive auto-responder that answers everything with a fresh subject and no
/// robot headers: the exchange must die out by itself.
async fn mail_loop_stops(b: Backend) {
    let Some((dovecot, smtp)) = peers(&["help-a", "help-b", "vacation"]).await else {
        return;
    };
    let Some(a) = TestDb::new(b).await else {
        return;
    };
    let Some(bdb) = TestDb::new(b).await else {
        return;
    };
    a.add_queue("a", "help-a@example.com", None).await;
    bdb.add_queue("b", "help-b@example.com", None).await;
    let mut cfg_a = a.config();
    cfg_a.instance_name = "docket-a.test".into();
    cfg_a.subject_tag = "DocketA".into();
    cfg_a.smtp_url = Some(smtp.url());
    let mut cfg_b = bdb.config();
    cfg_b.instance_name = "docket-b.test".into();
    cfg_b.subject_tag = "DocketB".into();
    cfg_b.smtp_url = Some(smtp.url());
    let ing_a = Ingestor::new(a.db.clone(), Arc::new(cfg_a.clone()));
    let ing_b = Ingestor::new(bdb.db.clone(), Arc::new(cfg_b.clone()));
    let send_a = Sender::new(a.db.clone(), Arc::new(cfg_a)).expect("sender");
    let send_b = Sender::new(bdb.db.clone(), Arc::new(cfg_b)).expect("sender");

    // The seeds: B's address writes to A, the vacation robot writes to A and to B.
    smtp_send(
        &smtp,
        "help-b@example.com",
        "help-a@example.com",
        &mail(
            "help-b@example.com",
            "help-a@example.com",
            "hello from b",
            "seed1@x",
            "",
            "hi",
        ),
    )
    .await;
    smtp_send(
        &smtp,
        "vacation@example.com",
        "help-a@example.com",
        &mail(
            "vacation@example.com",
            "help-a@example.com",
            "question",
            "seed2@x",
            "",
            "hi",
        ),
    )
    .await;
    smtp_send(
        &smtp,
        "vacation@example.com",
        "help-b@example.com",
        &mail(
            "vacation@example.com",
            "help-b@example.com",
            "question",
            "seed3@x",
            "",
            "hi",
        ),
    )
    .await;

    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut total = 3;
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(
            rounds <= 30,
            "the exchange did not stop after 30 rounds ({total} mails)"
        );
        let mut new = 0;
        for (user, ing) in [("help-a", &ing_a), ("help-b", &ing_b)] {
            for m in dovecot.delivered(user) {
                if seen.insert(m.clone()) {
                    ingest(ing, &m, None).await;
                }
            }
        }
        let now = store::now_ms();
        new += send_a.send_due(now).await.expect("send").sent;
        new += send_b.send_due(now).await.expect("send").sent;
        for m in dovecot.delivered("vacation") {
            if seen.insert(m.clone()) {
                let incoming = parse(&m).expect("parse");
                let to = incoming.from.expect("from").email;
                let answer = mail(
                    "vacation@example.com",
                    &to,
                    "I am away until Monday",
                    &format!("vac{total}@x"),
                    "",
                    "Away.",
                );
                smtp_send(&smtp, "vacation@example.com", &to, &answer).await;
                new += 1;
            }
        }
        total += new;
        if new == 0 {
            break;
        }
    }
    eprintln!("mail loop test: stopped after {rounds} rounds and {total} messages");
    assert!(total <= 30, "bounded: {total} messages");
    let acks_to_vacation = a
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE to_addrs = 'vacation@example.com'")
        .await;
    assert!(
        acks_to_vacation <= 5,
        "rate limit caps acknowledgements to the robot: {acks_to_vacation}"
    );
    a.close().await;
    bdb.close().await;
}
both!(
    mail_loops_between_dockets_and_an_auto_responder_stop,
    mail_loop_stops
);

#[tokio::test]
async fn outbox_send_once_cli() {
    let Some((dovecot, smtp)) = peers(&["sam"]).await else {
        return;
    };
    let Some(t) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    ingest(
        &t.ingestor(),
        &mail(
            "sam@example.com",
            "help@example.com",
            "hi",
            "cli1@x",
            "",
            "b",
        ),
        None,
    )
    .await;
    let run = |smtp_url: Option<String>| {
        let mut c = std::process::Command::new(crate::support::docket_bin());
        c.args(["outbox", "send", "--once", "--json"])
            .env("DOCKET_DATABASE_URL", &t.url)
            .env_remove("DOCKET_SMTP_URL");
        if let Some(u) = smtp_url {
            c.env("DOCKET_SMTP_URL", u);
        }
        c.output().expect("run")
    };
    // Nothing configured: a clear warning, rows wait, no error.
    let out = run(None);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no smtp_url configured"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["sent"], 0);
    assert!(dovecot.delivered("sam").is_empty());
    // Configured: the row goes out once.
    let out = run(Some(smtp.url()));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["sent"], 1, "{report}");
    assert_eq!(report["attempts"][0]["result"], "sent");
    let again: serde_json::Value =
        serde_json::from_slice(&run(Some(smtp.url())).stdout).expect("json");
    assert_eq!(again["sent"], 0);
    assert_eq!(dovecot.delivered("sam").len(), 1);
    t.close().await;
}

/// Several senders on one database (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
/// SQLite: the lease) never send a row twice.
async fn concurrent_senders(b: Backend) {
    let Some((dovecot, smtp)) = peers(&["many"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let ticket = {
        let mut c = t.db.pool.acquire().await.expect("conn");
        store::tickets::create(
            &mut c,
            store::tickets::NewTicket {
                queue_id: 1,
                subject: "s",
                now: 0,
            },
        )
        .await
        .expect("ticket")
    };
    for i in 0..60 {
        let mut c = t.db.pool.acquire().await.expect("conn");
        let to = vec!["many@example.com".to_string()];
        store::outbox::insert(
            &mut c,
            store::outbox::NewMail {
                ticket_id: Some(ticket),
                kind: "reply",
                from_addr: "help@example.com",
                from_name: "help",
                reply_to: None,
                to: &to,
                cc: &[],
                subject: "s",
                body: "b",
                html_body: None,
                auto_submitted: false,
                message_id: &format!("conc-{i}@docket.test"),
                in_reply_to: None,
                references: &[],
                now: 0,
            },
        )
        .await
        .expect("insert");
    }
    let (s1, s2, s3) = (
        sender(&t, &smtp.url()),
        sender(&t, &smtp.url()),
        sender(&t, &smtp.url()),
    );
    let now = store::now_ms();
    let (r1, r2, r3) = tokio::join!(s1.send_due(now), s2.send_due(now), s3.send_due(now));
    let sent = r1.expect("r1").sent + r2.expect("r2").sent + r3.expect("r3").sent;
    assert_eq!(sent, 60);
    assert_eq!(
        dovecot.delivered("many").len(),
        60,
        "each row delivered exactly once"
    );
    t.close().await;
}
both!(
    concurrent_senders_never_send_a_row_twice,
    concurrent_senders
);

/// `docket serve` runs the sender by itself: mail goes out without a cron.
async fn serve_sends(b: Backend) {
    let Some((dovecot, smtp)) = peers(&["sam"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let mut cfg = t.config();
    cfg.smtp_url = Some(smtp.url());
    let opts = docket::app::Options {
        outbox_interval: std::time::Duration::from_secs(1),
        ..Default::default()
    };
    let served = crate::support::Served::start(&t, cfg, opts, |a| a).await;
    ingest(
        &t.ingestor(),
        &mail(
            "sam@example.com",
            "help@example.com",
            "hello",
            "srv1@x",
            "",
            "b",
        ),
        None,
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while dovecot.delivered("sam").is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "serve never sent the acknowledgement"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    served.stop().await;
    let status: String = sqlx::query_scalar("SELECT status FROM outbox")
        .fetch_one(&t.db.pool)
        .await
        .expect("row");
    assert_eq!(status, "sent");
    assert_eq!(dovecot.delivered("sam").len(), 1);
    t.close().await;
}
both!(serve_runs_the_outbox_sender, serve_sends);

/// One refused recipient never costs the others their mail: a missing
/// mailbox (5.1.1) is recorded and marked as bouncing, a spam refusal
/// (5.7.1) only recorded, a temporary failure retried alone.
async fn refused_recipient_among_several(b: Backend) {
    let Some((dovecot, smtp)) = peers(&["sam", "boss"]).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let cfg = t.config();
    let o = ingest(
        &t.ingestor(),
        &mail(
            "sam@example.com",
            "help@example.com",
            "VPN down",
            "multi@x",
            "Cc: reject-me@example.com, policy-me@example.com, boss@example.com, tempfail-me@example.com\r\n",
            "b",
        ),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");
    // The acknowledgement goes to Sam alone; send it out of the way.
    sender(&t, &smtp.url())
        .send_due(store::now_ms())
        .await
        .expect("ack");
    docket::service::tickets::reply(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        "On it.",
        store::now_ms(),
    )
    .await
    .expect("reply");
    let r = sender(&t, &smtp.url())
        .send_due(store::now_ms())
        .await
        .expect("send");
    let a = r
        .attempts
        .iter()
        .find(|a| !a.refused.is_empty())
        .expect("the reply's attempt, with refusals");
    assert_eq!(a.result, "retry", "tempfail-me waits: {a:?}");
    assert_eq!(a.refused.len(), 2, "{a:?}");
    assert_eq!(dovecot.delivered("sam").len(), 2, "ack and reply");
    assert_eq!(dovecot.delivered("boss").len(), 1, "boss got the reply");
    let bouncing: Vec<String> =
        sqlx::query_scalar("SELECT email FROM users WHERE bouncing = 1 ORDER BY email")
            .fetch_all(&t.db.pool)
            .await
            .expect("bouncing");
    assert_eq!(
        bouncing,
        vec!["reject-me@example.com"],
        "only the missing mailbox"
    );
    let refused: String = sqlx::query_scalar("SELECT refused FROM outbox WHERE kind = 'reply'")
        .fetch_one(&t.db.pool)
        .await
        .expect("refused");
    assert!(
        refused.contains("reject-me@example.com") && refused.contains("5.7.1"),
        "{refused}"
    );
    // The retry goes to tempfail-me alone: nobody gets the reply twice.
    let later = store::now_ms() + 10 * 3_600_000;
    let r = sender(&t, &smtp.url())
        .send_due(later)
        .await
        .expect("retry");
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(dovecot.delivered("sam").len(), 2);
    assert_eq!(dovecot.delivered("boss").len(), 1);
    t.close().await;
}
both!(
    a_refused_rcpt_among_several_recipients_costs_the_others_nothing,
    refused_recipient_among_several
);
