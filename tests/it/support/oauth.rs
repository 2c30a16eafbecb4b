//! An OAuth2 authorization server on 127.0.0.1 for the tests: a token
//! endpoint that issues access tokens by the refresh-token grant (RFC 6749
//! §6) and an introspection endpoint (RFC 7662) that Dovecot and the SMTP
//! peer ask whether a token is good. The test revokes refresh tokens and
//! expires access tokens early, as a real provider may.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::json;

pub const CLIENT_ID: &str = "docket-test";
pub const CLIENT_SECRET: &str = "client-secret-1";

#[derive(Default)]
struct State {
    /// refresh token → user
    refresh: HashMap<String, String>,
    /// access token → (user, expires)
    access: HashMap<String, (String, Instant)>,
    lifetime_secs: u64,
    issued: usize,
    last: Option<String>,
}

pub struct OAuthServer {
    pub base: String,
    state: Arc<Mutex<State>>,
}

fn form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn token(state: &Mutex<State>, body: &str) -> (StatusCode, String) {
    let f = form(body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return (
            StatusCode::UNAUTHORIZED,
            json!({"error": "invalid_client"}).to_string(),
        );
    }
    if get("grant_type") != "refresh_token" {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"}).to_string(),
        );
    }
    let mut s = state.lock().unwrap();
    let Some(user) = s.refresh.get(get("refresh_token")).cloned() else {
        return (
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_grant",
                   "error_description": "The refresh token was revoked."})
            .to_string(),
        );
    };
    s.issued += 1;
    let access = format!("at-{}-{:08x}", s.issued, rand::random::<u32>());
    let life = s.lifetime_secs;
    s.last = Some(access.clone());
    s.access.insert(
        access.clone(),
        (user, Instant::now() + Duration::from_secs(life)),
    );
    (
        StatusCode::OK,
        json!({"access_token": access, "token_type": "Bearer", "expires_in": life}).to_string(),
    )
}

fn introspect(state: &Mutex<State>, body: &str) -> String {
    let f = form(body);
    let s = state.lock().unwrap();
    match f.get("token").and_then(|t| s.access.get(t)) {
        Some((user, until)) if *until > Instant::now() => {
            json!({"active": true, "username": user}).to_string()
        }
        _ => json!({"active": false}).to_string(),
    }
}

impl OAuthServer {
    pub async fn start() -> OAuthServer {
        let state = Arc::new(Mutex::new(State {
            lifetime_secs: 3600,
            ..State::default()
        }));
        let (a, b) = (state.clone(), state.clone());
        let app = axum::Router::new()
            .route(
                "/token",
                axum::routing::post(move |body: String| {
                    let s = a.clone();
                    async move { token(&s, &body) }
                }),
            )
            .route(
                "/introspect",
                axum::routing::post(move |body: String| {
                    let s = b.clone();
                    async move { introspect(&s, &body) }
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OAuthServer { base, state }
    }

    pub fn token_url(&self) -> String {
        format!("{}/token", self.base)
    }

    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.base)
    }

    /// A refresh token for `user`, as the provider's consent flow gives one.
    pub fn grant(&self, refresh: &str, user: &str) {
        let mut s = self.state.lock().unwrap();
        s.refresh.insert(refresh.into(), user.into());
    }

    pub fn revoke(&self, refresh: &str) {
        self.state.lock().unwrap().refresh.remove(refresh);
    }

    /// Every access token stops working now, before its stated expiry.
    pub fn expire_access(&self) {
        self.state.lock().unwrap().access.clear();
    }

    /// What `expires_in` new tokens get.
    pub fn set_lifetime(&self, secs: u64) {
        self.state.lock().unwrap().lifetime_secs = secs;
    }

    /// The access token issued last.
    pub fn last_token(&self) -> Option<String> {
        self.state.lock().unwrap().last.clone()
    }

    /// Access tokens issued so far.
    pub fn issued(&self) -> usize {
        self.state.lock().unwrap().issued
    }
}
