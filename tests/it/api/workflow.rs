//! The team's example end to end: a self-service database migration. The
//! application drives every hand-off from webhook deliveries alone (each
//! signature checked); the person acts in Chromium for one step, by mail
//! reply (through `docket mailgate`) for another, through the API for the
//! rest; the application's hidden lag-watching task never reaches the
//! person anywhere.

use std::time::Duration;

use docket::domain::webhook_sign;
use fantoccini::Locator;
use serde_json::{Value, json};

use super::{Api, Receiver, person, serve, token};
use crate::both;
use crate::browser::Browser;
use crate::support::{Backend, TestDb, docket, mail, ok};

both!(the_migration_workflow_end_to_end, migration);

/// The application's view of its webhook feed: every delivery verified,
/// read in order.
struct Feed<'a> {
    rx: &'a Receiver,
    secret: String,
    seen: usize,
}

impl Feed<'_> {
    /// The next event of `kind` (about `task`, when given); earlier ones
    /// of other kinds are passed over.
    async fn next(&mut self, kind: &str, task: Option<i64>) -> Value {
        for _ in 0..600 {
            let all = self.rx.all();
            while self.seen < all.len() {
                let g = &all[self.seen];
                self.seen += 1;
                assert!(
                    webhook_sign::verify(&self.secret, &g.id, g.timestamp, &g.body, &g.signature),
                    "every delivery is signed"
                );
                let v = g.json();
                let about = v["data"]["task"].as_i64().or(v["data"]["ticket"].as_i64());
                if v["type"] == kind && task.is_none_or(|t| about == Some(t)) {
                    return v["data"].clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {kind} event for {task:?}; got {:?}", self.rx.all());
    }
}

async fn migration(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    let ops = t.add_queue("ops", "ops@example.com", None).await;
    ok(docket(
        &t.url,
        &[
            "app",
            "add",
            "migrator",
            "--queue",
            "migrations",
            "--address",
            "migrations@example.com",
        ],
        b"",
    ));
    person(&t, "dana@example.com", "staff", &[ops]).await;
    person(&t, "root@example.com", "admin", &[]).await;
    let (_, app) = token(&t, &["migrator", "--app"]);
    let (_, dana) = token(&t, &["dana-laptop", "--user", "dana@example.com"]);
    let mut cfg = t.config();
    cfg.public_url = Some("http://docket.test".into());
    let served = serve(&t, cfg.clone()).await;
    let api = Api::new(&served.base);
    let rx = Receiver::start().await;
    let r = api
        .post(
            "/api/v1/webhooks",
            &app,
            json!({"url": rx.url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let mut feed = Feed {
        rx: &rx,
        secret: r.json["secret"].as_str().unwrap().into(),
        seen: 0,
    };

    let types = [
        (
            "choose-date",
            json!([
            {"name": "date", "type": "date", "required": true, "label": "Migration date"},
            {"name": "notes", "type": "text", "label": "Notes"},
            {"name": "internal_ref", "type": "string", "label": "Change ref", "visible_to": ["app"]}]),
        ),
        (
            "async-writes",
            json!([
            {"name": "enabled", "type": "boolean", "required": true, "label": "Asynchronous writes on"},
            {"name": "window", "type": "string", "label": "Window"}]),
        ),
        (
            "watch-lag",
            json!([{"name": "lag_seconds", "type": "number", "label": "Lag"}]),
        ),
        (
            "switch-sync",
            json!([
            {"name": "synchronous", "type": "boolean", "required": true, "label": "Synchronous writes on"},
            {"name": "note", "type": "string", "label": "Note"}]),
        ),
        (
            "switch-reads",
            json!([
            {"name": "reads_from", "type": "enum", "options": ["old", "new"], "required": true,
             "label": "Reads from"}]),
        ),
    ];
    for (name, fields) in types {
        let r = api
            .put(
                &format!("/api/v1/task-types/{name}"),
                &app,
                json!({"fields": fields}),
            )
            .await;
        assert_eq!(r.status, 200, "{name}: {}", r.json);
    }
    let bad = api
        .put(
            "/api/v1/task-types/bad",
            &app,
            json!({"fields": [{"name": "e", "type": "enum", "label": "E"}]}),
        )
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json["errors"][0]["field"], "fields[0]", "{}", bad.json);

    // The person files a "new migration" by mail to the application's area.
    let raw = mail(
        "Dana <dana@example.com>",
        "migrations@example.com",
        "New migration: orders DB",
        "req-1@example.com",
        "",
        "Please move the orders database to the new cluster.",
    );
    ok(docket(&t.url, &["mailgate"], &raw));
    let created = feed.next("ticket.created", None).await;
    let request = created["ticket"].as_i64().unwrap();
    assert_eq!(created["requestor"], "dana@example.com");

    // The application validates it and asks for a date.
    let hand = |kind: &str, title: &str| {
        json!({"type": kind, "queue": "migrations", "title": title,
        "assignee": "dana@example.com", "parent": request})
    };
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            hand("choose-date", "Choose the migration date"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let t1 = r.json["id"].as_i64().unwrap();
    assert_eq!(
        r.json["input_needed"],
        json!([]),
        "every field starts locked"
    );
    let due = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r = api
        .post(
            &format!("/api/v1/tasks/{t1}/input-needed"),
            &app,
            json!({"fields": ["date", "notes"], "message": "When may we move it?", "due": due}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["input_needed"], json!(["date", "notes"]));
    let form = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {t1} AND to_addrs = 'dana@example.com' \
         AND body LIKE '%Migration date: %'"
        ))
        .await;
    assert_eq!(form, 1, "the person is mailed the form");
    // The person's calendar shows when the input is due.
    let r = api
        .call("POST", "/api/v1/calendar-feeds", Some(&dana), None, None)
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let dana_feed = r.json["url"].as_str().unwrap().to_string();
    let ics = reqwest::get(format!("{}{dana_feed}", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR"), "{ics}");
    assert!(
        ics.contains(&format!("Input due: #{t1} Choose the migration date")),
        "{ics}"
    );

    // Step 1 on the web: the form shows exactly the open fields.
    br.sign_in(&served.base, "dana@example.com").await;
    br.client
        .goto(&format!("{}/tasks", served.base))
        .await
        .unwrap();
    br.wait_text("Choose the migration date").await;
    br.screenshot("tasks-mine").await;
    br.click(&format!("a[href='/tickets/{t1}']")).await;
    br.wait_text("Only these fields can be changed now").await;
    let inputs = br
        .client
        .find_all(Locator::Css("form.task-input [name^=f_]"))
        .await
        .unwrap();
    let mut names = Vec::new();
    for i in inputs {
        names.push(i.attr("name").await.unwrap().unwrap());
    }
    assert_eq!(names, ["f_date", "f_notes"], "only the open fields");
    let text = br.text().await;
    assert!(
        !text.contains("Change ref"),
        "a field for the application only is not shown"
    );
    br.screenshot("task-input").await;
    // A locked field slipped into the form is ignored; a bad date refused.
    br.client
        .execute(
            "const f = document.querySelector('form.task-input'); \
         const i = document.createElement('input'); i.type = 'hidden'; i.name = 'f_internal_ref'; \
         i.value = 'forged'; f.appendChild(i); \
         document.querySelector('[name=f_date]').type = 'text'; \
         document.querySelector('[name=f_date]').value = 'next week';",
            vec![],
        )
        .await
        .unwrap();
    br.click("form.task-input button[type=submit]").await;
    br.wait_text("is not a date like 2026-12-31").await;
    br.screenshot("task-input-error").await;
    br.client
        .execute(
            "document.querySelector('[name=f_date]').value = '2026-12-10';",
            vec![],
        )
        .await
        .unwrap();
    br.fill("textarea[name=f_notes]", "After the freeze.").await;
    br.click("form.task-input button[type=submit]").await;
    br.wait_text("Migration date").await;
    let submitted = feed.next("task.input_submitted", Some(t1)).await;
    assert_eq!(
        submitted["fields"],
        json!({"date": "2026-12-10", "notes": "After the freeze."})
    );
    assert_eq!(submitted["via"], "web");
    let task = api.get(&format!("/api/v1/tasks/{t1}"), &app).await;
    assert_eq!(task.json["input_needed"], json!([]), "locked again");
    assert!(
        task.json["fields"].get("internal_ref").is_none(),
        "the forged field was not taken"
    );

    // The application records its change ref, completes, hands the next task.
    let r = api
        .patch(
            &format!("/api/v1/tasks/{t1}/fields"),
            &app,
            json!({"internal_ref": "CHG-42"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = api
        .post(&format!("/api/v1/tasks/{t1}/complete"), &app, json!({}))
        .await;
    assert_eq!(r.json["status"], "resolved", "{}", r.json);
    feed.next("task.completed", Some(t1)).await;
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            hand("async-writes", "Set up asynchronous writes"),
        )
        .await;
    let t2 = r.json["id"].as_i64().unwrap();
    let r = api
        .post(
            &format!("/api/v1/tasks/{t2}/input-needed"),
            &app,
            json!({"fields": ["enabled"], "message": "Turn on asynchronous writes, then tell us."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);

    // Step 2 by mail: answers to the task's mail, through the mailgate.
    let (reply_to, subject, msg_id) = task_mail(&t, t2).await;
    let answer = |n: u32, body: &str| {
        mail(
            "Dana <dana@example.com>",
            &reply_to,
            &format!("Re: {subject}"),
            &format!("answer-{n}@example.com"),
            &format!("In-Reply-To: <{msg_id}>\r\n"),
            body,
        )
    };
    ok(docket(
        &t.url,
        &["mailgate"],
        &answer(1, "Asynchronous writes on: maybe\n\nDana"),
    ));
    let told = last_body(&t, t2).await;
    assert!(
        told.contains("Asynchronous writes on") && told.contains("yes or no"),
        "{told}"
    );
    ok(docket(
        &t.url,
        &["mailgate"],
        &answer(2, "Window: tonight\nAsynchronous writes on: yes"),
    ));
    let told = last_body(&t, t2).await;
    assert!(
        told.contains("Window is locked"),
        "a locked field in a reply is refused: {told}"
    );
    ok(docket(
        &t.url,
        &["mailgate"],
        &answer(3, "Asynchronous writes on: yes\n\nDone, Dana"),
    ));
    let submitted = feed.next("task.input_submitted", Some(t2)).await;
    assert_eq!(submitted["fields"], json!({"enabled": true}));
    assert_eq!(submitted["via"], "mail");

    // The application keeps a hidden task while it watches the lag, and
    // schedules its own update; the scheduler carries it out once.
    api.post(&format!("/api/v1/tasks/{t2}/complete"), &app, json!({}))
        .await;
    let r = api.post("/api/v1/tasks", &app, json!({"type": "watch-lag", "queue": "migrations",
        "title": "Watch replication lag", "hidden": true, "parent": request, "fields": {"lag_seconds": 40}})).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let hidden = r.json["id"].as_i64().unwrap();
    let eta = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let r = api
        .post(
            &format!("/api/v1/tickets/{hidden}/eta"),
            &app,
            json!({"at": eta, "reason": "lag"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let queue_feed = ok(docket(
        &t.url,
        &["feed", "add", "--queue", "migrations", "--json"],
        b"",
    ));
    let queue_feed: Value = serde_json::from_str(&queue_feed).unwrap();
    let path = queue_feed["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://docket.test")
        .to_string();
    let ics = reqwest::get(format!("{}{path}", served.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        ics.starts_with("BEGIN:VCALENDAR") && !ics.contains(&format!("#{hidden}")),
        "{ics}"
    );
    // A revoked feed answers 404.
    let feed_id = queue_feed["id"].as_i64().unwrap().to_string();
    ok(docket(&t.url, &["feed", "revoke", &feed_id], b""));
    let gone = reqwest::get(format!("{}{path}", served.base))
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = api
        .post(
            &format!("/api/v1/tasks/{hidden}/schedule"),
            &app,
            json!({"at": at,
        "set": {"lag_seconds": 0, "status": "resolved", "reason": "replication caught up"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let changed = feed.next("ticket.status_changed", Some(hidden)).await;
    assert_eq!(changed["new"], "resolved");
    let s = api
        .get(&format!("/api/v1/tasks/{hidden}/schedule"), &app)
        .await;
    assert_eq!(s.json["items"][0]["status"], "done", "{}", s.json);
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{hidden}"), &app).await.json["fields"]["lag_seconds"],
        0
    );

    // Step 3 through the API with the person's token: locked fields are 403.
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            hand("switch-sync", "Switch to synchronous writes"),
        )
        .await;
    let t4 = r.json["id"].as_i64().unwrap();
    api.post(
        &format!("/api/v1/tasks/{t4}/input-needed"),
        &app,
        json!({"fields": ["synchronous"]}),
    )
    .await;
    let r = api
        .patch(
            &format!("/api/v1/tasks/{t4}/fields"),
            &dana,
            json!({"note": "x"}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.json);
    assert_eq!(r.problem(), "/api/v1/problems/locked");
    let r = api
        .patch(
            &format!("/api/v1/tasks/{t4}/fields"),
            &dana,
            json!({"synchronous": "yes please"}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["errors"][0]["field"], "synchronous");
    let r = api
        .patch(
            &format!("/api/v1/tasks/{t4}/fields"),
            &dana,
            json!({"synchronous": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    feed.next("task.input_submitted", Some(t4)).await;
    let r = api
        .patch(
            &format!("/api/v1/tasks/{t4}/fields"),
            &dana,
            json!({"synchronous": false}),
        )
        .await;
    assert_eq!(r.status, 403, "locked again after submitting");
    api.post(&format!("/api/v1/tasks/{t4}/complete"), &app, json!({}))
        .await;
    let r = api
        .post("/api/v1/tasks", &app, hand("switch-reads", "Switch reads"))
        .await;
    let t5 = r.json["id"].as_i64().unwrap();
    api.post(
        &format!("/api/v1/tasks/{t5}/input-needed"),
        &app,
        json!({"fields": ["reads_from"]}),
    )
    .await;
    let r = api
        .patch(
            &format!("/api/v1/tasks/{t5}/fields"),
            &dana,
            json!({"reads_from": "new"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    feed.next("task.input_submitted", Some(t5)).await;
    api.post(&format!("/api/v1/tasks/{t5}/complete"), &app, json!({}))
        .await;
    let r = api
        .patch(
            &format!("/api/v1/tickets/{request}"),
            &app,
            json!({"status": "resolved", "reason": "Migrated to the new cluster."}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["children"], json!([t1, t2, hidden, t4, t5]));

    hidden_from_people(&t, &api, &br, &served.base, &dana, hidden, &cfg).await;
    br.stop().await;
    served.stop().await;
    t.close().await;
}

/// The task mail to the person: Reply-To, subject, Message-ID.
async fn task_mail(t: &TestDb, task: i64) -> (String, String, String) {
    let mut c = t.db.pool.acquire().await.unwrap();
    let row: (Option<String>, String, String) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT reply_to, subject, message_id FROM outbox WHERE ticket_id = {task} \
         AND to_addrs = 'dana@example.com' ORDER BY id DESC LIMIT 1"
    )))
    .fetch_one(&mut *c)
    .await
    .unwrap();
    (row.0.unwrap(), row.1, row.2)
}

async fn last_body(t: &TestDb, task: i64) -> String {
    let mut c = t.db.pool.acquire().await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT body FROM outbox WHERE ticket_id = {task} ORDER BY id DESC LIMIT 1"
    )))
    .fetch_one(&mut *c)
    .await
    .unwrap()
}

/// The hidden task appears nowhere a person looks: web pages (the
/// assignee's and an admin's), the API with the person's token, the
/// status page, mail, search, counts, reports, the calendar feed.
async fn hidden_from_people(
    t: &TestDb,
    api: &Api,
    br: &Browser,
    base: &str,
    dana: &str,
    hidden: i64,
    cfg: &docket::config::Config,
) {
    let title = "Watch replication lag";
    for path in [
        format!("/api/v1/tickets/{hidden}"),
        format!("/api/v1/tasks/{hidden}"),
        format!("/api/v1/tickets/{hidden}/history"),
    ] {
        assert_eq!(api.get(&path, dana).await.status, 404, "{path}");
    }
    for path in [
        "/api/v1/tasks",
        "/api/v1/tickets?limit=200",
        "/api/v1/reports/aging",
        "/api/v1/reports/sla",
    ] {
        let r = api.get(path, dana).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(!r.json.to_string().contains(title), "{path}: {}", r.json);
        assert!(
            !r.json.to_string().contains(&format!("\"id\":{hidden},")),
            "{path}"
        );
    }
    let mails = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {hidden} OR body LIKE '%{title}%'"
        ))
        .await;
    assert_eq!(mails, 0, "no mail ever speaks of it");
    // The person's pages, then an admin's.
    for (who, pages) in [
        (
            "dana@example.com",
            vec![
                "/tasks",
                "/queues",
                "/triage",
                "/wip",
                "/sla",
                "/search?q=lag",
                "/reports/aging",
                "/reports/flow",
            ],
        ),
        (
            "root@example.com",
            vec![
                "/queues",
                "/triage",
                "/wip",
                "/sla",
                "/search?q=lag",
                "/reports/aging",
                "/reports/aging.csv",
                "/reports/flow",
            ],
        ),
    ] {
        br.client.delete_all_cookies().await.unwrap();
        br.sign_in(base, who).await;
        for p in pages {
            br.client.goto(&format!("{base}{p}")).await.unwrap();
            let text = br.text().await;
            assert!(
                !text.contains(title) && !text.contains("migrations"),
                "{who} {p}: {text}"
            );
        }
        br.client
            .goto(&format!("{base}/tickets/{hidden}"))
            .await
            .unwrap();
        assert!(
            br.text().await.contains("Not found"),
            "{who} cannot open it"
        );
    }
    // The requestor's status page.
    let link = {
        let mut c = t.db.pool.acquire().await.unwrap();
        docket::service::requestor::link_for(
            &mut c,
            cfg,
            "dana@example.com",
            docket::store::now_ms(),
        )
        .await
        .unwrap()
        .unwrap()
    };
    let page = reqwest::get(link.replace("http://docket.test", base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("New migration"),
        "the status page works: {page}"
    );
    assert!(
        !page.contains(title) && !page.contains(&format!("#{hidden}")),
        "{page}"
    );
    let r = api
        .call("POST", "/api/v1/calendar-feeds", Some(dana), None, None)
        .await;
    let ics = reqwest::get(format!("{base}{}", r.json["url"].as_str().unwrap()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!ics.contains(title), "{ics}");
}
