//! Robots and loops get no acknowledgement; the rate limit caps the rest.

use crate::both;
use crate::support::{Backend, TestDb, ingest, mail};
use docket::service::ingest::OutcomeKind;

const HELP: &str = "help@example.com";

async fn no_ack_for_robots(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    let ing = t.ingestor();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "out-of-office",
            mail(
                "Boss <boss@example.net>",
                HELP,
                "Out of Office: back Monday",
                "ooo@x",
                "Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
                "away",
            ),
        ),
        (
            "precedence",
            mail(
                "news@example.net",
                HELP,
                "Newsletter",
                "bulk@x",
                "Precedence: bulk\r\n",
                "buy",
            ),
        ),
        (
            "mailing list",
            mail(
                "dev@example.net",
                HELP,
                "[dev] release",
                "list@x",
                "List-Id: <dev.lists.example.net>\r\nPrecedence: list\r\n",
                "hi",
            ),
        ),
        (
            "our own loop",
            mail(
                "someone@example.net",
                HELP,
                "ping",
                "loop@x",
                "X-Loop: docket.test\r\n",
                "loop",
            ),
        ),
        ("dsn bounce", dsn()),
    ];
    for (what, raw) in &cases {
        let o = ingest(&ing, raw, Some("help")).await;
        // The DSN quotes ticket #1's tag in its returned headers, so it
        // attaches there (a reply gets no acknowledgement either).
        assert!(
            matches!(
                o.outcome,
                OutcomeKind::Created | OutcomeKind::Ignored | OutcomeKind::Replied
            ),
            "{what}: {o:?}"
        );
        assert!(
            o.reason.contains("no acknowledgement")
                || o.outcome == OutcomeKind::Ignored
                || (o.outcome == OutcomeKind::Replied && o.reason.contains("(bounce)")),
            "{what}: {}",
            o.reason
        );
    }
    assert_eq!(
        t.count("outbox").await,
        0,
        "no acknowledgement for any robot"
    );
    // and a human still gets one
    ingest(
        &ing,
        &mail(
            "Person <p@example.net>",
            HELP,
            "help",
            "human@x",
            "",
            "please",
        ),
        None,
    )
    .await;
    assert_eq!(t.count("outbox").await, 1);
    t.close().await;
}
both!(
    robots_bounces_lists_and_loops_get_no_acknowledgement,
    no_ack_for_robots
);

