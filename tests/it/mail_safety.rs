//! Nothing internal reaches a requestor, and nothing in a header is trusted
//! blindly: comment notices always answer to a comment address, outsiders on
//! the comment address are correspondents (flagged), owners are staff of the
//! queue, and a bounce marks only an address we really mailed.

use crate::both;
use crate::support::{Backend, TestDb, ingest, mail};
use docket::mail::inbound::OutcomeKind;
use docket::store::{self, users};

const HELP: &str = "help@example.com";

async fn setup(b: Backend) -> Option<TestDb> {
    let t = TestDb::new(b).await?;
    let q = t.add_queue("help", HELP, None).await;
    let mut c = t.db.pool.acquire().await.expect("conn");
    for who in ["alice@example.com", "bob@example.com"] {
        let id = users::upsert_staff(&mut c, who, "staff", None, store::now_ms())
            .await
            .expect("staff");
        users::add_to_queue(&mut c, q, id).await.expect("member");
    }
    drop(c);
    let first = mail(
        "Rita <rita@example.net>",
        HELP,
        "VPN down",
        "rita1@example.net",
        "",
        "VPN is down",
    );
    let o = ingest(&t.ingestor(), &first, None).await;
    assert_eq!(o.ticket, Some(1));
    Some(t)
}

/// Rows in the outbox addressed to `who` (To or Cc).
async fn mail_to(t: &TestDb, who: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE to_addrs LIKE $1 OR cc_addrs LIKE $1")
        .bind(format!("%{who}%"))
        .fetch_one(&t.db.pool)
        .await
        .expect("count")
}

async fn comment_round_trip(b: Backend) {
    let Some(t) = setup(b).await else { return };
    let cfg = t.config();
    docket::service::tickets::comment(
        &t.db,
        &cfg,
        1,
        "alice@example.com",
        "Rita is a reseller; check the contract.",
    )
    .await
    .expect("comment");
    let (notice_id, reply_to): (String, Option<String>) =
        sqlx::query_as("SELECT message_id, reply_to FROM outbox WHERE kind = 'notify' AND to_addrs = 'bob@example.com'")
            .fetch_one(&t.db.pool)
            .await
            .expect("bob is told");
    // The queue has no comment address: the notice answers to help+comment@.
    assert_eq!(reply_to.as_deref(), Some("help+comment@example.com"));
    assert_eq!(
        mail_to(&t, "rita@example.net").await,
        1,
        "only the acknowledgement"
    );
    // Bob answers the notice by mail, quoting the internal note.
    let answer = mail(
        "Bob <bob@example.com>",
        reply_to.as_deref().expect("reply-to"),
        "Re: [Docket #1] VPN down",
        "bob1@example.com",
        &format!("In-Reply-To: <{notice_id}>\r\n"),
        "> Rita is a reseller; check the contract.\r\nAgreed, she is.",
    );
    let o = ingest(&t.ingestor(), &answer, None).await;
    assert_eq!(o.outcome, OutcomeKind::Commented, "{}", o.reason);
    assert_eq!(
        mail_to(&t, "rita@example.net").await,
        1,
        "nothing internal reaches Rita"
    );
    t.close().await;
}
both!(
    a_comment_notice_answered_by_mail_stays_internal,
    comment_round_trip
);

async fn outsider_on_comment_address(b: Backend) {
    let Some(t) = setup(b).await else { return };
    let o = ingest(
        &t.ingestor(),
        &mail(
            "Rita <rita@example.net>",
            "help+comment@example.com",
            "Re: [Docket #1] VPN down",
            "rita2@example.net",
            "",
            "Any news?",
        ),
        None,
    )
    .await;
    assert_eq!(o.outcome, OutcomeKind::Replied, "{}", o.reason);
    let shown = t.show(1).await;
    let last = shown.transactions.last().expect("history");
    assert_eq!(last.kind, "correspond");
    assert_eq!(
        last.flag.as_deref(),
        Some("comment address used by a non-member")
    );
    assert_eq!(mail_to(&t, "rita@example.net").await, 1, "not relayed back");
    assert!(mail_to(&t, "bob@example.com").await >= 1, "staff are told");
    t.close().await;
}
both!(
    a_comment_address_used_by_an_outsider_is_flagged_correspondence,
    outsider_on_comment_address
);

async fn owner_is_staff_of_the_queue(b: Backend) {
    let Some(t) = setup(b).await else { return };
    let err =
        docket::service::tickets::assign(&t.db, 1, "alice@example.com", Some("rita@example.net"))
            .await
            .expect_err("a requestor cannot own a ticket");
    assert!(err.to_string().contains("cannot own"), "{err}");
    docket::service::tickets::assign(&t.db, 1, "alice@example.com", Some("bob@example.com"))
        .await
        .expect("a member can");
    assert_eq!(
        t.show(1).await.ticket.owner.as_deref(),
        Some("bob@example.com")
    );
    t.close().await;
}
both!(
    only_staff_of_the_queue_can_own_a_ticket,
    owner_is_staff_of_the_queue
);

fn dsn(failed: &str, quoted_id: &str, id: &str) -> Vec<u8> {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: help@example.com\r\n\
Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n\
Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: help@example.com\r\nTo: {failed}\r\n\
Message-ID: <{quoted_id}>\r\nSubject: [Docket #1] VPN down\r\n\r\n--B--\r\n"
    )
    .into_bytes()
}

async fn forged_dsn(b: Backend) {
    let Some(t) = setup(b).await else { return };
    let bouncing = |who: &'static str| {
        let pool = t.db.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM users WHERE email = $1 AND bouncing = 1",
            )
            .bind(who)
            .fetch_one(&pool)
            .await
            .expect("count")
        }
    };
    let ack: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE kind = 'ack'")
        .fetch_one(&t.db.pool)
        .await
        .expect("ack");
    // Forged: names the CEO, quotes our real acknowledgement (sent to Rita).
    ingest(
        &t.ingestor(),
        &dsn("ceo@example.com", &ack, "forged@x"),
        None,
    )
    .await;
    assert_eq!(
        bouncing("ceo@example.com").await,
        0,
        "we never mailed the CEO that"
    );
    // Forged: names Rita but quotes nothing we sent.
    ingest(
        &t.ingestor(),
        &dsn("rita@example.net", "made-up@x", "forged2@x"),
        None,
    )
    .await;
    assert_eq!(bouncing("rita@example.net").await, 0);
    // Genuine: Rita's address, our acknowledgement to her.
    ingest(
        &t.ingestor(),
        &dsn("rita@example.net", &ack, "real@x"),
        None,
    )
    .await;
    assert_eq!(bouncing("rita@example.net").await, 1);
    t.close().await;
}
both!(
    a_bounce_marks_only_an_address_we_mailed_the_quoted_message,
    forged_dsn
);
