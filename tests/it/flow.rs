//! The triage flow through its command-line contract: take, assign, take
//! over and escalate within WIP limits; the lifecycle's refusals; asking
//! the requestor; postponing and the scheduler waking a ticket once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::both;
use crate::support::peers::{Dovecot, SmtpSink};
use crate::support::{Backend, TestDb, docket, docket_bin, ingest, json_ok, mail, ok, refused};

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";
const CAROL: &str = "carol@example.com";

/// Queue `help` with alice and bob as engineers and carol as triager.
async fn team(b: Backend) -> Option<TestDb> {
    let t = TestDb::new(b).await?;
    t.add_queue("help", "help@example.com", None).await;
    for (who, role) in [(ALICE, "engineer"), (BOB, "engineer"), (CAROL, "triager")] {
        ok(docket(&t.url, &["user", "add", who], b"a long password\n"));
        ok(docket(
            &t.url,
            &["queue", "member", "help", who, "--role", role],
            b"",
        ));
    }
    Some(t)
}

async fn new_ticket(t: &TestDb, subject: &str, id: &str) -> String {
    let raw = mail("sam@example.com", "help@example.com", subject, id, "", "b");
    ingest(&t.ingestor(), &raw, None)
        .await
        .ticket
        .expect("ticket")
        .to_string()
}

async fn mail_to_containing(t: &TestDb, who: &str, text: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE to_addrs LIKE $1 AND body LIKE $2")
        .bind(format!("%{who}%"))
        .bind(format!("%{text}%"))
        .fetch_one(&t.db.pool)
        .await
        .expect("count")
}

async fn ownership_within_wip_limits(b: Backend) {
    let Some(t) = team(b).await else { return };
    ok(docket(
        &t.url,
        &["queue", "set", "help", "--wip-limit", "1"],
        b"",
    ));
    let a = new_ticket(&t, "one", "w1@x").await;
    let b2 = new_ticket(&t, "two", "w2@x").await;
    let url = t.url.as_str();

    let taken = json_ok(url, &["ticket", "take", &a, "--as", ALICE]);
    assert_eq!(
        (taken["owner"].as_str(), taken["status"].as_str()),
        (Some(ALICE), Some("open"))
    );
    let (code, why) = refused(url, &["ticket", "take", &b2, "--as", ALICE], b"");
    assert_eq!(code, "wip_limit");
    assert_eq!(why, "alice@example.com has 1 of 1 open tickets");
    let force = ["ticket", "take", &b2, "--as", ALICE, "--force"];
    assert_eq!(
        refused(url, &force, b"").0,
        "not_triager",
        "an engineer cannot force"
    );
    let by_bob = ["ticket", "assign", &b2, ALICE, "--as", BOB];
    assert_eq!(
        refused(url, &by_bob, b"").0,
        "not_triager",
        "an engineer cannot assign"
    );
    let by_carol = ["ticket", "assign", &b2, ALICE, "--as", CAROL];
    assert_eq!(refused(url, &by_carol, b"").0, "wip_limit");
    let forced = json_ok(
        url,
        &["ticket", "assign", &b2, ALICE, "--as", CAROL, "--force"],
    );
    assert_eq!(forced["owner"].as_str(), Some(ALICE));
    let history = t.show(b2.parse().expect("id")).await.transactions;
    let note = history
        .iter()
        .rev()
        .find(|x| x.kind == "owner")
        .and_then(|x| x.thread_note.clone())
        .expect("a note on the forced assignment");
    assert!(note.contains("forced by carol@example.com"), "{note}");
    let outsider = ["ticket", "assign", &b2, "sam@example.com", "--as", CAROL];
    assert_eq!(refused(url, &outsider, b"").0, "not_member");

    // Bob takes #a over: Alice hears of it.
    let over = json_ok(url, &["ticket", "take", &a, "--as", BOB]);
    assert_eq!(over["owner"].as_str(), Some(BOB));
    assert_eq!(
        mail_to_containing(&t, ALICE, "took this ticket from you").await,
        1
    );
    let no_reason = ["ticket", "escalate", &a, "--as", BOB];
    assert_eq!(refused(url, &no_reason, b"").0, "reason_required");
    let why = "needs a network engineer";
    let back = json_ok(
        url,
        &["ticket", "escalate", &a, "--as", BOB, "--reason", why],
    );
    assert_eq!(back["owner"], Value::Null);
    let last = t.show(a.parse().expect("id")).await.transactions;
    let last = last.last().expect("history");
    assert_eq!((last.kind.as_str(), last.body.as_str()), ("escalate", why));
    assert!(
        mail_to_containing(&t, CAROL, "back to triage").await >= 1,
        "triagers are told"
    );

    let wip = json_ok(url, &["wip"]);
    let alice = wip
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["user"] == ALICE)
        .expect("alice's row")
        .clone();
    assert_eq!(
        (alice["open"].as_i64(), alice["limit"].as_i64()),
        (Some(1), Some(1))
    );
    let board = json_ok(url, &["triage"]);
    assert_eq!(board["over_wip"], serde_json::json!([ALICE]));
    assert_eq!(
        board["new_unowned"],
        serde_json::json!([a.parse::<i64>().expect("id")])
    );
    t.close().await;
}
both!(
    take_assign_and_escalate_within_wip_limits,
    ownership_within_wip_limits
);

