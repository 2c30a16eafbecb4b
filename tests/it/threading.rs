//! Threading: References, In-Reply-To, subject tag, unknown tags, changed
//! subjects, replies from other participants, comment addresses.

use crate::both;
use crate::support::{Backend, TestDb, ingest, mail};
use docket::service::ingest::OutcomeKind;

const SAM: &str = "Sam Sample <sam@example.net>";
const HELP: &str = "help@example.com";

async fn setup(b: Backend) -> Option<(TestDb, docket::service::ingest::Ingestor, i64)> {
    let t = TestDb::new(b).await?;
    t.add_queue("help", HELP, Some("help-comment@example.com"))
        .await;
    let ing = t.ingestor();
    let first = ingest(
        &ing,
        &mail(
            SAM,
            HELP,
            "Printer on fire",
            "root@example.net",
            "",
            "It burns.",
        ),
        None,
    )
    .await;
    assert_eq!(first.outcome, OutcomeKind::Created, "{first:?}");
    let id = first.ticket.expect("ticket");
    Some((t, ing, id))
}

async fn by_references(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    // Only References, with an unrelated subject and an unknown id first.
    let raw = mail(
        SAM,
        HELP,
        "something else",
        "r1@example.net",
        "References: <unknown@x> <root@example.net>\r\n",
        "more",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "{o:?}"
    );
    let show = t.show(id).await;
    assert_eq!(
        show.transactions
            .last()
            .and_then(|x| x.thread_rule.as_deref()),
        Some("references")
    );
    t.close().await;
}
both!(threads_by_references, by_references);

async fn by_in_reply_to_only(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    let raw = mail(
        SAM,
        HELP,
        "Totally new words",
        "r2@example.net",
        "In-Reply-To: <root@example.net>\r\n",
        "x",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "{o:?}"
    );
    let show = t.show(id).await;
    assert_eq!(
        show.transactions
            .last()
            .and_then(|x| x.thread_rule.as_deref()),
        Some("in-reply-to")
    );
    t.close().await;
}
both!(threads_by_in_reply_to_only, by_in_reply_to_only);

