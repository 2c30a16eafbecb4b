//! Webhook deliveries: signed, in order per ticket, each once by
//! `webhook-id`, surviving the receiver being down; dead after about three
//! days and re-sendable; `410 Gone` disables the endpoint.

use std::time::Duration;

use docket::domain::webhook_sign;
use serde_json::json;

use super::{Api, Mode, Receiver, serve, token};
use crate::both;
use crate::support::{Backend, TestDb, docket, ok};

both!(webhooks_survive_the_receiver_being_down, deliveries);

async fn deliveries(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    ok(docket(
        &t.url,
        &["app", "add", "migrator", "--queue", "migrations"],
        b"",
    ));
    let (_, app) = token(&t, &["migrator", "--app"]);
    let served = serve(&t, t.config()).await;
    let api = Api::new(&served.base);
    let rx = Receiver::start().await;

    let r = api
        .post(
            "/api/v1/webhooks",
            &app,
            json!({"url": rx.url, "events": ["nope"]}),
        )
        .await;
    assert_eq!(r.status, 422, "unknown events are refused");
    let r = api
        .post(
            "/api/v1/webhooks",
            &app,
            json!({"url": rx.url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let (hook, secret) = (
        r.json["id"].as_i64().unwrap(),
        r.json["secret"].as_str().unwrap().to_string(),
    );
    assert!(secret.starts_with("whsec_"));
    let listed = api.get("/api/v1/webhooks", &app).await;
    assert!(
        !listed.json.to_string().contains(&secret),
        "the secret is shown once"
    );

    let r = api
        .put(
            "/api/v1/task-types/check",
            &app,
            json!({"fields": [{"name": "n", "type": "number", "label": "N"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let mk = |title: &str| json!({"type": "check", "queue": "migrations", "title": title, "hidden": true});
    let a = api.post("/api/v1/tasks", &app, mk("a")).await.json["id"]
        .as_i64()
        .unwrap();

    // The receiver is down: changes pile up, nothing is lost.
    rx.set(Mode::Down);
    for n in 1..=3 {
        let r = api
            .patch(&format!("/api/v1/tasks/{a}/fields"), &app, json!({"n": n}))
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        let r = api
            .post(
                &format!("/api/v1/tickets/{a}/comments"),
                &app,
                json!({"body": format!("step {n}")}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
    }
    for _ in 0..100 {
        if *rx.refused.lock().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        *rx.refused.lock().unwrap() > 0,
        "the first attempt met the outage"
    );
    let pending = t
        .scalar_i64("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
        .await;
    assert_eq!(
        pending, 3,
        "three comments wait (field writes are not events)"
    );
    // Back up: the retry (5 s later) delivers them, in order, once each.
    rx.set(Mode::Up);
    let got = rx.wait_for(3, 30).await;
    let bodies: Vec<String> = got.iter().map(|g| g.json()["type"].to_string()).collect();
    assert!(
        bodies.iter().all(|b| b == "\"ticket.updated\""),
        "{bodies:?}"
    );
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "each delivery once");
    for g in &got {
        assert!(
            webhook_sign::verify(&secret, &g.id, g.timestamp, &g.body, &g.signature),
            "signed"
        );
        assert!(!webhook_sign::verify(
            "whsec_AAAA",
            &g.id,
            g.timestamp,
            &g.body,
            &g.signature
        ));
    }
    let log = api
        .get(&format!("/api/v1/webhooks/{hook}/deliveries"), &app)
        .await;
    let entries = log.json["items"].as_array().unwrap().clone();
    assert!(
        entries.iter().all(|e| e["status"] == "sent"),
        "{}",
        log.json
    );
    // The first met the outage and was retried; the later ones waited
    // behind it (same ticket) and went out once, after it.
    let first = entries.last().unwrap();
    assert!(
        first["attempts"].as_i64().unwrap() >= 2,
        "retried: {}",
        log.json
    );
    assert_eq!(first["last_status"], 204, "{}", log.json);
    // Sent in the order they were written: the log (newest first) reversed.
    let written: Vec<String> = entries
        .iter()
        .rev()
        .map(|e| e["webhook_id"].as_str().unwrap().to_string())
        .collect();
    let arrived: Vec<String> = got.iter().map(|g| g.id.clone()).collect();
    assert_eq!(
        written, arrived,
        "per-ticket order kept through the retries"
    );

    // Dead after about three days of failures, then re-sendable.
    served.stop().await;
    rx.set(Mode::Down);
    let actor = "app-migrator@apps.docket.invalid";
    docket::service::tickets::comment(
        &t.db,
        &t.config(),
        a,
        actor,
        "late",
        docket::store::now_ms(),
    )
    .await
    .unwrap();
    let client = docket::service::webhooks::client().unwrap();
    let mut now = docket::store::now_ms();
    let mut attempts = 0;
    loop {
        let r = docket::service::webhooks::deliver_due(&t.db, &client, now)
            .await
            .unwrap();
        attempts += r.retried + r.dead;
        if r.dead == 1 {
            break;
        }
        assert!(attempts < 20, "dies within the schedule");
        now += 21 * 3600 * 1000;
    }
    assert_eq!(attempts, 10, "ten attempts over about three days");
    let dead: i64 = t
        .scalar_i64("SELECT id FROM webhook_deliveries WHERE status = 'dead'")
        .await;
    rx.set(Mode::Up);
    assert!(
        docket::service::webhooks::resend(&t.db, dead, now)
            .await
            .unwrap()
    );
    let r = docket::service::webhooks::deliver_due(&t.db, &client, now)
        .await
        .unwrap();
    assert_eq!(r.sent, 1);
    let got = rx.all();
    assert_eq!(got.last().unwrap().json()["data"]["ticket"], a);

    // 410 Gone disables the endpoint; its later deliveries wait.
    rx.set(Mode::Gone);
    docket::service::tickets::comment(&t.db, &t.config(), a, actor, "gone", now)
        .await
        .unwrap();
    let r = docket::service::webhooks::deliver_due(&t.db, &client, now)
        .await
        .unwrap();
    assert_eq!(r.disabled, 1);
    let disabled = t
        .scalar_i64("SELECT COUNT(*) FROM webhooks WHERE disabled_at IS NOT NULL")
        .await;
    assert_eq!(disabled, 1);
    docket::service::tickets::comment(&t.db, &t.config(), a, actor, "after", now)
        .await
        .unwrap();
    let r = docket::service::webhooks::deliver_due(&t.db, &client, now + 86_400_000)
        .await
        .unwrap();
    assert_eq!(
        r.sent + r.retried + r.dead,
        0,
        "a disabled endpoint gets nothing"
    );
    t.close().await;
}

both!(a_narrowed_token_subscribes_to_its_queues_only, narrowed);

/// An application with two areas; an endpoint subscribed with a token
/// narrowed to one of them hears of that one only.
async fn narrowed(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    ok(docket(
        &t.url,
        &["app", "add", "migrator", "--queue", "migrations"],
        b"",
    ));
    let out = ok(docket(
        &t.url,
        &[
            "app",
            "add-queue",
            "migrator",
            "--queue",
            "restores",
            "--json",
        ],
        b"",
    ));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["queue"], "restores", "{out}");
    let (_, app) = token(&t, &["migrator", "--app"]);
    let (_, narrow) = token(&t, &["migrator", "--app", "--queue", "migrations"]);
    let served = serve(&t, t.config()).await;
    let api = Api::new(&served.base);
    let rx = Receiver::start().await;
    let r = api
        .post(
            "/api/v1/webhooks",
            &narrow,
            json!({"url": rx.url, "events": ["*"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let r = api
        .put(
            "/api/v1/task-types/check",
            &app,
            json!({"fields": [{"name": "n", "type": "number", "label": "N"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut ids = Vec::new();
    for queue in ["restores", "migrations"] {
        let r = api
            .post(
                "/api/v1/tasks",
                &app,
                json!({"type": "check", "queue": queue, "title": queue, "hidden": true}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        ids.push(r.json["id"].as_i64().unwrap());
        let r = api
            .post(
                &format!("/api/v1/tickets/{}/comments", ids[ids.len() - 1]),
                &app,
                json!({"body": "Watching."}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
    }
    rx.wait_for(1, 30).await;
    let got: Vec<serde_json::Value> = rx.all().iter().map(|g| g.json()).collect();
    assert!(got.iter().any(|g| g["data"]["ticket"] == ids[1]), "{got:?}");
    // Deliveries are written with the change: none was ever made for the
    // other queue's ticket.
    let other = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE ticket_id = {}",
            ids[0]
        ))
        .await;
    assert_eq!(other, 0, "nothing about the other queue");
    assert!(
        got.iter().all(|g| g["data"]["queue"] == "migrations"),
        "{got:?}"
    );

    // The narrowed token sees and manages only its own endpoints; a token
    // cannot be narrowed to a queue that is not the application's.
    let r = api
        .post(
            "/api/v1/webhooks",
            &app,
            json!({"url": rx.url, "events": ["*"]}),
        )
        .await;
    let app_wide = r.json["id"].as_i64().unwrap();
    let listed = api.get("/api/v1/webhooks", &narrow).await.json;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    let r = api
        .get(&format!("/api/v1/webhooks/{app_wide}/deliveries"), &narrow)
        .await;
    assert_eq!(r.status, 404);
    t.add_queue("ops", "ops@example.com", None).await;
    let out = docket(
        &t.url,
        &[
            "token", "add", "migrator", "--app", "--queue", "ops", "--json",
        ],
        b"",
    );
    assert!(!out.status.success(), "ops is not the application's");
    let why = String::from_utf8_lossy(&out.stderr);
    assert!(why.contains("not the application's"), "{why}");
    served.stop().await;
    t.close().await;
}
