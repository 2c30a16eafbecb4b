//! The JSON API over real HTTP: tokens and rights, problems, idempotency,
//! typed tasks with locked fields, webhooks to a receiver in the test, the
//! OpenAPI document and a fuzzer against it, and the migration workflow
//! end to end.

mod assignee;
mod basics;
mod fuzz;
mod hooks;
mod workflow;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestDb, docket, ok};

/// An API client on a served instance.
pub struct Api {
    pub base: String,
    http: reqwest::Client,
}

/// A response: status, headers, JSON (or `Null`).
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Res {
    /// The problem's `type`, e.g. `/api/v1/problems/transition`.
    pub fn problem(&self) -> &str {
        assert_eq!(
            self.headers["content-type"], "application/problem+json",
            "a problem document: {}",
            self.json
        );
        self.json["type"].as_str().unwrap_or("")
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Res {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut r = self.http.request(m, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(k) = key {
            r = r.header("idempotency-key", k);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let res = r.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            json,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Res {
        self.call("GET", path, Some(token), None, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Res {
        self.call("POST", path, Some(token), Some(body), None).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Res {
        self.call("PUT", path, Some(token), Some(body), None).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Res {
        self.call("PATCH", path, Some(token), Some(body), None)
            .await
    }
}

/// `docket token add …` → the token.
pub fn token(t: &TestDb, args: &[&str]) -> (i64, String) {
    let mut all = vec!["token", "add"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = ok(docket(&t.url, &all, b""));
    let v: Value = serde_json::from_str(&out).expect("json");
    (
        v["id"].as_i64().expect("id"),
        v["token"].as_str().expect("token").to_string(),
    )
}

/// A staff account with the browser tests' password, member of `queues`.
pub async fn person(t: &TestDb, email: &str, role: &str, queues: &[i64]) -> i64 {
    let mut c = t.db.pool.acquire().await.expect("conn");
    let hash = docket::service::auth::hash_password(crate::browser::PASSWORD).expect("hash");
    let id = docket::store::users::upsert_staff(&mut c, email, role, Some(&hash), 0)
        .await
        .expect("user");
    for q in queues {
        docket::store::users::add_to_queue(&mut c, *q, id)
            .await
            .expect("member");
    }
    id
}

/// One delivery as the receiver got it.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
}

impl Got {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("delivery body")
    }
}

/// What the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    Down,
    Gone,
}

/// A webhook receiver on 127.0.0.1: records every delivery it accepts.
pub struct Receiver {
    pub url: String,
    pub got: Arc<Mutex<Vec<Got>>>,
    pub mode: Arc<Mutex<Mode>>,
    /// Attempts answered while down or gone.
    pub refused: Arc<Mutex<usize>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        use axum::http::{HeaderMap, StatusCode};
        let got: Arc<Mutex<Vec<Got>>> = Arc::default();
        let mode = Arc::new(Mutex::new(Mode::Up));
        let refused: Arc<Mutex<usize>> = Arc::default();
        let (g, m, r) = (got.clone(), mode.clone(), refused.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let (g, m, r) = (g.clone(), m.clone(), r.clone());
                async move {
                    let mode = *m.lock().unwrap();
                    if mode != Mode::Up {
                        *r.lock().unwrap() += 1;
                        return if mode == Mode::Gone {
                            StatusCode::GONE
                        } else {
                            StatusCode::SERVICE_UNAVAILABLE
                        };
                    }
                    let h = |k: &str| {
                        headers
                            .get(k)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    g.lock().unwrap().push(Got {
                        id: h("webhook-id"),
                        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
                        signature: h("webhook-signature"),
                        body,
                    });
                    StatusCode::NO_CONTENT
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url,
            got,
            mode,
            refused,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn all(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` deliveries arrived (at most `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Got> {
        for _ in 0..secs * 20 {
            let all = self.all();
            if all.len() >= n {
                return all;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "only {} of {n} deliveries arrived: {:?}",
            self.all().len(),
            self.all()
        );
    }
}

/// Served with fast workers: webhooks every 100 ms, the scheduler every 200 ms.
pub async fn serve(t: &TestDb, cfg: docket::config::Config) -> crate::support::Served {
    let opts = docket::app::Options {
        webhook_interval: Duration::from_millis(100),
        scheduler_interval: Duration::from_millis(200),
        ..Default::default()
    };
    crate::support::Served::start(t, cfg, opts, |a| a).await
}
