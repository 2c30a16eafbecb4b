//! Tokens and rights, problems, idempotency keys, cursor pages, the flow's
//! rules through the API.

use serde_json::json;

use super::{Api, person, serve, token};
use crate::both;
use crate::support::{Backend, TestDb, docket, ok};

both!(tokens_rights_problems_and_idempotency, basics);

async fn basics(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let support = t.add_queue("support", "support@example.com", None).await;
    let ops = t.add_queue("ops", "ops@example.com", None).await;
    person(&t, "alice@example.com", "staff", &[support]).await;
    person(&t, "bob@example.com", "staff", &[ops]).await;
    ok(docket(
        &t.url,
        &["app", "add", "migrator", "--queue", "migrations"],
        b"",
    ));
    ok(docket(
        &t.url,
        &["app", "add", "other", "--queue", "other-area"],
        b"",
    ));
    let (_, app) = token(&t, &["migrator", "--app"]);
    let (_, other) = token(&t, &["other", "--app"]);
    let (_, alice) = token(&t, &["alice-cli", "--user", "alice@example.com"]);
    let (_, bob) = token(&t, &["bob-cli", "--user", "bob@example.com"]);
    let (_, reader) = token(&t, &["ro", "--user", "alice@example.com", "--read-only"]);
    let (gone_id, gone) = token(&t, &["old", "--user", "alice@example.com"]);
    ok(docket(
        &t.url,
        &["token", "revoke", &gone_id.to_string()],
        b"",
    ));
    // People are never members of an application's queue.
    let out = docket(
        &t.url,
        &["queue", "member", "migrations", "alice@example.com"],
        b"",
    );
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && why.contains("belongs to an application"),
        "{why}"
    );
    let listed = ok(docket(&t.url, &["token", "list", "--json"], b""));
    assert!(!listed.contains("dk_"), "token list never shows a secret");
    let served = serve(&t, t.config()).await;
    let api = Api::new(&served.base);

    // No token, a revoked one, a made-up one: 401 problems.
    for tok in [None, Some(gone.as_str()), Some("dk_nonsense")] {
        let r = api.call("GET", "/api/v1/tickets", tok, None, None).await;
        assert_eq!(r.status, 401);
        assert_eq!(r.problem(), "/api/v1/problems/unauthorized");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    }

    // Creating: the requestor is acknowledged as by mail.
    let new = json!({"queue": "support", "subject": "VPN down", "body": "Since 9.",
                     "requestor": "Sam@Example.net"});
    let r = api.post("/api/v1/tickets", &alice, new.clone()).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.json["id"].as_i64().unwrap();
    assert_eq!(r.json["status"], "new");
    assert_eq!(r.json["requestors"], json!(["sam@example.net"]));
    let acks = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND ticket_id = {id}"
        ))
        .await;
    assert_eq!(acks, 1, "the requestor is acknowledged");

    // Outside the token's queues: an application cannot use a people's
    // queue, a person not another team's, nor a read-only token write.
    let r = api.post("/api/v1/tickets", &app, new.clone()).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.problem(), "/api/v1/problems/invalid");
    for tok in [&app, &bob, &other] {
        assert_eq!(
            api.get(&format!("/api/v1/tickets/{id}"), tok).await.status,
            404
        );
    }
    let r = api
        .post(
            &format!("/api/v1/tickets/{id}/comments"),
            &bob,
            json!({"body": "x"}),
        )
        .await;
    assert_eq!(r.status, 404, "bob cannot even see it");
    assert_eq!(
        api.get(&format!("/api/v1/tickets/{id}"), &reader)
            .await
            .status,
        200
    );
    let r = api
        .post(
            &format!("/api/v1/tickets/{id}/replies"),
            &reader,
            json!({"body": "hi"}),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.problem(), "/api/v1/problems/read_only");

    // One application never sees another's area.
    let r = api
        .put(
            "/api/v1/task-types/ping",
            &app,
            json!({"fields": [{"name": "n", "type": "number", "label": "N"}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = api
        .post(
            "/api/v1/tasks",
            &other,
            json!({"type": "ping", "queue": "migrations", "title": "x", "hidden": true}),
        )
        .await;
    assert_eq!(r.status, 422, "another application's queue: {}", r.json);
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            json!({"type": "ping", "queue": "migrations", "title": "mine", "hidden": true}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let task = r.json["id"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{task}"), &other)
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{task}"), &alice)
            .await
            .status,
        404
    );
    let r = api.get("/api/v1/tickets?limit=200", &alice).await;
    assert!(
        r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != task)
    );

    // The application reassigns and cancels its tasks; the new assignee
    // reads it, the old one no longer does.
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            json!({"type": "ping", "queue": "migrations", "title": "hand me", "assignee": "alice@example.com"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let handed = r.json["id"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{handed}"), &alice)
            .await
            .status,
        200
    );
    let r = api
        .put(
            &format!("/api/v1/tasks/{handed}/assignee"),
            &app,
            json!({"assignee": "bob@example.com"}),
        )
        .await;
    assert_eq!(r.json["assignee"], "bob@example.com", "{}", r.json);
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{handed}"), &alice)
            .await
            .status,
        404
    );
    assert_eq!(
        api.get(&format!("/api/v1/tasks/{handed}"), &bob)
            .await
            .status,
        200
    );
    let r = api
        .post(
            &format!("/api/v1/tasks/{handed}/cancel"),
            &app,
            json!({"reason": "not needed"}),
        )
        .await;
    assert_eq!(r.json["status"], "rejected", "{}", r.json);
    let r = api
        .post(&format!("/api/v1/tasks/{handed}/cancel"), &bob, json!({}))
        .await;
    assert_eq!(r.status, 403, "only the application drives its tasks");

    // The flow's rules: a refused transition is 409 naming the rule, a
    // missing reason 422; both problems with a stable type.
    let r = api
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &alice,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.problem(), "/api/v1/problems/reason_required");
    let r = api
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &alice,
            json!({"status": "rejected", "reason": "spam"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = api
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &alice,
            json!({"status": "stalled", "reason": "x"}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.json);
    assert_eq!(r.problem(), "/api/v1/problems/transition");
    let r = api
        .patch(
            &format!("/api/v1/tickets/{id}"),
            &alice,
            json!({"priority": 12}),
        )
        .await;
    assert_eq!(r.status, 422);
    let r = api
        .call("POST", "/api/v1/tickets", Some(&alice), None, None)
        .await;
    assert_eq!(r.status, 400, "no body");
    let r = api
        .post("/api/v1/tickets", &alice, json!({"queue": "support"}))
        .await;
    assert_eq!(r.status, 422, "missing fields");

    // Idempotency-Key: the same request replays the first answer (one
    // ticket), another body with the key is 422, a key in flight 409.
    let body = json!({"queue": "support", "subject": "Once", "body": "only once",
                      "requestor": "kim@example.net"});
    let first = api
        .call(
            "POST",
            "/api/v1/tickets",
            Some(&alice),
            Some(body.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(first.status, 201);
    let again = api
        .call(
            "POST",
            "/api/v1/tickets",
            Some(&alice),
            Some(body.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(
        t.scalar_i64("SELECT COUNT(*) FROM tickets WHERE subject = 'Once'")
            .await,
        1
    );
    let other_body = json!({"queue": "support", "subject": "Twice", "body": "b", "requestor": "kim@example.net"});
    let r = api
        .call(
            "POST",
            "/api/v1/tickets",
            Some(&alice),
            Some(other_body.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.problem(), "/api/v1/problems/idempotency_key_reused");
    // The same key from another token is another key.
    let r = api
        .call(
            "POST",
            "/api/v1/tickets",
            Some(&reader),
            Some(other_body.clone()),
            Some("k-1"),
        )
        .await;
    assert_eq!(r.status, 403, "read-only, not a replay of alice's answer");
    let alice_token_id: i64 = t
        .scalar_i64("SELECT id FROM api_tokens WHERE name = 'alice-cli'")
        .await;
    {
        let mut c = t.db.pool.acquire().await.unwrap();
        docket::store::api::claim_key(&mut c, alice_token_id, "k-2", "x", docket::store::now_ms())
            .await
            .unwrap();
    }
    let r = api
        .call(
            "POST",
            "/api/v1/tickets",
            Some(&alice),
            Some(other_body),
            Some("k-2"),
        )
        .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.problem(), "/api/v1/problems/idempotency_key_in_flight");

    // Cursor pages: limit and after, `next` null on the last page.
    for n in 0..3 {
        let r = api
            .post(
                "/api/v1/tickets",
                &alice,
                json!({"queue": "support",
            "subject": format!("Page {n}"), "body": "p", "requestor": "pat@example.net"}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let r = api
            .get(
                &format!("/api/v1/tickets?queue=support&limit=2&after={after}"),
                &alice,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        for i in r.json["items"].as_array().unwrap() {
            seen.push(i["id"].as_i64().unwrap());
        }
        match r.json["next"].as_str() {
            Some(n) => after = n.to_string(),
            None => break,
        }
    }
    let all = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM tickets WHERE queue_id = {support}"
        ))
        .await;
    assert_eq!(seen.len() as i64, all);
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "oldest first, no repeats"
    );
    assert_eq!(api.get("/api/v1/tickets?limit=0", &alice).await.status, 422);
    assert_eq!(
        api.get("/api/v1/tickets?after=abc", &alice).await.status,
        422
    );

    // Reads: queues of the token, staff, reports.
    let q = api.get("/api/v1/queues", &alice).await;
    assert_eq!(q.json["items"].as_array().unwrap().len(), 1, "{}", q.json);
    let q = api.get("/api/v1/queues", &app).await;
    assert_eq!(q.json["items"][0]["name"], "migrations");
    assert_eq!(q.json["items"][0]["application"], true);
    let u = api.get("/api/v1/users", &app).await;
    assert!(u.json.to_string().contains("alice@example.com"));
    assert!(
        !u.json.to_string().contains("apps.docket.invalid"),
        "applications are not people"
    );
    let aging = api.get("/api/v1/reports/aging", &alice).await;
    assert_eq!(aging.status, 200, "{}", aging.json);
    let sla = api.get("/api/v1/reports/sla", &alice).await;
    assert_eq!(sla.status, 200, "{}", sla.json);
    let _ = ops;
    served.stop().await;
    t.close().await;
}
