//! Signing in and out: argon2 passwords, session cookies (HttpOnly,
//! SameSite=Lax, Secure behind TLS, expiring), CSRF tokens on every form, a
//! limit on failed sign-ins.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::WebError;
use super::form::FormData;
use super::pages::Page;
use crate::store::sessions;

pub const SESSION_COOKIE: &str = "docket_session";
/// Double-submit token for the sign-in form, before there is a session.
pub const LOGIN_CSRF_COOKIE: &str = "docket_csrf";
const SESSION_HOURS: i64 = 12;

pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Behind a TLS-terminating proxy the cookie must be Secure.
pub(crate) fn behind_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

pub(crate) fn set_cookie(name: &str, value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The signed-in staff member; anything else is sent to `/login`.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub admin: bool,
    pub csrf: String,
    /// The zone they read times in: their own, else the instance's.
    pub tz: chrono_tz::Tz,
}

impl CurrentUser {
    /// Times on their pages, relative to `now` and in their zone.
    pub fn viewer(&self, now: i64) -> super::pages::Viewer {
        super::pages::Viewer { now, tz: self.tz }
    }

    pub fn page(&self) -> Page {
        Page {
            user: Some(self.email.clone()),
            admin: self.admin,
            csrf: self.csrf.clone(),
            flash: None,
        }
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, form: &FormData) -> Result<(), WebError> {
        match form.get("csrf") {
            Some(t) if constant_time_eq(t.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(WebError::Forbidden(
                "The form was missing its security token or it expired. Reload the page and try again.".into(),
            )),
        }
    }
}

/// A signed-in user's form post whose CSRF token checked out. Every
/// handler that changes something takes one, so none can forget the check.
pub struct Posted {
    pub user: CurrentUser,
    pub form: FormData,
}

impl FromRequest<AppState> for Posted {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = CurrentUser::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = axum::extract::Request::from_parts(parts, body);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = FormData::parse(&bytes);
        user.check_csrf(&form)
            .map_err(IntoResponse::into_response)?;
        Ok(Posted { user, form })
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub enum AuthRejection {
    SignIn,
    Error(WebError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::SignIn => Redirect::to("/login").into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(AuthRejection::SignIn);
        };
        let mut conn = state
            .db
            .pool
            .acquire()
            .await
            .map_err(|e| AuthRejection::Error(e.into()))?;
        let found = sessions::find(&mut conn, &hash_token(&token), state.now())
            .await
            .map_err(|e| AuthRejection::Error(e.into()))?;
        match found {
            Some(s) if s.role != "requestor" => Ok(CurrentUser {
                id: s.user_id,
                email: s.email,
                admin: s.role == "admin",
                csrf: s.csrf_token,
                tz: s
                    .time_zone
                    .and_then(|z| z.parse().ok())
                    .unwrap_or(state.cfg.time_zone),
            }),
            _ => Err(AuthRejection::SignIn),
        }
    }
}

/// The client's IP address: the peer, or, when the peer is a reverse
/// proxy on this host, the last hop it put in `X-Forwarded-For`.
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = || {
            parts
                .headers
                .get("x-forwarded-for")?
                .to_str()
                .ok()?
                .rsplit(',')
                .next()?
                .trim()
                .parse::<IpAddr>()
                .ok()
        };
        Ok(ClientAddr(match peer {
            Some(ip) if ip.is_loopback() => forwarded().or(Some(ip)),
            other => other,
        }))
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    email: String,
    error: Option<String>,
}

fn login_page(
    status: StatusCode,
    csrf: String,
    email: String,
    error: Option<String>,
    secure: bool,
) -> Response {
    let body = LoginPage {
        page: Page {
            user: None,
            admin: false,
            csrf: csrf.clone(),
            flash: None,
        },
        email,
        error,
    }
    .render();
    match body {
        Ok(html) => {
            let mut res = (status, Html(html)).into_response();
            res.headers_mut().insert(
                header::SET_COOKIE,
                set_cookie(LOGIN_CSRF_COOKIE, &csrf, 3600, secure),
            );
            res
        }
        Err(e) => WebError::from(e).into_response(),
    }
}

pub async fn login_form(headers: HeaderMap) -> Response {
    login_page(
        StatusCode::OK,
        random_token(),
        String::new(),
        None,
        behind_tls(&headers),
    )
}

pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    let secure = behind_tls(&headers);
    let email = form.text("email").unwrap_or_default().to_lowercase();
    let fresh = random_token();
    let csrf_ok = match (form.get("csrf"), cookie(&headers, LOGIN_CSRF_COOKIE)) {
        (Some(f), Some(c)) => constant_time_eq(f.as_bytes(), c.as_bytes()),
        _ => false,
    };
    if !csrf_ok {
        return Ok(login_page(
            StatusCode::FORBIDDEN,
            fresh,
            email,
            Some("The sign-in form expired. Please try again.".into()),
            secure,
        ));
    }
    if state.limiter.blocked(&email, client, Instant::now()) {
        return Ok(login_page(
            StatusCode::TOO_MANY_REQUESTS,
            fresh,
            email,
            Some(
                "Too many failed sign-ins for this address from here. Wait 15 minutes and try again.".into(),
            ),
            secure,
        ));
    }
    let password = form.get("password").unwrap_or("");
    use crate::service::directory::{SignIn, sign_in};
    let user_id = match sign_in(&state.db, &state.cfg, &email, password, state.now()).await? {
        SignIn::Welcome(id) => id,
        SignIn::Requestor(id) => {
            state.limiter.clear(&email, client);
            let link =
                crate::service::filing::link_for_user(&state.db, &state.cfg, id, state.now())
                    .await?;
            return Ok(super::pages::my_session::enter(&link, secure));
        }
        SignIn::DirectoryDown => {
            return Ok(login_page(
                StatusCode::SERVICE_UNAVAILABLE,
                fresh,
                email,
                Some(
                    "The staff directory cannot be reached just now, so directory accounts \
                     cannot sign in. Local accounts still can; try again in a few minutes."
                        .into(),
                ),
                secure,
            ));
        }
        SignIn::Refused => {
            state.limiter.fail(&email, client, Instant::now());
            tracing::warn!("failed sign-in");
            return Ok(login_page(
                StatusCode::UNAUTHORIZED,
                fresh,
                email,
                Some("Wrong email or password.".into()),
                secure,
            ));
        }
    };
    let mut conn = state.db.pool.acquire().await?;
    state.limiter.clear(&email, client);
    let token = random_token();
    let now = state.now();
    sessions::create(
        &mut conn,
        &hash_token(&token),
        user_id,
        &random_token(),
        now,
        now + SESSION_HOURS * 3_600_000,
    )
    .await?;
    let mut res = Redirect::to("/queues").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, SESSION_HOURS * 3600, secure),
    );
    Ok(res)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    _: Posted,
) -> Result<Response, WebError> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let mut conn = state.db.pool.acquire().await?;
        sessions::delete(&mut conn, &hash_token(&token), state.now()).await?;
    }
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, behind_tls(&headers)),
    );
    Ok(res)
}
