//! The requestor's status page behind their personal link (`/my/<token>`,
//! renders `templates/my/`): no account, no session; the signed link is the
//! key, and its forms carry a value derived from it.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Page, Viewer, When, flash};
use crate::domain::lifecycle::Status;
use crate::domain::status_link::Checked;
use crate::service::requestor::{self, Access};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::error::WebError;
use crate::web::form::FormData;

pub struct EntryView {
    kind: String,
    label: &'static str,
    from: String,
    at: When,
    change: String,
    body: String,
}

pub struct TicketView {
    id: i64,
    subject: String,
    status: String,
    status_label: &'static str,
    open: bool,
    owner: String,
    reason: Option<String>,
    eta: Option<When>,
    eta_reason: Option<String>,
    wakes: Option<When>,
    updated: When,
    history: Vec<EntryView>,
    /// `(key, label)` of the intake fields still missing.
    missing: Vec<(String, &'static str)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "my/index.html")]
pub struct MyPage {
    page: Page,
    email: String,
    token: String,
    form_token: String,
    tickets: Vec<TicketView>,
    public_queues: Vec<String>,
    read_only: bool,
}

/// A public queue's tickets, read-only (`templates/my/public.html`).
#[derive(Template, WebTemplate)]
#[template(path = "my/public.html")]
pub struct PublicQueuePage {
    page: Page,
    queue: String,
    /// Where "back" goes: the link holder's own page, or the queues.
    back: String,
    tickets: Vec<TicketView>,
    // The shared ticket template's forms are off on this page.
    token: String,
    form_token: String,
    read_only: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "my/refused.html")]
pub struct Refused {
    page: Page,
    expired: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "my/sent.html")]
pub struct Sent {
    page: Page,
}

/// A person's name, else the part of their address before the `@`.
fn name_of(name: Option<String>, email: Option<String>) -> String {
    match (name.filter(|n| !n.trim().is_empty()), email) {
        (Some(n), _) => n,
        (None, Some(e)) => e.split('@').next().unwrap_or_default().to_string(),
        (None, None) => String::new(),
    }
}

fn status_label(status: &str) -> &'static str {
    match status {
        "new" => "received",
        "open" => "being worked on",
        "needs-info" => "waiting for your answer",
        "postponed" => "postponed",
        "stalled" => "waiting on someone else",
        "resolved" => "resolved",
        "rejected" => "declined",
        _ => "in progress",
    }
}

fn ticket_view(t: requestor::Ticket, viewer: Viewer) -> TicketView {
    let r = t.ticket;
    let history = t
        .history
        .into_iter()
        .map(|x| EntryView {
            label: match x.kind.as_str() {
                "create" => "Your request",
                "correspond" => "Message",
                "eta" => "Expected date",
                "postpone" => "Postponed",
                _ => "Status",
            },
            change: match (x.kind.as_str(), &x.new_value) {
                ("status", Some(n)) => status_label(n).to_string(),
                (_, Some(n)) => viewer.readable(n),
                _ => String::new(),
            },
            from: name_of(x.from_name, x.from_email),
            at: viewer.when(x.created_at),
            kind: x.kind,
            body: x.body,
        })
        .collect();
    TicketView {
        status_label: status_label(&r.status),
        open: !Status::parse(&r.status).is_some_and(Status::is_done),
        owner: match r.owner_email {
            Some(_) => name_of(r.owner_name, r.owner_email),
            None => "nobody yet".into(),
        },
        eta: r.eta_at.map(|e| viewer.when(e)),
        wakes: r.postponed_until.map(|e| viewer.when(e)),
        updated: viewer.when(r.updated_at),
        missing: t
            .missing
            .iter()
            .filter_map(|l| {
                crate::domain::intake::FIELDS
                    .iter()
                    .find(|(_, label)| label == l)
                    .map(|(k, label)| (k.to_string(), *label))
            })
            .collect(),
        reason: r.status_reason,
        eta_reason: r.eta_reason,
        id: r.id,
        subject: r.subject,
        status: r.status,
        history,
    }
}

pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, WebError> {
    let viewer = state.anonymous_viewer();
    let access = requestor::page(&state.db, &state.cfg, &token, viewer.now).await?;
    let mut page = Page::anonymous();
    page.flash = flash(q.get("done"));
    Ok(match access {
        Access::Granted(p) => with_link_kept(
            &token,
            MyPage {
                page,
                email: p.email,
                form_token: p.form_token,
                tickets: p
                    .tickets
                    .into_iter()
                    .map(|t| ticket_view(t, viewer))
                    .collect(),
                public_queues: p.public_queues,
                read_only: false,
                token: token.clone(),
            },
        ),
        Access::Expired => (
            StatusCode::FORBIDDEN,
            Refused {
                page,
                expired: true,
            },
        )
            .into_response(),
        Access::Refused => (
            StatusCode::FORBIDDEN,
            Refused {
                page,
                expired: false,
            },
        )
            .into_response(),
    })
}

pub async fn reply(
    State(state): State<AppState>,
    Path((token, ticket)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    let text = form.text("body").unwrap_or_default();
    let check = form.get("form").unwrap_or_default();
    requestor::reply(
        &state.db,
        &state.cfg,
        &token,
        check,
        ticket,
        &text,
        state.now(),
    )
    .await?;
    Ok(Redirect::to(&format!("/my/{token}?done=answered#t{ticket}")).into_response())
}

pub async fn fields(
    State(state): State<AppState>,
    Path((token, ticket)): Path<(String, i64)>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    let check = form.get("form").unwrap_or_default();
    let given: Vec<(String, String)> = crate::domain::intake::FIELDS
        .iter()
        .filter_map(|(key, _)| {
            form.text(&format!("field_{key}"))
                .map(|v| (key.to_string(), v))
        })
        .collect();
    requestor::fill(
        &state.db,
        &state.cfg,
        &token,
        check,
        ticket,
        &given,
        state.now(),
    )
    .await?;
    Ok(Redirect::to(&format!("/my/{token}?done=updated#t{ticket}")).into_response())
}

pub async fn resend(State(state): State<AppState>, body: Bytes) -> Result<Sent, WebError> {
    let form = FormData::parse(&body);
    let email = form.text("email").unwrap_or_default();
    // Answered at once, the same for every address: how long the work
    // takes must not tell who has asked us for something. A few at a time;
    // a flood beyond that is dropped, not queued behind everyone's writes.
    static AT_ONCE: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
    match AT_ONCE.try_acquire() {
        Ok(permit) => {
            let (db, cfg, now) = (state.db.clone(), state.cfg.clone(), state.now());
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(e) = crate::service::sign_in_link::send(&db, &cfg, &email, now).await {
                    tracing::warn!(error = %e, "could not mail a sign-in link");
                }
            });
        }
        Err(_) => {
            tracing::warn!("sign-in link requests arrive faster than they are made: one dropped")
        }
    }
    Ok(Sent {
        page: Page::anonymous(),
    })
}

/// A public queue for the holder of a valid status-page link.
pub async fn public_for_link(
    State(state): State<AppState>,
    Path((token, queue)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let viewer = state.anonymous_viewer();
    match requestor::link_is_valid(&state.db, &state.cfg, &token, viewer.now).await? {
        Checked::Valid(_) => {}
        Checked::Expired => {
            let page = Page::anonymous();
            return Ok((
                StatusCode::FORBIDDEN,
                Refused {
                    page,
                    expired: true,
                },
            )
                .into_response());
        }
        Checked::Invalid => {
            let page = Page::anonymous();
            return Ok((
                StatusCode::FORBIDDEN,
                Refused {
                    page,
                    expired: false,
                },
            )
                .into_response());
        }
    }
    let back = format!("/my/{token}");
    public_page(&state, Page::anonymous(), viewer, queue, back).await
}

/// A public queue for anyone signed in, member of it or not.
pub async fn public_for_account(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(queue): Path<String>,
) -> Result<Response, WebError> {
    let viewer = user.viewer(state.now());
    public_page(&state, user.page(), viewer, queue, "/queues".into()).await
}

async fn public_page(
    state: &AppState,
    page: Page,
    viewer: Viewer,
    queue: String,
    back: String,
) -> Result<Response, WebError> {
    let tickets = requestor::public_queue(&state.db, &queue)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(PublicQueuePage {
        page,
        queue,
        back,
        tickets: tickets
            .into_iter()
            .map(|t| ticket_view(t, viewer))
            .collect(),
        token: String::new(),
        form_token: String::new(),
        read_only: true,
    }
    .into_response())
}

/// A valid link proves the address: kept in a cookie, it opens `/my` and
/// `/my/new` too.
fn with_link_kept(token: &str, page: MyPage) -> Response {
    let mut res = page.into_response();
    res.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        super::my_session::remember(token, false),
    );
    res
}