fn dsn() -> Vec<u8> {
    b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: help@example.com\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.net>\r\nAuto-Submitted: auto-replied\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nI could not deliver your message.\r\n\
--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: help@example.com\r\nTo: gone@example.org\r\n\
Message-ID: <ACKID>\r\nSubject: [Docket #1] x\r\n\r\n--b1--\r\n"
        .to_vec()
}

async fn bounce_threads_and_marks(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    let ing = t.ingestor();
    let o = ingest(
        &ing,
        &mail(
            "Gone <gone@example.org>",
            HELP,
            "Need help",
            "need@x",
            "",
            "x",
        ),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");
    let ack: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&t.db.pool)
        .await
        .expect("ack");
    let raw = String::from_utf8(dsn())
        .expect("utf8")
        .replace("ACKID", &ack)
        .replace("[Docket #1] x", "unrelated");
    let o = ingest(&ing, raw.as_bytes(), None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "bounce attaches to the ticket: {o:?}"
    );
    let tk = t.show(id).await;
    let last = tk.transactions.last().expect("tx");
    assert!(last.auto_submitted);
    assert_eq!(last.classification.as_deref(), Some("bounce"));
    assert_eq!(last.thread_rule.as_deref(), Some("embedded-message-id"));
    let bouncing: i64 = t
        .scalar_i64("SELECT CAST(bouncing AS BIGINT) FROM users WHERE email = 'gone@example.org'")
        .await;
    assert_eq!(bouncing, 1, "the failed address is marked as bouncing");
    // A new mail from a bouncing address gets no acknowledgement.
    let o = ingest(
        &ing,
        &mail("gone@example.org", HELP, "another", "need2@x", "", "x"),
        None,
    )
    .await;
    assert!(o.reason.contains("bouncing"), "{}", o.reason);
    t.close().await;
}
both!(
    bounce_attaches_to_ticket_and_marks_address,
    bounce_threads_and_marks
);

async fn ack_rate_limit(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    let ing = t.ingestor();
    for i in 0..8 {
        ingest(
            &ing,
            &mail(
                "chatty@example.net",
                HELP,
                &format!("issue {i}"),
                &format!("rl{i}@x"),
                "",
                "x",
            ),
            None,
        )
        .await;
    }
    assert_eq!(t.count("tickets").await, 8);
    assert_eq!(
        t.count("outbox").await,
        5,
        "default limit: 5 acknowledgements per sender per hour"
    );
    t.close().await;
}
both!(acknowledgements_are_rate_limited_per_sender, ack_rate_limit);

/// ARF complaints and a person forwarding a bounce get no acknowledgement;
/// a person's subject that merely mentions auto-replies does.
async fn reports_forwards_and_subject_words(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    let ing = t.ingestor();
    let arf = b"From: abuse@provider.example\r\nTo: help@example.com\r\nSubject: complaint about message from 192.0.2.1\r\n\
Message-ID: <arf1@provider.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\r\n\r\n\
--A\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\
--A\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: x/1.0\r\nVersion: 1\r\n\r\n--A--\r\n"
        .to_vec();
    let mut forwarded = mail(
        "Nyanko <shironeko@example.jp>",
        HELP,
        "Fwd: Returned mail: see transcript for details",
        "fwd-bounce@example.jp",
        "",
        "Forward the message.\r\n\r\n> From: Mail Delivery Subsystem <MAILER-DAEMON>\r\n> Final-Recipient: RFC822; kijitora@example.com\r\n",
    );
    forwarded.extend_from_slice(b"");
    let person = mail(
        "Sam <sam@example.net>",
        HELP,
        "Re: the auto-reply is broken",
        "person@x",
        "",
        "Our out of office replies stopped.",
    );
    for (what, raw, acked) in [
        ("ARF report", arf, false),
        ("forwarded bounce", forwarded, false),
        ("a person writing about auto-replies", person, true),
    ] {
        let o = ingest(&ing, &raw, None).await;
        assert_eq!(o.outcome, OutcomeKind::Created, "{what}: {}", o.reason);
        assert_eq!(
            o.reason.contains("acknowledgement queued"),
            acked,
            "{what}: {}",
            o.reason
        );
    }
    t.close().await;
}
both!(
    arf_reports_and_forwarded_bounces_get_no_acknowledgement,
    reports_forwards_and_subject_words
);

/// A bounce whose returned headers carry no Message-ID still attaches to
/// the ticket: by the In-Reply-To of our returned mail, or by its tag.
async fn bounce_without_message_id(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    let ing = t.ingestor();
    ingest(
        &ing,
        &mail(
            "Rita <rita@example.net>",
            HELP,
            "VPN down",
            "rita1@example.net",
            "",
            "help",
        ),
        None,
    )
    .await;
    ingest(
        &ing,
        &mail(
            "Ugo <ugo@example.net>",
            HELP,
            "Printer",
            "ugo1@example.net",
            "",
            "help",
        ),
        None,
    )
    .await;
    let bounce = |returned: &str, id: &str| {
        format!(
            "From: MAILER-DAEMON@mx.example.net\r\nTo: help@example.com\r\nSubject: Undelivered Mail Returned to Sender\r\n\
Message-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; x@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: help@example.com\r\n{returned}\r\n--B--\r\n"
        )
        .into_bytes()
    };
    let by_reply = ingest(
        &ing,
        &bounce(
            "In-Reply-To: <rita1@example.net>\r\nSubject: Re: VPN down\r\n",
            "b1@x",
        ),
        None,
    )
    .await;
    assert_eq!(by_reply.ticket, Some(1), "{}", by_reply.reason);
    let by_tag = ingest(
        &ing,
        &bounce("Subject: [Docket #2] Printer\r\n", "b2@x"),
        None,
    )
    .await;
    assert_eq!(by_tag.ticket, Some(2), "{}", by_tag.reason);
    assert_eq!(
        t.count("tickets").await,
        2,
        "no new ticket for either bounce"
    );
    t.close().await;
}
both!(
    a_bounce_without_our_message_id_attaches_by_in_reply_to_or_tag,
    bounce_without_message_id
);
