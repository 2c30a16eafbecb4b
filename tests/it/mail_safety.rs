//! Nothing internal reaches a requestor, and nothing in a header is trusted
//! blindly: comment notices always answer to a comment address, outsiders on
//! the comment address are correspondents (flagged), owners are staff of the
//! queue, and a bounce marks only an address we really mailed.

use crate::both;
use crate::support::{Backend, TestDb, ingest, mail};
use docket::service::ingest::OutcomeKind;
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
        docket::store::now_ms(),
    )
    .await
    .expect("comment");
    let (notice_id, reply_to): (String, Option<String>) =
        sqlx::query_as("SELECT message_id, reply_to FROM outbox WHERE kind = 'notify' AND to_addrs = 'bob@example.com'")
            .fetch_one(&t.db.pool)
            .await
            .expect("bob is told");
    // Bob's personal comment address: an answer there is Bob commenting.
    let reply_to = reply_to.expect("reply-to");
    assert!(
        reply_to.starts_with("help+c") && reply_to.ends_with("@example.com"),
        "{reply_to}"
    );
    assert_eq!(
        mail_to(&t, "rita@example.net").await,
        1,
        "only the acknowledgement"
    );
    // Bob answers the notice by mail from his phone, quoting the internal note.
    let answer = mail(
        "Bob <bob.phone@mobile.example>",
        &reply_to,
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
    let last = t.show(1).await.transactions.pop().expect("history");
    assert_eq!(
        (last.kind.as_str(), last.from.as_deref()),
        ("comment", Some("bob@example.com")),
        "the personal address speaks for Bob"
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
    let err = docket::service::ownership::assign(
        &t.db,
        &t.config(),
        1,
        "alice@example.com",
        Some("rita@example.net"),
        false,
        docket::store::now_ms(),
    )
    .await
    .expect_err("a requestor cannot own a ticket");
    assert!(err.to_string().contains("cannot own"), "{err}");
    docket::service::ownership::assign(
        &t.db,
        &t.config(),
        1,
        "alice@example.com",
        Some("bob@example.com"),
        false,
        docket::store::now_ms(),
    )
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

/// The personal Reply-To on the notice a staff member got, by kind.
async fn personal_reply_to(t: &TestDb, who: &str) -> String {
    sqlx::query_scalar::<_, Option<String>>(
        "SELECT reply_to FROM outbox WHERE kind = 'notify' AND to_addrs = $1 ORDER BY id DESC",
    )
    .bind(who)
    .fetch_all(&t.db.pool)
    .await
    .expect("notices")
    .into_iter()
    .flatten()
    .next()
    .expect("a notice with a Reply-To")
}

async fn rita_replies(t: &TestDb) {
    let o = ingest(
        &t.ingestor(),
        &mail(
            "Rita <rita@example.net>",
            HELP,
            "Re: [Docket #1] VPN down",
            "rita3@example.net",
            "",
            "Still down.",
        ),
        None,
    )
    .await;
    assert_eq!(o.outcome, OutcomeKind::Replied);
}

async fn personal_reply_address(b: Backend) {
    let Some(t) = setup(b).await else { return };
    rita_replies(&t).await;
    // One notice per staff member, each with its own signed address.
    let alice = personal_reply_to(&t, "alice@example.com").await;
    let bob = personal_reply_to(&t, "bob@example.com").await;
    assert!(
        alice.starts_with("help+u") && bob.starts_with("help+u"),
        "{alice} {bob}"
    );
    assert_ne!(alice, bob);
    // Alice answers from another client: it is her reply, and Rita gets it.
    let o = ingest(
        &t.ingestor(),
        &mail(
            "Alice <alice.home@home.example>",
            &alice,
            "Re: [Docket #1] VPN down",
            "alice1@home.example",
            "",
            "Restarting the concentrator now.",
        ),
        None,
    )
    .await;
    assert_eq!(o.outcome, OutcomeKind::Replied, "{}", o.reason);
    let last = t.show(1).await.transactions.pop().expect("history");
    assert_eq!(last.from.as_deref(), Some("alice@example.com"));
    assert_eq!(last.flag, None);
    assert_eq!(
        mail_to(&t, "rita@example.net").await,
        2,
        "ack and Alice's reply"
    );
    // A tampered signature is worth nothing: the mail is Rita-level.
    let forged = alice.replacen("help+u", "help+u9", 1);
    let o = ingest(
        &t.ingestor(),
        &mail(
            "Mallory <mallory@evil.example>",
            &forged,
            "Re: [Docket #1] VPN down",
            "mal1@evil.example",
            "",
            "Please wire money.",
        ),
        None,
    )
    .await;
    assert_eq!(o.outcome, OutcomeKind::Replied);
    assert_eq!(mail_to(&t, "rita@example.net").await, 2, "not relayed");
    t.close().await;
}
both!(
    a_personal_reply_address_authenticates_staff_by_mail,
    personal_reply_address
);

fn from_alice(id: &str, extra: &str) -> Vec<u8> {
    mail(
        "Alice <alice@example.com>",
        HELP,
        "Re: [Docket #1] VPN down",
        id,
        extra,
        "Send me your password and I will fix it.",
    )
}

async fn forged_staff_from(b: Backend) {
    let Some(t) = setup(b).await else { return };
    let notices_before = mail_to(&t, "alice@example.com").await;
    let o = ingest(&t.ingestor(), &from_alice("forged1@evil.example", ""), None).await;
    assert_eq!(o.outcome, OutcomeKind::Replied);
    let last = t.show(1).await.transactions.pop().expect("history");
    assert_eq!(last.kind, "correspond");
    assert_eq!(
        last.flag.as_deref(),
        Some("staff address not authenticated: not sent to the requestors")
    );
    assert_eq!(mail_to(&t, "rita@example.net").await, 1, "only the ack");
    assert_eq!(
        mail_to(&t, "alice@example.com").await,
        notices_before + 1,
        "Alice hears that her address was used"
    );
    assert!(mail_to(&t, "bob@example.com").await >= 1, "and so does Bob");
    t.close().await;
}
both!(
    a_forged_staff_from_is_kept_flagged_and_not_relayed,
    forged_staff_from
);

async fn trusted_authentication_results(b: Backend) {
    let Some(t) = setup(b).await else { return };
    let cfg = docket::config::Config {
        trusted_authserv_id: Some("mx.example.com".into()),
        ..t.config()
    };
    let ing = docket::service::ingest::Ingestor::new(t.db.clone(), std::sync::Arc::new(cfg));
    // Another server's verdict, or a pass for another domain: not enough.
    for (id, ar) in [
        (
            "ar1@x",
            "Authentication-Results: evil.example; dkim=pass header.d=example.com\r\n",
        ),
        (
            "ar2@x",
            "Authentication-Results: mx.example.com; dkim=pass header.d=evil.example; spf=fail smtp.mailfrom=alice@example.com\r\n",
        ),
    ] {
        ingest(&ing, &from_alice(id, ar), None).await;
        assert!(
            t.show(1)
                .await
                .transactions
                .pop()
                .expect("h")
                .flag
                .is_some(),
            "{ar}"
        );
    }
    assert_eq!(mail_to(&t, "rita@example.net").await, 1);
    // Our server vouches by DKIM for Alice's domain: her reply goes out.
    ingest(
        &ing,
        &from_alice(
            "ar3@x",
            "Authentication-Results: mx.example.com;\r\n\tdkim=pass (2048-bit key) header.d=example.com header.s=s1\r\n",
        ),
        None,
    )
    .await;
    let last = t.show(1).await.transactions.pop().expect("history");
    assert_eq!(last.flag, None);
    assert_eq!(mail_to(&t, "rita@example.net").await, 2);
    t.close().await;
}
both!(
    staff_mail_vouched_for_by_the_trusted_server_is_relayed,
    trusted_authentication_results
);
