//! A task's assignee from outside the application's queue: they see the
//! task and fill in its open fields, nothing more. Not the ticket's status
//! or priority on the web, not commands by mail, not the application's
//! comments or its fields for itself, not its hidden tasks; and nothing at
//! all once the directory takes their staff account away.

use serde_json::json;

use super::{Api, person, serve, token};
use crate::both;
use crate::support::{Backend, TestDb, docket, mail, ok, web};

both!(
    an_assignee_fills_in_fields_and_nothing_more,
    assignee_limits
);

/// A signed-in session over plain HTTP, and a CSRF token.
async fn sign_in(base: &str, email: &str) -> (reqwest::Client, String) {
    let (r, c) = web::sign_in(base, email, crate::browser::PASSWORD).await;
    assert_eq!(r.status(), 303, "signed in");
    let page = c.get(format!("{base}/tasks")).send().await.unwrap();
    let csrf = web::hidden(&page.text().await.unwrap(), "csrf");
    (c, csrf)
}

async fn assignee_limits(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("ops", "ops@example.com", None).await;
    ok(docket(
        &t.url,
        &["app", "add", "migrator", "--queue", "migrations"],
        b"",
    ));
    let dana_id = person(&t, "dana@example.com", "staff", &[]).await;
    let (_, app) = token(&t, &["migrator", "--app"]);
    let (_, dana) = token(&t, &["dana-laptop", "--user", "dana@example.com"]);
    let served = serve(&t, t.config()).await;
    let api = Api::new(&served.base);
    let r = api
        .put(
            "/api/v1/task-types/choose-date",
            &app,
            json!({"fields": [
                {"name": "date", "type": "date", "label": "Migration date"},
                {"name": "secret", "type": "string", "label": "Vault path", "visible_to": ["app"]}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            json!({"type": "choose-date", "queue": "migrations", "title": "Choose a date",
                   "assignee": "dana@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let task = r.json["id"].as_i64().unwrap();
    let before = api.get(&format!("/api/v1/tickets/{task}"), &app).await.json;

    // A field for the application alone cannot be opened to the assignee.
    let r = api
        .post(
            &format!("/api/v1/tasks/{task}/input-needed"),
            &app,
            json!({"fields": ["secret"]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.json);
    assert_eq!(r.json["errors"][0]["field"], "secret", "{}", r.json);

    // What the application writes for itself stays out of the history the
    // assignee reads; its comments are not mailed to them.
    let r = api
        .patch(
            &format!("/api/v1/tasks/{task}/fields"),
            &app,
            json!({"date": "2026-12-10", "secret": "vault/zz-private"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = api
        .post(
            &format!("/api/v1/tickets/{task}/comments"),
            &app,
            json!({"body": "Lag is fine, zz-internal note."}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let history = api
        .get(&format!("/api/v1/tickets/{task}/history"), &dana)
        .await;
    assert_eq!(history.status, 200);
    let h = history.json.to_string();
    assert!(h.contains("Migration date: 2026-12-10"), "{h}");
    assert!(h.contains("1 field(s) for the application only"), "{h}");
    assert!(
        !h.contains("zz-private") && !h.contains("zz-internal"),
        "{h}"
    );
    let (web, csrf) = sign_in(&served.base, "dana@example.com").await;
    let page = web
        .get(format!("{}/tickets/{task}", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the assignee sees the task");
    let html = page.text().await.unwrap();
    assert!(html.contains("Choose a date"));
    assert!(!html.contains("zz-private") && !html.contains("zz-internal"));
    let told = t
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE body LIKE '%zz-internal%'")
        .await;
    assert_eq!(told, 0, "the application's comment reaches nobody by mail");

    // On the web the assignee changes nothing of the ticket itself.
    for (path, form) in [
        ("action", vec![("action", "priority"), ("priority", "9")]),
        ("comment", vec![("body", "sneaky comment")]),
        ("reply", vec![("body", "sneaky reply")]),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let r = web
            .post(format!("{}/tickets/{task}/{path}", served.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path}");
        // Refused for want of the right, not of the CSRF token.
        let why = r.text().await.unwrap();
        assert!(why.contains("Only the queue"), "{path}: {why}");
    }
    let r = web
        .post(format!("{}/tickets/bulk", served.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ids", &task.to_string()),
            ("action", "priority"),
            ("priority", "9"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "bulk");
    assert!(r.text().await.unwrap().contains("Only the queue"));

    // By mail, through their personal address: words, never commands.
    let (reply_to, subject, msg_id): (String, String, String) = {
        let mut c = t.db.pool.acquire().await.unwrap();
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT reply_to, subject, message_id FROM outbox WHERE ticket_id = {task} \
             AND to_addrs = 'dana@example.com' ORDER BY id LIMIT 1"
        )))
        .fetch_one(&mut *c)
        .await
        .unwrap()
    };
    let raw = mail(
        "Dana <dana@example.com>",
        &reply_to,
        &format!("Re: {subject}"),
        "dana-cmd@example.com",
        &format!("In-Reply-To: <{msg_id}>\r\n"),
        "Status: rejected\nPriority: 9\n\nI would rather not.",
    );
    ok(docket(&t.url, &["mailgate"], &raw));
    let after = api.get(&format!("/api/v1/tickets/{task}"), &app).await.json;
    assert_eq!(after["status"], before["status"], "no command ran: {after}");
    assert_eq!(after["priority"], before["priority"], "{after}");
    let h = api
        .get(&format!("/api/v1/tickets/{task}/history"), &app)
        .await
        .json
        .to_string();
    assert!(h.contains("I would rather not."), "the reply is kept: {h}");

    // The application's hidden task under this one shows only to it.
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            json!({"type": "choose-date", "queue": "migrations", "title": "Watch it",
                   "parent": task, "hidden": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let hidden = r.json["id"].as_i64().unwrap();
    let mine = api.get(&format!("/api/v1/tickets/{task}"), &app).await;
    assert_eq!(mine.json["children"], json!([hidden]));
    let theirs = api.get(&format!("/api/v1/tickets/{task}"), &dana).await;
    assert_eq!(theirs.json["children"], json!([]), "{}", theirs.json);
    let h = api
        .get(&format!("/api/v1/tickets/{task}/history"), &dana)
        .await
        .json
        .to_string();
    assert!(!h.contains(&format!("#{hidden}")), "{h}");

    // The directory takes the account away: token and feed stop working.
    let feed = api
        .call("POST", "/api/v1/calendar-feeds", Some(&dana), None, None)
        .await;
    assert_eq!(feed.status, 201, "{}", feed.json);
    let feed_url = format!("{}{}", served.base, feed.json["url"].as_str().unwrap());
    assert_eq!(reqwest::get(&feed_url).await.unwrap().status(), 200);
    {
        let mut c = t.db.pool.acquire().await.unwrap();
        docket::store::users::disable_staff(&mut c, dana_id)
            .await
            .unwrap();
    }
    let r = api.get(&format!("/api/v1/tasks/{task}"), &dana).await;
    assert_eq!(r.status, 401, "{}", r.json);
    assert_eq!(reqwest::get(&feed_url).await.unwrap().status(), 404);

    served.stop().await;
    t.close().await;
}
