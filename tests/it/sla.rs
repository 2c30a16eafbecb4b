//! SLA clocks and the reports through their command-line contract, on
//! histories built at known times with `import --keep-dates`.

use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestDb, docket, json_ok, ok};

/// The error code of a refused `docket ARGS --json`.
fn refused(url: &str, args: &[&str]) -> String {
    crate::support::refused(url, args, b"").0
}

const ALICE: &str = "alice@example.com";
const CAROL: &str = "carol@example.com";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn rfc3339(ms: i64) -> String {
    docket::store::rfc3339(ms)
}

/// One mail of an mbox, written at `at`.
fn mbox_mail(from: &str, subject: &str, id: &str, at: i64, extra: &str, body: &str) -> String {
    let date = chrono::DateTime::from_timestamp_millis(at)
        .expect("date")
        .to_rfc2822();
    format!(
        "From {from} Mon Jan  1 00:00:00 2024\nFrom: {from}\nTo: help@example.com\n\
         Subject: {subject}\nMessage-ID: <{id}>\nDate: {date}\n{extra}\n{body}\n\n"
    )
}

/// Imports `mbox` keeping its dates; the tickets created, in order.
fn import(t: &TestDb, mbox: &str) -> Vec<i64> {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("archive.mbox");
    std::fs::write(&path, mbox).expect("write");
    let path = path.to_str().expect("path").to_string();
    let out = ok(docket(
        &t.url,
        &["import", &path, "--queue", "help", "--keep-dates", "--json"],
        b"",
    ));
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["outcome"] == "created")
        .filter_map(|v| v["ticket"].as_i64())
        .collect()
}

async fn team(b: Backend) -> Option<TestDb> {
    let t = TestDb::new(b).await?;
    t.add_queue("help", "help@example.com", None).await;
    for (who, role) in [(ALICE, "engineer"), (CAROL, "triager")] {
        ok(docket(&t.url, &["user", "add", who], b"a long password\n"));
        ok(docket(
            &t.url,
            &["queue", "member", "help", who, "--role", role],
            b"",
        ));
    }
    Some(t)
}

fn sla_of(url: &str, id: i64) -> Value {
    json_ok(url, &["ticket", "show", &id.to_string()])["sla"].clone()
}

