//! `/my` and `/my/new` for a requestor who signed in (through the
//! directory) or opened the link mailed to them: the link is kept in a
//! cookie scoped to `/my`, so the page, its forms and the new-ticket form
//! all work from it. No staff power comes with it.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::Page;
use crate::domain::status_link::Checked;
use crate::service::ServiceError;
use crate::web::AppState;
use crate::web::auth::cookie;
use crate::web::error::WebError;
use crate::web::form::FormData;

pub const MY_COOKIE: &str = "docket_my";

/// The cookie that keeps a requestor's link (thirty days, like the link).
pub fn remember(link_token: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{MY_COOKIE}={link_token}; Path=/my; HttpOnly; SameSite=Lax; Max-Age=2592000{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Signed in as a requestor: to `/my`, the link kept.
pub fn enter(link_token: &str, secure: bool) -> Response {
    let mut res = Redirect::to("/my").into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, remember(link_token, secure));
    res
}

/// The kept link, when still valid.
async fn kept(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, WebError> {
    let Some(token) = cookie(headers, MY_COOKIE) else {
        return Ok(None);
    };
    let now = state.now();
    match crate::service::requestor::link_is_valid(&state.db, &state.cfg, &token, now).await? {
        Checked::Valid(_) => Ok(Some(token)),
        _ => Ok(None),
    }
}

/// `/my`: the requestor's page, from the kept link.
pub async fn mine(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Query<std::collections::HashMap<String, String>>,
) -> Result<Response, WebError> {
    match kept(&state, &headers).await? {
        Some(token) => super::requestor::show(State(state), Path(token), q).await,
        None => Ok(Redirect::to("/login").into_response()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "my/new.html")]
pub struct NewRequest {
    page: Page,
    queues: Vec<String>,
    form_token: String,
    error: Option<String>,
    queue: String,
    subject: String,
    body: String,
}

async fn form_page(
    state: &AppState,
    token: &str,
    error: Option<String>,
    f: &FormData,
) -> Result<NewRequest, WebError> {
    let mut conn = state.db.conn().await?;
    let secret = crate::service::notify::reply_secret(&mut conn, &state.cfg).await?;
    Ok(NewRequest {
        page: Page::anonymous(),
        queues: crate::service::filing::open_queues(&state.db).await?,
        form_token: crate::domain::status_link::form_token(secret.expose(), token),
        error,
        queue: f.text("queue").unwrap_or_default(),
        subject: f.text("subject").unwrap_or_default(),
        body: f.text("body").unwrap_or_default(),
    })
}

/// `GET /my/new`: the form.
pub async fn new_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let Some(token) = kept(&state, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    Ok(form_page(&state, &token, None, &FormData::default())
        .await?
        .into_response())
}

/// `POST /my/new`: the same pipeline as mail; a bad field comes back on
/// the form with what was typed.
pub async fn file(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let Some(token) = kept(&state, &headers).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let f = FormData::parse(&body);
    let text = |k: &str| f.text(k).unwrap_or_default();
    let check = f.get("form").unwrap_or_default().to_string();
    let (queue, subject, words) = (text("queue"), text("subject"), text("body"));
    let filed = crate::service::filing::file(
        &state.db,
        &state.cfg,
        (&token, &check),
        &queue,
        &subject,
        &words,
        state.now(),
    )
    .await;
    match filed {
        Ok(_) => Ok(Redirect::to("/my?done=filed").into_response()),
        Err(ServiceError::Invalid(m)) => {
            let page = form_page(&state, &token, Some(m), &f).await?;
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "my/signin.html")]
pub struct SignInLink {
    page: Page,
    token: String,
    /// The link was used already or is too old.
    spent: bool,
}

/// `GET /my/signin/{token}`: a button, not the sign-in itself, so a mail
/// scanner that opens every link does not use it up.
pub async fn sign_in_link(Path(token): Path<String>) -> SignInLink {
    let well_formed = token.len() == 48 && token.bytes().all(|b| b.is_ascii_hexdigit());
    SignInLink {
        page: Page::anonymous(),
        spent: !well_formed,
        token,
    }
}

/// `POST /my/signin/{token}`: uses the link once and keeps the person's
/// status-page link in the cookie.
pub async fn use_sign_in_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let link =
        crate::service::sign_in_link::redeem(&state.db, &state.cfg, &token, state.now()).await?;
    Ok(match link {
        Some(link) => enter(&link, crate::web::auth::behind_tls(&headers)),
        None => (
            StatusCode::GONE,
            SignInLink {
                page: Page::anonymous(),
                token: String::new(),
                spent: true,
            },
        )
            .into_response(),
    })
}