async fn lifecycle_refusals(b: Backend) {
    let Some(t) = team(b).await else { return };
    let id = new_ticket(&t, "printer", "l1@x").await;
    let url = t.url.as_str();
    let bare = ["ticket", "status", &id, "resolved", "--as", ALICE];
    let (code, why) = refused(url, &bare, b"");
    assert_eq!(code, "reason_required");
    assert!(why.contains("resolution"), "{why}");
    let fixed = [
        "ticket",
        "status",
        &id,
        "resolved",
        "--reason",
        "toner replaced",
        "--as",
        ALICE,
    ];
    json_ok(url, &fixed);
    let (code, why) = refused(
        url,
        &["ticket", "status", &id, "stalled", "--as", ALICE],
        b"",
    );
    assert_eq!(code, "transition");
    assert!(why.contains("from resolved it can go to open"), "{why}");
    json_ok(url, &["ticket", "status", &id, "open", "--as", ALICE]);
    let (code, _) = refused(
        url,
        &["ticket", "status", &id, "rejected", "--as", ALICE],
        b"",
    );
    assert_eq!(code, "reason_required");
    let bad = docket(
        url,
        &["ticket", "postpone", &id, "--until", "soon", "--as", ALICE],
        b"",
    );
    assert_eq!(
        bad.status.code(),
        Some(64),
        "an unreadable time is bad usage"
    );
    t.close().await;
}
both!(
    forbidden_moves_and_missing_reasons_are_refused,
    lifecycle_refusals
);