async fn by_our_acknowledgement_id(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    let ack: String = sqlx::query_scalar("SELECT message_id FROM outbox WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&t.db.pool)
        .await
        .expect("ack row");
    let raw = mail(
        SAM,
        HELP,
        "Re: thanks",
        "r3@example.net",
        &format!("In-Reply-To: <{ack}>\r\n"),
        "x",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "a reply to our own mail threads: {o:?}"
    );
    t.close().await;
}
both!(threads_by_the_id_of_mail_we_sent, by_our_acknowledgement_id);

async fn by_subject_tag(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    for (n, subject) in [
        format!("[Docket #{id}] Printer on fire"),
        format!("Re: AW: [docket #{id}] Printer on fire"),
        format!("Fwd:   [ DOCKET   #  {id} ]   other text"),
        format!("RE: [Docket #{id}]"),
    ]
    .iter()
    .enumerate()
    {
        let raw = mail(SAM, HELP, subject, &format!("tag{n}@example.net"), "", "x");
        let o = ingest(&ing, &raw, None).await;
        assert_eq!(
            (o.outcome, o.ticket),
            (OutcomeKind::Replied, Some(id)),
            "{subject}: {o:?}"
        );
    }
    let show = t.show(id).await;
    assert!(
        show.transactions
            .iter()
            .skip(1)
            .all(|x| x.thread_rule.as_deref() == Some("subject-tag"))
    );
    t.close().await;
}
both!(threads_by_subject_tag, by_subject_tag);

async fn unknown_tag_opens_new_ticket(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    let raw = mail(
        SAM,
        HELP,
        "Re: [Docket #9999] lost",
        "tag-unknown@example.net",
        "",
        "x",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(o.outcome, OutcomeKind::Created, "{o:?}");
    assert_ne!(o.ticket, Some(id));
    assert!(
        o.reason.contains("#9999"),
        "the reason says why: {}",
        o.reason
    );
    let show = t.show(o.ticket.expect("ticket")).await;
    assert_eq!(show.transactions[0].thread_rule.as_deref(), Some("new"));
    assert!(
        show.transactions[0]
            .thread_note
            .as_deref()
            .unwrap_or("")
            .contains("9999")
    );
    t.close().await;
}
both!(unknown_tag_opens_a_new_ticket, unknown_tag_opens_new_ticket);

async fn changed_subject_keeps_references(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    let raw = mail(
        SAM,
        HELP,
        "Completely different subject [Other #5]",
        "chg@example.net",
        "In-Reply-To: <root@example.net>\r\nReferences: <root@example.net>\r\n",
        "x",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "{o:?}"
    );
    let tk = t.show(id).await;
    assert_eq!(
        tk.ticket.subject, "Printer on fire",
        "a reply does not rename the ticket"
    );
    t.close().await;
}
both!(
    changed_subject_with_references_kept,
    changed_subject_keeps_references
);

async fn cc_reply_keeps_requestor(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    let raw = mail(
        "Colleague <col@example.net>",
        HELP,
        &format!("Re: [Docket #{id}] Printer on fire"),
        "cc1@example.net",
        "",
        "me too",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!((o.outcome, o.ticket), (OutcomeKind::Replied, Some(id)));
    let tk = t.show(id).await;
    assert_eq!(tk.ticket.requestors, vec!["sam@example.net".to_string()]);
    assert_eq!(
        tk.transactions
            .last()
            .and_then(|x| x.from.clone())
            .as_deref(),
        Some("col@example.net")
    );
    t.close().await;
}
both!(
    reply_from_another_participant_keeps_requestor,
    cc_reply_keeps_requestor
);

async fn comment_address_makes_comment(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    // Only staff of the queue may comment by mail; anyone else is flagged
    // correspondence (see mail_safety.rs).
    let mut c = t.db.pool.acquire().await.expect("conn");
    let staff = docket::store::users::upsert_staff(
        &mut c,
        "staff@example.com",
        "staff",
        None,
        docket::store::now_ms(),
    )
    .await
    .expect("staff");
    let q: i64 = sqlx::query_scalar("SELECT id FROM queues WHERE name = 'help'")
        .fetch_one(&mut *c)
        .await
        .expect("queue");
    docket::store::users::add_to_queue(&mut c, q, staff)
        .await
        .expect("member");
    drop(c);
    let raw = mail(
        "Staff <staff@example.com>",
        "help+comment@example.com",
        &format!("[Docket #{id}] note"),
        "c1@x",
        "",
        "internal",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Commented, Some(id)),
        "{o:?}"
    );
    let raw = mail(
        "Staff <staff@example.com>",
        "help-comment@example.com",
        &format!("[Docket #{id}] note"),
        "c2@x",
        "",
        "internal",
    );
    let o = ingest(&ing, &raw, None).await;
    assert_eq!(o.outcome, OutcomeKind::Commented);
    assert_eq!(
        t.show(id)
            .await
            .transactions
            .iter()
            .filter(|x| x.kind == "comment")
            .count(),
        2
    );
    t.close().await;
}
both!(
    comment_address_and_plus_comment_make_comments,
    comment_address_makes_comment
);

async fn reply_reopens_resolved(b: Backend) {
    let Some((t, ing, id)) = setup(b).await else {
        return;
    };
    sqlx::query("UPDATE tickets SET status = 'resolved' WHERE id = $1")
        .bind(id)
        .execute(&t.db.pool)
        .await
        .expect("resolve");
    let auto = mail(
        SAM,
        HELP,
        &format!("Auto: [Docket #{id}] away"),
        "auto1@x",
        "Auto-Submitted: auto-replied\r\n",
        "away",
    );
    ingest(&ing, &auto, None).await;
    assert_eq!(
        t.show(id).await.ticket.status,
        "resolved",
        "an auto-reply does not reopen"
    );
    let raw = mail(
        SAM,
        HELP,
        &format!("Re: [Docket #{id}] Printer on fire"),
        "again@x",
        "",
        "still burning",
    );
    ingest(&ing, &raw, None).await;
    let tk = t.show(id).await;
    assert_eq!(tk.ticket.status, "open");
    assert!(
        tk.transactions
            .iter()
            .any(|x| x.kind == "status" && x.new_value.as_deref() == Some("open"))
    );
    t.close().await;
}
both!(human_reply_reopens_resolved_ticket, reply_reopens_resolved);

async fn routes_by_recipient(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    t.add_queue("ops", "ops@example.com", None).await;
    let ing = t.ingestor();
    let o = ingest(
        &ing,
        &mail(SAM, "ops@example.com", "disk", "q1@x", "", "x"),
        Some("help"),
    )
    .await;
    assert_eq!(t.show(o.ticket.expect("ticket")).await.ticket.queue, "ops");
    let o = ingest(
        &ing,
        &mail(
            SAM,
            "someone@else.org",
            "disk",
            "q2@x",
            "X-Original-To: ops@example.com\r\n",
            "x",
        ),
        None,
    )
    .await;
    assert_eq!(
        t.show(o.ticket.expect("ticket")).await.ticket.queue,
        "ops",
        "envelope recipient routes"
    );
    let o = ingest(
        &ing,
        &mail(SAM, "someone@else.org", "disk", "q3@x", "", "x"),
        Some("help"),
    )
    .await;
    assert_eq!(
        t.show(o.ticket.expect("ticket")).await.ticket.queue,
        "help",
        "--queue is the fallback"
    );
    let o = ingest(
        &ing,
        &mail(SAM, "someone@else.org", "disk", "q4@x", "", "x"),
        None,
    )
    .await;
    assert_eq!(
        o.outcome,
        OutcomeKind::Quarantined,
        "no queue and no fallback: quarantined, not lost"
    );
    t.close().await;
}
both!(queue_is_chosen_by_recipient, routes_by_recipient);

async fn reply_address_threads(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", HELP, None).await;
    let mut cfg = t.config();
    cfg.reply_token_secret = Some(docket::domain::secret::Secret::new("test-secret"));
    let ing = docket::service::ingest::Ingestor::new(t.db.clone(), std::sync::Arc::new(cfg));
    let o = ingest(
        &ing,
        &mail(SAM, HELP, "Printer", "rt1@example.net", "", "x"),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");
    let reply_to: String = sqlx::query_scalar("SELECT reply_to FROM outbox WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&t.db.pool)
        .await
        .expect("ack");
    assert!(reply_to.starts_with(&format!("help+t{id}-")), "{reply_to}");
    // Another helpdesk stripped the tag and the threading headers.
    let o = ingest(
        &ing,
        &mail(SAM, &reply_to, "Printer", "rt2@example.net", "", "more"),
        None,
    )
    .await;
    assert_eq!(
        (o.outcome, o.ticket),
        (OutcomeKind::Replied, Some(id)),
        "{o:?}"
    );
    assert_eq!(
        t.show(id)
            .await
            .transactions
            .last()
            .and_then(|x| x.thread_rule.clone())
            .as_deref(),
        Some("reply-address")
    );
    // A forged token is just the queue address: a new ticket.
    let forged = reply_to.replace(&format!("+t{id}-"), &format!("+t{}-", id + 1));
    let o = ingest(
        &ing,
        &mail(SAM, &forged, "Printer", "rt3@example.net", "", "x"),
        None,
    )
    .await;
    assert_eq!(o.outcome, OutcomeKind::Created);
    t.close().await;
}
both!(
    per_ticket_reply_address_threads_without_tag_or_headers,
    reply_address_threads
);