/// Calendars and policies refuse bad input; a ticket's deadlines follow
/// its history; a breach is recorded and mailed once, raising the
/// priority; waiting on the requestor stops the clock; a staff reply
/// stops the response clock.
async fn clocks_and_breaches(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    let office = json_ok(
        url,
        &[
            "calendar",
            "add",
            "office",
            "--tz",
            "Europe/Berlin",
            "--hours",
            "mon-fri 09:00-12:00,13:00-17:00",
            "--holiday",
            "2026-12-24",
        ],
    );
    assert_eq!(office["time_zone"], "Europe/Berlin");
    assert_eq!(office["hours"][0], "mon 09:00-12:00,13:00-17:00");
    assert_eq!(office["holidays"], json!(["2026-12-24"]));
    assert_eq!(
        refused(
            url,
            &[
                "calendar",
                "add",
                "x",
                "--tz",
                "Mars/Olympus",
                "--hours",
                "mon 09:00-17:00"
            ]
        ),
        "invalid"
    );
    assert_eq!(
        refused(
            url,
            &["calendar", "add", "x", "--tz", "UTC", "--hours", "mon 9-17"]
        ),
        "invalid"
    );
    // Holidays from an iCalendar file: an all-day event's DTEND is the day after.
    let dir = tempfile::tempdir().expect("dir");
    let ics = dir.path().join("holidays.ics");
    std::fs::write(
        &ics,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Christmas\r\n\
         DTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nSUMMARY:New Year\r\nDTSTART;VALUE=DATE:20270101\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .expect("ics");
    let from_ics = json_ok(
        url,
        &[
            "calendar",
            "add",
            "ics",
            "--tz",
            "Europe/Berlin",
            "--hours",
            "mon-fri 09:00-17:00",
            "--holidays-ics",
            ics.to_str().expect("path"),
        ],
    );
    assert_eq!(
        from_ics["holidays"],
        json!(["2026-12-24", "2026-12-25", "2026-12-26", "2027-01-01"])
    );
    let names: Vec<String> = json_ok(url, &["calendar", "list"])
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect();
    assert_eq!(names, ["24x7", "ics", "office"]);
    assert_eq!(
        refused(
            url,
            &[
                "sla",
                "add",
                "bad",
                "--queue",
                "help",
                "--first-response",
                "soon",
                "--resolve",
                "1d",
                "--calendar",
                "24x7"
            ]
        ),
        "invalid"
    );
    let policy = json_ok(
        url,
        &[
            "sla",
            "add",
            "std",
            "--queue",
            "help",
            "--first-response",
            "1h",
            "--resolve",
            "8h",
            "--next-response",
            "30m",
            "--calendar",
            "24x7",
            "--escalate-priority",
            "5",
        ],
    );
    assert_eq!(
        policy["pause"],
        json!(["needs-info", "postponed", "stalled"])
    );

    // Written three hours ago: its first response is two hours late.
    let now = docket::store::now_ms();
    let created = (now - 3 * HOUR) / 1000 * 1000;
    let old = import(
        &t,
        &mbox_mail(
            "sam@example.com",
            "printer on fire",
            "s1@x",
            created,
            "",
            "help",
        ),
    )[0];
    let s = sla_of(url, old);
    assert_eq!(s["policy"], "std");
    assert_eq!(s["first_response_due"], rfc3339(created + HOUR).as_str());
    assert_eq!(s["resolve_due"], rfc3339(created + 8 * HOUR).as_str());
    assert_eq!(s["first_response_at"], Value::Null);
    assert_eq!(s["breached"], json!(["first_response"]));

    let pass = json_ok(url, &["scheduler", "run", "--once"]);
    assert_eq!(pass["breached"], json!([[old, "first_response"]]));
    let again = json_ok(url, &["scheduler", "run", "--once"]);
    assert_eq!(again["breached"], json!([]), "a breach is recorded once");
    let mails: Vec<String> = sqlx::query_scalar(
        "SELECT to_addrs FROM outbox WHERE kind = 'sla_breach' AND ticket_id = $1",
    )
    .bind(old)
    .fetch_all(&t.db.pool)
    .await
    .expect("mails");
    assert_eq!(mails, [CAROL.to_string()], "the triager hears once");
    let shown = json_ok(url, &["ticket", "show", &old.to_string()]);
    assert_eq!(shown["priority"], 5, "the policy raised the priority");
    let noted = shown["transactions"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|x| x["type"] == "sla")
        .count();
    assert_eq!(noted, 1, "{shown}");

    // A fresh ticket: waiting on the requestor stops its clocks.
    let fresh = import(
        &t,
        &mbox_mail(
            "kim@example.com",
            "new laptop",
            "k1@x",
            now - 10 * 60_000,
            "",
            "hi",
        ),
    )[0];
    let before = sla_of(url, fresh);
    assert_eq!(before["paused"], false);
    let ask = ["ticket", "request-info", &fresh.to_string(), "--as", CAROL];
    ok(docket(url, &ask, b"Which model?"));
    let paused = sla_of(url, fresh);
    assert_eq!(paused["paused"], true);
    assert_eq!(
        paused["first_response_due"],
        Value::Null,
        "a stopped clock has no deadline"
    );
    // The request-info mail is the first staff reply: the response clock stopped.
    assert!(paused["first_response_at"].is_string(), "{paused}");
    let reply = mbox_mail(
        "kim@example.com",
        &format!("Re: [Docket #{fresh}] new laptop"),
        "k2@x",
        // Written three seconds after the question (Date: has whole
        // seconds), so the pause shows in deadlines to the second.
        docket::store::now_ms() + 3_000,
        "",
        "A ThinkPad.",
    );
    import(&t, &reply);
    let resumed = sla_of(url, fresh);
    assert_eq!(resumed["paused"], false);
    let due = |v: &Value, k: &str| {
        chrono::DateTime::parse_from_rfc3339(v[k].as_str().expect(k))
            .expect("time")
            .timestamp_millis()
    };
    assert!(
        due(&resumed, "resolve_due") > due(&before, "resolve_due"),
        "the pause moved the deadline: {before} → {resumed}"
    );
    assert!(
        resumed["next_response_due"].is_string(),
        "the reply started the next-response clock"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    ok(docket(
        url,
        &["ticket", "reply", &fresh.to_string(), "--as", ALICE],
        b"Ordered.",
    ));
    let answered = sla_of(url, fresh);
    assert_eq!(answered["next_response_due"], Value::Null, "{answered}");
    assert_eq!(answered["breached"], json!([]));

    // A duplicate merged into another stops its clocks: only the survivor
    // is recorded and mailed as late.
    let two = format!(
        "{}{}",
        mbox_mail("lee@example.com", "wifi down", "w1@x", created, "", "a"),
        mbox_mail(
            "lee@example.com",
            "wifi down again",
            "w2@x",
            created,
            "",
            "b"
        )
    );
    let pair = import(&t, &two);
    let (keep, dup) = (pair[0].to_string(), pair[1].to_string());
    json_ok(
        url,
        &["ticket", "merge", &dup, "--into", &keep, "--as", CAROL],
    );
    assert_eq!(
        sla_of(url, pair[1])["policy"],
        Value::Null,
        "the merged ticket has no clocks"
    );
    // Answered late before the scheduler came round: still recorded.
    ok(docket(
        url,
        &["ticket", "reply", &keep, "--as", ALICE],
        b"On it.",
    ));
    let pass = json_ok(url, &["scheduler", "run", "--once"]);
    assert_eq!(pass["breached"], json!([[pair[0], "first_response"]]));
    t.close().await;
}
both!(
    sla_clocks_follow_the_history_and_breaches_are_recorded_once,
    clocks_and_breaches
);

/// The reports against a small history whose figures are worked out by
/// hand: tickets 2 h, 2 d, 5 d, 10 d, 20 d and 40 d old.
async fn reports(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    let now = docket::store::now_ms();
    let ages = [2 * HOUR, 2 * DAY, 5 * DAY, 10 * DAY, 20 * DAY, 40 * DAY];
    let mut mbox = String::new();
    for (i, age) in ages.iter().enumerate() {
        mbox.push_str(&mbox_mail(
            "sam@example.com",
            &format!("ticket {i}"),
            &format!("r{i}@x"),
            now - age,
            "",
            "b",
        ));
    }
    let ids = import(&t, &mbox);
    assert_eq!(ids.len(), 6);
    let aging = json_ok(url, &["report", "aging"]);
    let counts = |v: &Value| -> Vec<i64> {
        v["buckets"]
            .as_array()
            .expect("buckets")
            .iter()
            .map(|b| b["count"].as_i64().expect("n"))
            .collect()
    };
    let labels: Vec<&str> = aging["buckets"]
        .as_array()
        .expect("b")
        .iter()
        .map(|b| b["label"].as_str().expect("l"))
        .collect();
    assert_eq!(labels, ["<1d", "1-3d", "3-7d", "1-2w", "2-4w", ">4w"]);
    assert_eq!(counts(&aging), [1, 1, 1, 1, 1, 1]);
    assert_eq!(aging["by_queue"]["help"], json!([1, 1, 1, 1, 1, 1]));
    assert_eq!(aging["by_status"]["new"], json!([1, 1, 1, 1, 1, 1]));
    assert_eq!(aging["oldest"][0], ids[5]);

    // Alice takes the 10-day ticket and resolves it; the 40-day one stalls.
    let ten = ids[3].to_string();
    ok(docket(url, &["ticket", "take", &ten, "--as", ALICE], b""));
    ok(docket(
        url,
        &["ticket", "reply", &ten, "--as", ALICE],
        b"On it.",
    ));
    ok(docket(
        url,
        &[
            "ticket", "status", &ten, "resolved", "--reason", "done", "--as", ALICE,
        ],
        b"",
    ));
    let forty = ids[5].to_string();
    ok(docket(url, &["ticket", "take", &forty, "--as", ALICE], b""));
    ok(docket(
        url,
        &[
            "ticket", "status", &forty, "stalled", "--reason", "vendor", "--as", ALICE,
        ],
        b"",
    ));
    let after = json_ok(url, &["report", "aging"]);
    assert_eq!(counts(&after), [1, 1, 1, 0, 1, 1]);
    assert_eq!(after["by_status"]["stalled"], json!([0, 0, 0, 0, 0, 1]));
    assert_eq!(
        after["by_owner"]["alice@example.com"],
        json!([0, 0, 0, 0, 0, 1]),
        "{after}"
    );
    assert_eq!(
        after["stale"][0]["count"], 2,
        "the 2-hour one and the one stalled just now: {after}"
    );
    assert_eq!(
        after["in_status"][0]["count"], 2,
        "in its status under a day: the 2-hour one, and the one stalled just now: {after}"
    );
    assert_eq!(
        after["in_status"][2]["count"], 1,
        "the 5-day one is still new: {after}"
    );
    assert_eq!(
        json_ok(url, &["report", "aging", "--owner", ALICE])["oldest"],
        json!([ids[5]])
    );

    // Fifteen days ago only the 20- and 40-day tickets existed, both new.
    let then = rfc3339(now - 15 * DAY);
    let past = json_ok(url, &["report", "aging", "--at", &then]);
    assert_eq!(counts(&past), [0, 0, 1, 0, 1, 0]);
    assert_eq!(
        past["by_status"]["new"],
        json!([0, 0, 1, 0, 1, 0]),
        "{past}"
    );
    assert_eq!(past["by_owner"]["nobody"], json!([0, 0, 1, 0, 1, 0]));

    // Created and resolved per week, and the backlog at each week's end.
    let flow = json_ok(url, &["report", "flow", "--weeks", "8"]);
    let weeks = flow["weeks"].as_array().expect("weeks");
    assert_eq!(weeks.len(), 8);
    let this_week = docket::domain::aging::week_start(now);
    let mut created = [0i64; 8];
    for age in &ages {
        let w = (docket::domain::aging::week_start(now - age) - this_week) / (7 * DAY) + 7;
        created[w as usize] += 1;
    }
    let got: Vec<i64> = weeks
        .iter()
        .map(|w| w["created"].as_i64().expect("n"))
        .collect();
    assert_eq!(got, created, "{flow}");
    assert_eq!(weeks[7]["resolved"], 1);
    assert_eq!(weeks[7]["backlog"], 5);
    assert_eq!(weeks[0]["start"], rfc3339(this_week - 7 * 7 * DAY).as_str());
    let resolution = flow["resolution"]["median_s"].as_i64().expect("median");
    assert!(
        (resolution - 10 * 86_400).abs() < 120,
        "about ten days: {resolution}"
    );
    assert_eq!(flow["resolution"]["p90_s"], flow["resolution"]["median_s"]);
    let response = flow["first_response"]["median_s"]
        .as_i64()
        .expect("response");
    assert!((response - 10 * 86_400).abs() < 120, "{response}");

    // A policy set now applies to the open tickets, from their history.
    json_ok(
        url,
        &[
            "sla",
            "add",
            "std",
            "--queue",
            "help",
            "--first-response",
            "4h",
            "--resolve",
            "3d",
            "--calendar",
            "24x7",
        ],
    );
    let sla = json_ok(url, &["report", "sla"]);
    let mut breached: Vec<i64> = sla["breached"]
        .as_array()
        .expect("b")
        .iter()
        .filter_map(Value::as_i64)
        .collect();
    breached.sort_unstable();
    let mut expected = vec![ids[1], ids[2], ids[4], ids[5]];
    expected.sort_unstable();
    assert_eq!(
        breached, expected,
        "the 40-day ticket missed both targets before it stalled; the 10-day one is resolved: {sla}"
    );
    assert_eq!(
        sla["at_risk"],
        json!([]),
        "the 2-hour ticket has 2 of 4 hours: not yet 75%"
    );
    t.close().await;
}
both!(reports_match_a_hand_computed_history, reports);

/// A queue's digest goes to its triagers at its time, once, with the
/// figures the meeting reads; a bad schedule is refused.
async fn digests(b: Backend) {
    let Some(t) = team(b).await else { return };
    let url = t.url.as_str();
    let bad = docket(url, &["queue", "set", "help", "--digest", "someday"], b"");
    assert!(!bad.status.success(), "a bad schedule is refused");
    ok(docket(
        url,
        &[
            "calendar",
            "add",
            "office",
            "--tz",
            "Europe/Berlin",
            "--hours",
            "mon-fri 09:00-17:00",
            "--json",
        ],
        b"",
    ));
    json_ok(
        url,
        &[
            "sla",
            "add",
            "std",
            "--queue",
            "help",
            "--first-response",
            "4h",
            "--resolve",
            "2d",
            "--calendar",
            "office",
        ],
    );
    ok(docket(
        url,
        &["queue", "set", "help", "--digest", "mon 08:30"],
        b"",
    ));
    let due = t
        .scalar_i64("SELECT digest_next FROM queues WHERE name = 'help'")
        .await;
    let local = chrono::DateTime::from_timestamp_millis(due)
        .expect("time")
        .with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(
        local.format("%a %H:%M").to_string(),
        "Mon 08:30",
        "in the calendar's zone"
    );
    import(
        &t,
        &mbox_mail(
            "sam@example.com",
            "old request",
            "d1@x",
            docket::store::now_ms() - 3 * DAY,
            "",
            "b",
        ),
    );
    let early = json_ok(
        url,
        &["scheduler", "run", "--once", "--at", &rfc3339(due - 60_000)],
    );
    assert_eq!(early["digests"], json!([]), "not before its time");
    let at = rfc3339(due + 60_000);
    let sent = json_ok(url, &["scheduler", "run", "--once", "--at", &at]);
    assert_eq!(sent["digests"], json!([{"queue": "help", "to": [CAROL]}]));
    let again = json_ok(url, &["scheduler", "run", "--once", "--at", &at]);
    assert_eq!(again["digests"], json!([]), "once");
    let body: String = sqlx::query_scalar("SELECT body FROM outbox WHERE kind = 'digest'")
        .fetch_one(&t.db.pool)
        .await
        .expect("the digest");
    for part in [
        "Triage digest for help",
        "Open tickets by age (1)",
        "Oldest unowned:",
        "old request",
        "/triage?queue=help",
    ] {
        assert!(body.contains(part), "{part:?} missing from:\n{body}");
    }
    let next = t
        .scalar_i64("SELECT digest_next FROM queues WHERE name = 'help'")
        .await;
    let next_local = chrono::DateTime::from_timestamp_millis(next)
        .expect("time")
        .with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(next_local.format("%a %H:%M").to_string(), "Mon 08:30");
    assert!(
        (next - due - 7 * DAY).abs() <= 3_600_000,
        "the next one a week on"
    );
    t.close().await;
}
both!(a_queue_digest_goes_out_once_at_its_time, digests);

/// `dev seed` writes the newest tickets through ingest and the rest as
/// history in bulk: the reports and the SLA board read it, and on
/// PostgreSQL the full-text indexes are back after the load.
async fn seeded(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let url = t.url.as_str();
    let out = ok(docket(url, &["dev", "seed", "--tickets", "1200"], b""));
    assert!(out.contains("seeded:"), "{out}");
    let total = t.scalar_i64("SELECT COUNT(*) FROM tickets").await;
    assert!((1_150..=1_200).contains(&total), "{total} tickets");
    let bulk_with_clocks = t
        .scalar_i64("SELECT COUNT(*) FROM tickets WHERE sla_policy_id IS NOT NULL AND first_response_due IS NOT NULL")
        .await;
    assert!(
        bulk_with_clocks >= 200,
        "the history has SLA clocks: {bulk_with_clocks}"
    );
    let open = t
        .scalar_i64("SELECT COUNT(*) FROM tickets WHERE status NOT IN ('resolved', 'rejected') AND merged_into IS NULL")
        .await;
    let aging = json_ok(url, &["report", "aging"]);
    let counted: i64 = aging["buckets"]
        .as_array()
        .expect("b")
        .iter()
        .map(|b| b["count"].as_i64().expect("n"))
        .sum();
    assert_eq!(counted, open);
    let flow = json_ok(url, &["report", "flow", "--weeks", "4"]);
    assert_eq!(flow["weeks"][3]["backlog"], open);
    json_ok(url, &["report", "sla"]);
    if b == Backend::Postgres {
        let fts = t
            .scalar_i64("SELECT COUNT(*) FROM pg_indexes WHERE indexname IN ('transactions_body_fts', 'tickets_subject_fts')")
            .await;
        assert_eq!(fts, 2, "the full-text indexes are rebuilt after the load");
    }
    t.close().await;
}
both!(dev_seed_writes_history_the_reports_read, seeded);