/// Request-info reaches the requestor through the real SMTP peer with the
/// questions; their reply opens the ticket and tells the owner.
async fn needs_info_round_trip(b: Backend) {
    let Some(dovecot) = Dovecot::start(&["sam"]).await else {
        return;
    };
    let Some(smtp) = SmtpSink::start(&dovecot).await else {
        return;
    };
    let Some(t) = team(b).await else { return };
    let id = new_ticket(&t, "new laptop", "n1@x").await;
    let url = t.url.as_str();
    json_ok(url, &["ticket", "take", &id, "--as", ALICE]);
    let questions = "Which model, and for whom?";
    let ask = ["ticket", "request-info", &id, "--as", ALICE, "--json"];
    let out = docket(url, &ask, questions.as_bytes());
    let shown: Value = serde_json::from_str(&ok(out)).expect("json");
    assert_eq!(shown["status"].as_str(), Some("needs-info"));
    assert_eq!(shown["waiting_on"].as_str(), Some("requestor"));
    assert_eq!(shown["status_reason"].as_str(), Some(questions));
    let sent = std::process::Command::new(docket_bin())
        .args(["outbox", "send", "--once"])
        .env("DOCKET_DATABASE_URL", url)
        .env("DOCKET_SMTP_URL", smtp.url())
        .env("DOCKET_LOG", "error")
        .output()
        .expect("send");
    assert!(sent.status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let asked = loop {
        let found = dovecot
            .delivered("sam")
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).to_string())
            .find(|m| m.contains(questions));
        if let Some(m) = found {
            break m;
        }
        assert!(Instant::now() < deadline, "the questions never reached sam");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(asked.contains(&format!("#{id}")), "{asked}");
    let answer = mail(
        "sam@example.com",
        "help@example.com",
        &format!("Re: [Docket #{id}] new laptop"),
        "n2@x",
        "",
        "A ThinkPad, for Kim.",
    );
    ingest(&t.ingestor(), &answer, None).await;
    let after = t.show(id.parse().expect("id")).await.ticket;
    assert_eq!(after.status, "open", "the answer opens the ticket");
    assert_eq!(after.waiting_on, Some("us"));
    assert!(
        mail_to_containing(&t, ALICE, "A ThinkPad, for Kim.").await >= 1,
        "the owner is told"
    );
    t.close().await;
}
both!(
    request_info_mails_the_questions_and_the_answer_reopens,
    needs_info_round_trip
);

async fn postpone_and_wake(b: Backend) {
    let Some(t) = team(b).await else { return };
    let id = new_ticket(&t, "renew certificate", "p1@x").await;
    let url = t.url.as_str();
    json_ok(url, &["ticket", "take", &id, "--as", ALICE]);
    let soon = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let until = soon.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let no_reason = ["ticket", "postpone", &id, "--until", &until, "--as", ALICE];
    assert_eq!(refused(url, &no_reason, b"").0, "reason_required");
    let why = "the vendor ships on Monday";
    let shown = json_ok(
        url,
        &[
            "ticket", "postpone", &id, "--until", &until, "--reason", why, "--as", ALICE,
        ],
    );
    assert_eq!(shown["status"].as_str(), Some("postponed"));
    assert!(shown["postponed_until"].is_string());
    let early = json_ok(url, &["scheduler", "run", "--once"]);
    assert_eq!(early["woken"], serde_json::json!([]), "not due yet");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    let woke = json_ok(url, &["scheduler", "run", "--once"]);
    assert_eq!(
        woke["woken"],
        serde_json::json!([id.parse::<i64>().expect("id")])
    );
    let again = json_ok(url, &["scheduler", "run", "--once"]);
    assert_eq!(again["woken"], serde_json::json!([]), "woken once");
    let after = t.show(id.parse().expect("id")).await.ticket;
    assert_eq!(
        (after.status.as_str(), after.postponed_until),
        ("open", None)
    );
    assert_eq!(mail_to_containing(&t, ALICE, "is open again").await, 1);
    t.close().await;
}
both!(
    a_postponed_ticket_wakes_once_through_the_scheduler,
    postpone_and_wake
);

/// A `serve` the test did not get to stop (it failed first) is killed.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two `serve` processes on one PostgreSQL database wake each postponed
/// ticket exactly once, record and mail each SLA breach once, and send a
/// queue's digest once at its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_wake_a_ticket_once() {
    crate::support::within_limit(two_schedulers()).await
}

