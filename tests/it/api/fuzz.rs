//! The OpenAPI document validates (openapi-spec-validator), and
//! Schemathesis, from PyPI, fuzzes every operation of a live server with an
//! application's token and a person's: no 5xx, no response outside the
//! document (status, content type, headers, schema), invalid input refused.

use std::path::PathBuf;
use std::process::Command;

use serde_json::json;

use super::{Api, person, serve, token};
use crate::both;
use crate::support::{Backend, TestDb, docket, missing_peer, ok};

both!(the_openapi_document_holds_under_fuzzing, fuzz);

fn schemathesis() -> Option<PathBuf> {
    let st = std::env::var("DOCKET_TEST_SCHEMATHESIS")
        .ok()
        .map(PathBuf::from);
    match st.filter(|p| p.exists()) {
        Some(p) => Some(p),
        None => {
            missing_peer(
                "Schemathesis",
                "DOCKET_TEST_SCHEMATHESIS unset (scripts/test-peers.sh installs it)",
            );
            None
        }
    }
}

async fn fuzz(b: Backend) {
    let Some(st) = schemathesis() else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let support = t.add_queue("support", "support@example.com", None).await;
    person(&t, "alice@example.com", "staff", &[support]).await;
    ok(docket(
        &t.url,
        &["app", "add", "migrator", "--queue", "migrations"],
        b"",
    ));
    let (_, app) = token(&t, &["migrator", "--app"]);
    let (_, alice) = token(&t, &["alice", "--user", "alice@example.com"]);
    let served = serve(&t, t.config()).await;
    let api = Api::new(&served.base);

    // The document is valid OpenAPI 3.1 and describes every operation.
    let doc = api
        .call("GET", "/api/v1/openapi.json", None, None, None)
        .await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json["openapi"], "3.1.0");
    let ops: usize = doc.json["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(ops, 36, "every route is in the document");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, doc.json.to_string()).unwrap();
    let validator = st.with_file_name("openapi-spec-validator");
    let out = Command::new(&validator)
        .arg(&file)
        .output()
        .expect("openapi-spec-validator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Something real to work on, so the operations reach past 404.
    let r = api
        .put(
            "/api/v1/task-types/check",
            &app,
            json!({"fields": [
        {"name": "n", "type": "number", "label": "N"},
        {"name": "when", "type": "date", "label": "When"}]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api
        .post(
            "/api/v1/tasks",
            &app,
            json!({"type": "check", "queue": "migrations",
        "title": "Check", "assignee": "alice@example.com"}),
        )
        .await;
    let task = r.json["id"].as_i64().unwrap();
    api.post(
        &format!("/api/v1/tasks/{task}/input-needed"),
        &app,
        json!({"fields": ["n", "when"]}),
    )
    .await;
    let r = api
        .post(
            "/api/v1/tickets",
            &alice,
            json!({"queue": "support", "subject": "Fuzz me",
        "body": "x", "requestor": "r@example.net"}),
        )
        .await;
    let ticket = r.json["id"].as_i64().unwrap();
    let r = api
        .post(
            "/api/v1/webhooks",
            &app,
            json!({"url": "http://127.0.0.1:9/hook", "events": ["*"]}),
        )
        .await;
    let hook = r.json["id"].as_i64().unwrap();
    api.post(
        &format!("/api/v1/tickets/{task}/comments"),
        &app,
        json!({"body": "to deliver"}),
    )
    .await;
    let delivery = t.scalar_i64("SELECT MAX(id) FROM webhook_deliveries").await;
    let at = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let r = api
        .post(
            &format!("/api/v1/tasks/{task}/schedule"),
            &app,
            json!({"at": at, "set": {"n": 1}}),
        )
        .await;
    let sid = r.json["id"].as_i64().unwrap();

    for (who, tok, ticket_id) in [("application", &app, task), ("person", &alice, ticket)] {
        let config = dir.path().join(format!("{who}.toml"));
        std::fs::write(&config, format!(
            "[[operations]]\ninclude-path-regex = '^/api/v1/tickets/\\{{id\\}}'\nparameters = {{ id = {ticket_id} }}\n\
             [[operations]]\ninclude-path-regex = '^/api/v1/tasks/\\{{id\\}}'\nparameters = {{ id = {task}, sid = {sid} }}\n\
             [[operations]]\ninclude-path-regex = '^/api/v1/webhooks/\\{{id\\}}'\nparameters = {{ id = {hook} }}\n\
             [[operations]]\ninclude-path-regex = '^/api/v1/webhook-deliveries/'\nparameters = {{ id = {delivery} }}\n\
             [[operations]]\ninclude-path-regex = '^/api/v1/task-types/'\nparameters = {{ name = 'check' }}\n"
        )).unwrap();
        let out = Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &format!("{}/api/v1/openapi.json", served.base)])
            .args(["-H", &format!("Authorization: Bearer {tok}")])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                response_schema_conformance,response_headers_conformance,negative_data_rejection,\
                use_after_free,ignored_auth",
            ])
            .args([
                "--max-examples",
                "25",
                "-w",
                "1",
                "--no-color",
                "--seed",
                "1",
            ])
            .env("SCHEMATHESIS_HOOKS", "")
            .current_dir(dir.path())
            .output()
            .expect("schemathesis");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis as the {who} found problems:\n{text}"
        );
        assert!(
            text.contains("Tested: 36"),
            "every operation ran as the {who}:\n{text}"
        );
    }
    served.stop().await;
    t.close().await;
}
