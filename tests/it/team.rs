//! The team hears of every new ticket: each member of the queue once, with
//! a personal reply address through which `Owner: me` takes the ticket.

use crate::both;
use crate::support::{Backend, TestDb, docket, ingest, mail, ok};

both!(the_team_is_told_of_each_new_ticket, team_notice);

async fn outbox_to(t: &TestDb, kind: &str, ticket: i64) -> Vec<(String, String)> {
    let mut c = t.db.pool.acquire().await.unwrap();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT to_addrs, COALESCE(reply_to, '') FROM outbox WHERE kind = '{kind}' \
         AND ticket_id = {ticket} ORDER BY to_addrs"
    )))
    .fetch_all(&mut *c)
    .await
    .unwrap()
}

async fn team_notice(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    for (who, role) in [
        ("tia@example.com", "triager"),
        ("eve@example.com", "engineer"),
        ("off@example.com", "engineer"),
    ] {
        ok(docket(
            &t.url,
            &["user", "add", who, "--role", "staff"],
            b"a long password\n",
        ));
        ok(docket(
            &t.url,
            &["queue", "member", "help", who, "--role", role],
            b"",
        ));
    }
    ok(docket(
        &t.url,
        &["user", "set", "off@example.com", "--notify-new", "false"],
        b"",
    ));
    let ing = t.ingestor();

    let first = mail(
        "Sam <sam@example.net>",
        "help@example.com",
        "VPN down",
        "t1@x",
        "",
        "Since this morning.",
    );
    let id = ingest(&ing, &first, None).await.ticket.unwrap();
    let told = outbox_to(&t, "team_new", id).await;
    let to: Vec<&str> = told.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        to,
        ["eve@example.com", "tia@example.com"],
        "each member once, not who opted out"
    );
    assert!(
        told.iter().all(|(_, r)| r.starts_with("help+u")),
        "personal reply addresses: {told:?}"
    );
    let acks = outbox_to(&t, "ack", id).await;
    assert_eq!(
        acks.len(),
        1,
        "the requestor still gets the acknowledgement"
    );

    // A robot's mail tells nobody.
    let auto = mail(
        "Robot <robot@example.net>",
        "help@example.com",
        "Out of office",
        "t2@x",
        "Auto-Submitted: auto-replied\r\n",
        "I am away.",
    );
    if let Some(a) = ingest(&ing, &auto, None).await.ticket {
        assert!(outbox_to(&t, "team_new", a).await.is_empty());
    }

    // Eve answers the notice with `Owner: me` over the quoted request: she
    // owns it, and nothing goes to the requestor.
    let reply_to = &told[0].1;
    let body = "Owner: me\r\n\r\nOn Tue, Sam wrote:\r\n> Since this morning.\r\n";
    let answer = mail(
        "Eve <eve@example.com>",
        reply_to,
        &format!("Re: [Docket #{id}] VPN down"),
        "t3@x",
        "",
        body,
    );
    ok(docket(&t.url, &["mailgate"], &answer));
    let shown = ok(docket(
        &t.url,
        &["ticket", "show", &id.to_string(), "--json"],
        b"",
    ));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["owner"], "eve@example.com", "{shown}");
    assert!(
        outbox_to(&t, "reply", id).await.is_empty(),
        "a command alone is not a reply"
    );
    let responded = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM tickets WHERE id = {id} AND first_response_at IS NOT NULL"
        ))
        .await;
    assert_eq!(responded, 0, "taking it is not answering the requestor");

    // Off for the queue: nobody is told.
    ok(docket(
        &t.url,
        &["queue", "set", "help", "--notify-team-on-new", "false"],
        b"",
    ));
    let second = mail(
        "Sam <sam@example.net>",
        "help@example.com",
        "Printer",
        "t4@x",
        "",
        "Jammed.",
    );
    let id2 = ingest(&ing, &second, None).await.ticket.unwrap();
    assert!(outbox_to(&t, "team_new", id2).await.is_empty());
    t.close().await;
}