async fn two_schedulers() {
    let Some(t) = team(Backend::Postgres).await else {
        return;
    };
    let mut ids = Vec::new();
    for n in 0..10 {
        let id = new_ticket(&t, &format!("job {n}"), &format!("s{n}@x")).await;
        ids.push(id);
    }
    // Five tickets written two hours ago under a one-hour first-response
    // target: breached before either process starts.
    let sla = [
        "sla",
        "add",
        "std",
        "--queue",
        "help",
        "--first-response",
        "1h",
        "--resolve",
        "1d",
        "--calendar",
        "24x7",
    ];
    json_ok(&t.url, &sla);
    let written = chrono::Utc::now() - chrono::Duration::hours(2);
    let mut mbox = String::new();
    for n in 0..5 {
        mbox.push_str(&format!(
            "From sam@example.com Mon Jan  1 00:00:00 2024\nFrom: sam@example.com\n\
             To: help@example.com\nSubject: old {n}\nMessage-ID: <old{n}@x>\nDate: {}\n\nhelp\n\n",
            written.to_rfc2822()
        ));
    }
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("old.mbox");
    std::fs::write(&path, mbox).expect("mbox");
    let path = path.to_str().expect("path");
    ok(docket(
        &t.url,
        &["import", path, "--queue", "help", "--keep-dates"],
        b"",
    ));
    ok(docket(
        &t.url,
        &["queue", "set", "help", "--digest", "mon 09:00"],
        b"",
    ));
    // Due in a few seconds rather than on Monday.
    sqlx::query("UPDATE queues SET digest_next = $1 WHERE name = 'help'")
        .bind(docket::store::now_ms() + 3_000)
        .execute(&t.db.pool)
        .await
        .expect("digest due soon");
    let serve = || {
        std::process::Command::new(docket_bin())
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--scheduler-interval",
                "1",
            ])
            .env("DOCKET_DATABASE_URL", &t.url)
            .env("DOCKET_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("serve")
    };
    let (mut first, mut second) = (Reaped(serve()), Reaped(serve()));
    let until = (chrono::Utc::now() + chrono::Duration::seconds(10))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for id in &ids {
        json_ok(
            &t.url,
            &[
                "ticket", "postpone", id, "--until", &until, "--reason", "later", "--as", CAROL,
            ],
        );
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while t
        .scalar_i64("SELECT COUNT(*) FROM tickets WHERE status = 'postponed'")
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "the tickets never woke");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more passes of both, then count.
    tokio::time::sleep(Duration::from_secs(2)).await;
    crate::support::terminate(&mut first.0, "the first docket serve");
    crate::support::terminate(&mut second.0, "the second docket serve");
    let wakes = t
        .scalar_i64(
            "SELECT COUNT(*) FROM transactions WHERE type = 'status' \
             AND thread_note = 'woke up: the postponement ended'",
        )
        .await;
    assert_eq!(wakes, 10, "every ticket woke exactly once");
    let breaches = t
        .scalar_i64(
            "SELECT COUNT(*) FROM transactions WHERE type = 'sla' AND new_value = 'first_response'",
        )
        .await;
    assert_eq!(breaches, 5, "each breach recorded once");
    let mails = t
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE kind = 'sla_breach'")
        .await;
    assert_eq!(mails, 5, "and mailed once, to the triager");
    let digests = t
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE kind = 'digest'")
        .await;
    assert_eq!(digests, 1, "one digest, to the one triager");
    t.close().await;
}

