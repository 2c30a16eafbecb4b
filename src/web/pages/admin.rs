//! The admin page (`templates/admin/index.html`): queues, staff, the
//! outbox and the quarantine.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Page, flash};
use crate::service::admin;
use crate::store::{self, outbox, quarantine};
use crate::web::AppState;
use crate::web::auth::{CurrentUser, Posted};
use crate::web::error::WebError;
use crate::web::rights::require_admin;

pub struct OutboxLine {
    pub id: i64,
    /// `None` for a queue's digest.
    pub ticket: Option<i64>,
    pub kind: String,
    pub to: Vec<String>,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub error: String,
}

pub struct QueueAdminLine {
    pub name: String,
    pub correspond_address: String,
    pub comment: String,
    pub tag: String,
}

pub struct UserLine {
    pub email: String,
    pub role: String,
    pub queues: String,
}

/// One change of someone's powers.
pub struct RoleLine {
    pub email: String,
    /// `account` or `queue NAME`.
    pub what: String,
    pub from: String,
    pub to: String,
    /// `directory` or `admin`, and why.
    pub by: String,
    pub at: super::When,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/index.html")]
pub struct AdminPage {
    page: Page,
    queues: Vec<QueueAdminLine>,
    users: Vec<UserLine>,
    roles: Vec<RoleLine>,
    outbox: Vec<OutboxLine>,
    quarantine: Vec<quarantine::Entry>,
    /// "3 pending, 1 dead" and "2 held": the totals behind the pages.
    outbox_counts: String,
    quarantine_counts: String,
    /// Links to the next (older) page of each, and whether we are past the first.
    outbox_older: Option<String>,
    quarantine_older: Option<String>,
    paged: bool,
}

/// Rows per page of the admin outbox and quarantine.
const ADMIN_PAGE: usize = 50;

/// `Some(last id)` when there is a page after `rows` (one extra was fetched).
fn older<T>(rows: &mut Vec<T>, id: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() > ADMIN_PAGE {
        rows.truncate(ADMIN_PAGE);
        rows.last().map(id)
    } else {
        None
    }
}

fn counts_text(counts: &[(String, i64)]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn admin(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<AdminPage, WebError> {
    require_admin(&user)?;
    let mut conn = state.db.pool.acquire().await?;
    let before = |key: &str| q.get(key).and_then(|v| v.parse::<i64>().ok());
    let (outbox_before, quarantine_before) = (before("outbox_before"), before("quarantine_before"));
    let mut unsent = outbox::unsent_page(&mut conn, outbox_before, ADMIN_PAGE as i64 + 1).await?;
    let outbox_next = older(&mut unsent, |o| o.id);
    let outbox = unsent
        .into_iter()
        .map(|o| OutboxLine {
            id: o.id,
            ticket: o.ticket,
            kind: o.kind,
            to: o.to,
            subject: o.subject,
            status: o.status,
            attempts: o.attempts,
            error: match (o.last_error, o.refused) {
                (Some(e), Some(r)) => format!("{e}; refused: {r}"),
                (e, r) => e.or(r.map(|r| format!("refused: {r}"))).unwrap_or_default(),
            },
        })
        .collect();
    let mut quarantine =
        quarantine::page(&mut conn, quarantine_before, ADMIN_PAGE as i64 + 1).await?;
    let quarantine_next = older(&mut quarantine, |e| e.id);
    // Each list pages on its own; the other keeps its place.
    let link = |key: &str, id: i64, other: (&str, Option<i64>)| {
        let mut l = format!("/admin?{key}={id}");
        if let (k, Some(v)) = other {
            l.push_str(&format!("&{k}={v}"));
        }
        l
    };
    let outbox_older = outbox_next.map(|id| {
        link(
            "outbox_before",
            id,
            ("quarantine_before", quarantine_before),
        )
    });
    let quarantine_older =
        quarantine_next.map(|id| link("quarantine_before", id, ("outbox_before", outbox_before)));
    let outbox_counts = counts_text(&outbox::count_by_status(&mut conn).await?);
    let quarantine_counts = counts_text(&quarantine::count_by_status(&mut conn).await?);
    let queues = store::queues::list(&mut conn)
        .await?
        .into_iter()
        .map(|q| QueueAdminLine {
            name: q.name,
            correspond_address: q.correspond_address,
            comment: q.comment_address.unwrap_or_default(),
            tag: q.subject_tag.unwrap_or_default(),
        })
        .collect();
    let users = store::users::staff_with_queues(&mut conn)
        .await?
        .into_iter()
        .map(|(email, role, queues)| UserLine {
            email,
            role,
            queues,
        })
        .collect();
    let viewer = user.viewer(state.now());
    let role = |r: Option<String>| r.unwrap_or_else(|| "—".into());
    let roles = store::role_changes::recent(&mut conn, 20)
        .await?
        .into_iter()
        .map(|c| RoleLine {
            email: c.email,
            what: c.queue.map_or("account".into(), |q| format!("queue {q}")),
            from: role(c.old_role),
            to: role(c.new_role),
            by: match c.note {
                Some(n) => format!("{} ({n})", c.source),
                None => c.source,
            },
            at: viewer.when(c.created_at),
        })
        .collect();
    let mut page = user.page();
    page.flash = flash(q.get("done"));
    Ok(AdminPage {
        page,
        queues,
        users,
        roles,
        outbox,
        quarantine,
        outbox_counts,
        quarantine_counts,
        outbox_older,
        quarantine_older,
        paged: outbox_before.is_some() || quarantine_before.is_some(),
    })
}

pub async fn admin_add_queue(
    State(state): State<AppState>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    require_admin(&user)?;
    let (name, address) = (form.text("name"), form.text("address"));
    let (comment, tag) = (form.text("comment_address"), form.text("tag"));
    admin::add_queue(
        &state.db,
        admin::NewQueue {
            name: name.as_deref().unwrap_or(""),
            address: address.as_deref().unwrap_or(""),
            comment_address: comment.as_deref(),
            tag: tag.as_deref(),
        },
        state.now(),
    )
    .await?;
    Ok(Redirect::to("/admin?done=updated").into_response())
}

pub async fn admin_save_user(
    State(state): State<AppState>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    require_admin(&user)?;
    let email = form.text("email");
    admin::save_staff(
        &state.db,
        admin::StaffUser {
            email: email.as_deref().unwrap_or(""),
            role: form.get("role").unwrap_or(""),
            password: form.get("password"),
            queues: form.all("queues"),
        },
        state.now(),
    )
    .await?;
    Ok(Redirect::to("/admin?done=updated").into_response())
}

pub async fn admin_outbox_retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, .. }: Posted,
) -> Result<Response, WebError> {
    require_admin(&user)?;
    let mut conn = state.db.pool.acquire().await?;
    outbox::requeue(&mut conn, id, state.now()).await?;
    Ok(Redirect::to("/admin?done=retried").into_response())
}

pub async fn admin_quarantine_retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, .. }: Posted,
) -> Result<Response, WebError> {
    require_admin(&user)?;
    let ingestor = crate::service::ingest::Ingestor::new(state.db.clone(), state.cfg.clone());
    crate::service::ingest::retry_quarantined(&ingestor, id, &Default::default())
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Redirect::to("/admin?done=retried").into_response())
}

pub async fn admin_quarantine_raw(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    require_admin(&user)?;
    let mut conn = state.db.pool.acquire().await?;
    let (raw, _) = quarantine::get(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quarantine-{id}.eml\""),
            ),
        ],
        raw,
    )
        .into_response())
}