async fn children_links_and_merge(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    let parent = new_ticket(&t, "new office", "c1@x").await;
    let child = json_ok(
        url,
        &[
            "ticket",
            "child",
            &parent,
            "--subject",
            "network",
            "--as",
            ALICE,
        ],
    );
    let cid = child["id"].as_i64().expect("child id");
    assert_eq!(child["subject"].as_str(), Some("network"));
    assert_eq!(child["requestors"], serde_json::json!(["sam@example.com"]));
    let shown = json_ok(url, &["ticket", "show", &parent]);
    assert_eq!(shown["children"], serde_json::json!([cid]));
    let c = cid.to_string();
    assert_eq!(
        json_ok(url, &["ticket", "show", &c])["parent"].as_i64(),
        parent.parse::<i64>().ok()
    );
    let (code, why) = refused(
        url,
        &[
            "ticket", "status", &parent, "resolved", "--reason", "done", "--as", ALICE,
        ],
        b"",
    );
    assert_eq!(code, "open_children");
    assert!(why.contains(&format!("#{cid}")), "{why}");
    json_ok(
        url,
        &[
            "ticket", "status", &c, "resolved", "--reason", "cabled", "--as", ALICE,
        ],
    );
    json_ok(
        url,
        &[
            "ticket", "status", &parent, "resolved", "--reason", "moved in", "--as", ALICE,
        ],
    );

    let other = new_ticket(&t, "power cut", "c2@x").await;
    json_ok(
        url,
        &[
            "ticket",
            "link",
            &other,
            "--depends-on",
            &parent,
            "--as",
            ALICE,
        ],
    );
    json_ok(
        url,
        &["ticket", "link", &other, "--refers-to", &c, "--as", ALICE],
    );
    let linked = json_ok(url, &["ticket", "show", &other]);
    assert_eq!(
        linked["depends_on"],
        serde_json::json!([parent.parse::<i64>().expect("id")])
    );
    assert_eq!(linked["refers_to"], serde_json::json!([cid]));

    let dup = new_ticket(&t, "power cut again", "c3@x").await;
    let merged = json_ok(
        url,
        &["ticket", "merge", &dup, "--into", &other, "--as", ALICE],
    );
    let survivor: i64 = other.parse().expect("id");
    assert_eq!(
        merged["id"].as_i64(),
        Some(survivor),
        "the survivor is shown"
    );
    let gone = json_ok(url, &["ticket", "show", &dup]);
    assert_eq!(gone["merged_into"].as_i64(), Some(survivor));
    let history = json_ok(url, &["ticket", "show", &other]);
    let bodies: Vec<&str> = history["transactions"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|x| x["type"].as_str())
        .collect();
    assert!(
        bodies.contains(&"merge") && bodies.iter().filter(|k| **k == "create").count() == 2,
        "{bodies:?}"
    );
    let by_tag = mail(
        "sam@example.com",
        "help@example.com",
        &format!("Re: [Docket #{dup}] power cut again"),
        "c4@x",
        "",
        "by tag",
    );
    assert_eq!(
        ingest(&t.ingestor(), &by_tag, None).await.ticket,
        Some(survivor)
    );
    let by_id = mail(
        "sam@example.com",
        "help@example.com",
        "still dark",
        "c5@x",
        "In-Reply-To: <c3@x>\r\n",
        "by message id",
    );
    assert_eq!(
        ingest(&t.ingestor(), &by_id, None).await.ticket,
        Some(survivor)
    );
    let again = ["ticket", "merge", &dup, "--into", &parent, "--as", ALICE];
    assert_eq!(refused(url, &again, b"").0, "merged");
    t.close().await;
}
both!(
    children_guard_the_parent_links_show_and_merge_redirects_mail,
    children_links_and_merge
);

async fn intake_from_mail(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    let required = "description,drop_dead_date,capacity,acceptance_criteria";
    ok(docket(
        url,
        &["queue", "set", "help", "--intake", required],
        b"",
    ));
    let first = mail(
        "sam@example.com",
        "help@example.com",
        "bigger database",
        "i1@x",
        "",
        "We need a bigger database.\r\nDrop-dead date: 1 December 2026\r\n",
    );
    let id = ingest(&t.ingestor(), &first, None)
        .await
        .ticket
        .expect("ticket");
    let n = id.to_string();
    let shown = json_ok(url, &["ticket", "show", &n]);
    assert_eq!(shown["intake"]["complete"], Value::Bool(false));
    assert_eq!(
        shown["intake"]["missing"],
        serde_json::json!(["capacity", "acceptance_criteria"])
    );
    assert_eq!(
        shown["intake"]["fields"]["drop_dead_date"].as_str(),
        Some("2026-12-01")
    );
    let ack: String =
        sqlx::query_scalar("SELECT body FROM outbox WHERE kind = 'ack' AND ticket_id = $1")
            .bind(id)
            .fetch_one(&t.db.pool)
            .await
            .expect("ack");
    assert!(
        ack.contains("Capacity: ") && ack.contains("Acceptance criteria: "),
        "{ack}"
    );
    assert!(
        !ack.contains("Drop-dead date:"),
        "what was given is not asked again: {ack}"
    );
    assert_eq!(
        json_ok(url, &["triage"])["incomplete"],
        serde_json::json!([id])
    );

    let ask = ["ticket", "request-info", &n, "--as", ALICE, "--json"];
    ok(docket(url, &ask, b"Which region?"));
    let asked: String = sqlx::query_scalar(
        "SELECT body FROM outbox WHERE kind = 'request_info' AND ticket_id = $1",
    )
    .bind(id)
    .fetch_one(&t.db.pool)
    .await
    .expect("request_info");
    assert!(
        asked.contains("Which region?") && asked.contains("Capacity: "),
        "{asked}"
    );

    let answer = mail(
        "sam@example.com",
        "help@example.com",
        &format!("Re: [Docket #{id}] bigger database"),
        "i2@x",
        "",
        "EU.\r\nCapacity: 2 TB\r\nacceptance CRITERIA: restores in under an hour\r\n",
    );
    ingest(&t.ingestor(), &answer, None).await;
    let after = json_ok(url, &["ticket", "show", &n]);
    assert_eq!(after["intake"]["complete"], Value::Bool(true), "{after}");
    assert_eq!(after["status"].as_str(), Some("open"));
    assert_eq!(
        after["intake"]["fields"]["acceptance_criteria"].as_str(),
        Some("restores in under an hour")
    );
    assert_eq!(
        json_ok(url, &["triage"])["incomplete"],
        serde_json::json!([])
    );

    // Resolving asks the resolver to confirm the criteria, and records it.
    let resolve = [
        "ticket",
        "status",
        &n,
        "resolved",
        "--reason",
        "new cluster",
        "--as",
        ALICE,
    ];
    let (code, why) = refused(url, &resolve, b"");
    assert_eq!(code, "criteria_unconfirmed");
    assert!(why.contains("restores in under an hour"), "{why}");
    let mut confirmed = resolve.to_vec();
    confirmed.push("--criteria-met");
    json_ok(url, &confirmed);
    let done = json_ok(url, &["ticket", "show", &n]);
    assert_eq!(done["status"].as_str(), Some("resolved"));
    let recorded = done["transactions"]
        .as_array()
        .expect("history")
        .iter()
        .find(|x| x["type"] == "criteria")
        .expect("the confirmation is in the history");
    assert_eq!(recorded["new_value"].as_str(), Some("met"), "{recorded}");
    t.close().await;
}
both!(
    intake_fields_come_from_mail_and_the_acknowledgement_asks_for_the_rest,
    intake_from_mail
);

/// Commands at the top of a staff reply through the personal reply address
/// act on the ticket, stay out of the requestor's mail, and a refused one
/// is noted and told; from a forged `From:` they are only noted.
async fn commands_by_mail(b: Backend) {
    let Some(t) = team(b).await else { return };
    let id = new_ticket(&t, "printer jam", "m1@x").await;
    let n: i64 = id.parse().expect("id");
    let secret = t.reply_secret().await;
    let alice: i64 = t
        .scalar_i64("SELECT id FROM users WHERE email = 'alice@example.com'")
        .await;
    let to = docket::domain::reply_token::personal_address(
        "help@example.com",
        secret.expose(),
        docket::domain::reply_token::Personal::Correspond,
        alice,
    );
    let body = "Owner: me\r\nETA: 2026-12-24\r\nReason: parts ordered\r\nPriority: 12\r\n\r\nWe ordered the part.\r\n";
    let subject = format!("Re: [Docket #{id}] printer jam");
    ingest(
        &t.ingestor(),
        &mail(ALICE, &to, &subject, "m2@x", "", body),
        None,
    )
    .await;
    let shown = json_ok(&t.url, &["ticket", "show", &id]);
    assert_eq!(shown["owner"].as_str(), Some(ALICE));
    assert_eq!(shown["eta"].as_str(), Some("2026-12-24T09:00:00Z"));
    assert_eq!(shown["eta_reason"].as_str(), Some("parts ordered"));
    let history = shown["transactions"].as_array().expect("history");
    let commands: Vec<(&str, bool)> = history
        .iter()
        .filter(|x| x["type"] == "command")
        .map(|x| {
            (
                x["body"].as_str().unwrap_or(""),
                x["accepted"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        commands,
        vec![
            ("Owner: me", true),
            ("ETA: 2026-12-24", true),
            ("Priority: 12", false)
        ]
    );
    let said = history
        .iter()
        .find(|x| x["type"] == "correspond" && x["from"] == ALICE)
        .expect("alice's reply");
    assert_eq!(
        said["body"].as_str().map(str::trim),
        Some("We ordered the part.")
    );
    let to_sam: String =
        sqlx::query_scalar("SELECT body FROM outbox WHERE kind = 'reply' AND ticket_id = $1")
            .bind(n)
            .fetch_one(&t.db.pool)
            .await
            .expect("the reply to sam");
    assert!(
        to_sam.contains("We ordered the part.") && !to_sam.contains("Owner:"),
        "{to_sam}"
    );
    assert_eq!(
        mail_to_containing(&t, ALICE, "Priority: 12").await,
        1,
        "the refusal is told"
    );

    let forged = mail(
        BOB,
        "help@example.com",
        &subject,
        "m3@x",
        "",
        "Status: rejected\r\nReason: spam\r\n\r\nclosing this",
    );
    ingest(&t.ingestor(), &forged, None).await;
    let after = json_ok(&t.url, &["ticket", "show", &id]);
    assert_eq!(
        after["status"].as_str(),
        Some("open"),
        "a forged From: commands nothing"
    );
    let noted = after["transactions"]
        .as_array()
        .expect("history")
        .iter()
        .any(|x| {
            x["type"] == "command"
                && x["accepted"] == Value::Bool(false)
                && x["body"] == "Status: rejected"
        });
    assert!(noted, "the ignored command is noted");
    t.close().await;
}
both!(
    commands_by_mail_act_only_when_authenticated,
    commands_by_mail
);

async fn outbox_kinds(t: &TestDb, ticket: i64, kind: &str) -> Vec<String> {
    sqlx::query_scalar("SELECT body FROM outbox WHERE ticket_id = $1 AND kind = $2 ORDER BY id")
        .bind(ticket)
        .bind(kind)
        .fetch_all(&t.db.pool)
        .await
        .expect("outbox")
}

/// The queue chooses which changes mail the requestor; a reply long after
/// resolving opens a follow-up that refers to the old ticket.
async fn requestor_updates_and_follow_ups(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    let id = new_ticket(&t, "vpn drops", "u1@x").await;
    let n: i64 = id.parse().expect("id");
    json_ok(url, &["ticket", "take", &id, "--as", ALICE]);
    assert!(
        outbox_kinds(&t, n, "taken").await.is_empty(),
        "quiet by default"
    );
    ok(docket(
        url,
        &["queue", "set", "help", "--notify", "taken,resolved"],
        b"",
    ));
    json_ok(url, &["ticket", "take", &id, "--as", BOB]);
    let taken = outbox_kinds(&t, n, "taken").await;
    assert_eq!(taken.len(), 1);
    let listed = json_ok(url, &["outbox", "list"]);
    let row = listed
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kind"] == "taken")
        .expect("the taken row");
    assert!(
        row["reply_to"].as_str().is_some_and(|r| r.contains("help")),
        "{row}"
    );
    assert!(
        taken[0].contains("bob is working on your request"),
        "{}",
        taken[0]
    );
    let eta = [
        "ticket",
        "eta",
        &id,
        "--at",
        "2030-01-01T10:00:00Z",
        "--reason",
        "waiting on the ISP",
        "--as",
        BOB,
    ];
    json_ok(url, &eta);
    assert!(
        outbox_kinds(&t, n, "eta").await.is_empty(),
        "ETA changes are off for this queue"
    );
    let resolve = [
        "ticket",
        "status",
        &id,
        "resolved",
        "--reason",
        "new router",
        "--as",
        BOB,
    ];
    json_ok(url, &resolve);
    let resolved = outbox_kinds(&t, n, "resolved").await;
    assert!(
        resolved.len() == 1 && resolved[0].contains("new router"),
        "{resolved:?}"
    );

    ok(docket(
        url,
        &["queue", "set", "help", "--reopen-days", "0"],
        b"",
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let late = mail(
        "sam@example.com",
        "help@example.com",
        &format!("Re: [Docket #{id}] vpn drops"),
        "u2@x",
        "",
        "It is dropping again.",
    );
    let follow = ingest(&t.ingestor(), &late, None)
        .await
        .ticket
        .expect("a ticket");
    assert_ne!(follow, n, "a late reply opens a follow-up");
    let shown = json_ok(url, &["ticket", "show", &follow.to_string()]);
    assert_eq!(shown["refers_to"], serde_json::json!([n]));
    assert_eq!(
        t.show(n).await.ticket.status,
        "resolved",
        "the old ticket stays resolved"
    );
    t.close().await;
}
both!(
    queues_choose_requestor_updates_and_late_replies_follow_up,
    requestor_updates_and_follow_ups
);

/// A personal limit overrides the queue's; a member removed from a queue
/// can no longer take its tickets; a fresh status-page link is mailed only
/// to someone who asked us something, and the answer never says which.
async fn limits_membership_and_fresh_links(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    ok(docket(
        url,
        &["queue", "set", "help", "--wip-limit", "5"],
        b"",
    ));
    ok(docket(
        url,
        &["user", "set", ALICE, "--wip-limit", "1"],
        b"",
    ));
    let one = new_ticket(&t, "one", "p1@x").await;
    let two = new_ticket(&t, "two", "p2@x").await;
    json_ok(url, &["ticket", "take", &one, "--as", ALICE]);
    let (code, why) = refused(url, &["ticket", "take", &two, "--as", ALICE], b"");
    assert_eq!(
        (code.as_str(), why.as_str()),
        ("wip_limit", "alice@example.com has 1 of 1 open tickets")
    );
    ok(docket(
        url,
        &["queue", "member", "help", BOB, "--remove"],
        b"",
    ));
    // The change is in Bob's history, as the admin's doing.
    let h: serde_json::Value =
        serde_json::from_str(&ok(docket(url, &["user", "history", BOB, "--json"], b""))).unwrap();
    let last = h
        .as_array()
        .and_then(|a| a.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        (&last["queue"], &last["to"], &last["source"]),
        (
            &serde_json::json!("help"),
            &serde_json::Value::Null,
            &serde_json::json!("admin")
        ),
        "{h}"
    );
    assert_eq!(
        refused(url, &["ticket", "take", &two, "--as", BOB], b"").0,
        "not_member"
    );

    let mut cfg = t.config();
    cfg.public_url = Some("http://status.example".into());
    for who in ["sam@example.com", "nobody@example.com"] {
        docket::service::sign_in_link::send(&t.db, &cfg, who, docket::store::now_ms())
            .await
            .expect("resend");
    }
    let links: Vec<String> =
        sqlx::query_scalar("SELECT to_addrs FROM outbox WHERE kind = 'sign_in_link'")
            .fetch_all(&t.db.pool)
            .await
            .expect("links");
    assert_eq!(
        links,
        vec!["sam@example.com".to_string()],
        "only a requestor gets a link"
    );
    t.close().await;
}
both!(
    personal_limits_membership_and_fresh_links,
    limits_membership_and_fresh_links
);
