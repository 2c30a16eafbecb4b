//! A ticket (`templates/tickets/show.html`) and what staff do to it: reply,
//! comment, actions, bulk changes, attachment downloads.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::{Page, Viewer, When, flash};
use crate::service::api_access;
use crate::service::links::Relations;
use crate::service::tickets::{self as actions, STATUSES};
use crate::store::{tickets, views};
use crate::web::AppState;
use crate::web::auth::{CurrentUser, Posted};
use crate::web::error::WebError;
use crate::web::form::FormData;
use crate::web::rights::{check_ticket, check_work};

pub struct HistoryItem {
    pub id: i64,
    pub kind: String,
    pub label: String,
    pub from: String,
    pub at: When,
    pub rule: Option<String>,
    pub automatic: bool,
    pub classification: String,
    /// Why the entry needs a look (outsider on the comment address, …).
    pub flag: Option<String>,
    pub change: String,
    pub body: String,
    pub attachments: Vec<tickets::AttachmentView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/show.html")]
pub struct TicketShow {
    page: Page,
    /// The reader works the queue (else: a task's assignee).
    staff: bool,
    task: Option<super::tasks::TaskPanel>,
    t: tickets::TicketSummary,
    owner: String,
    due: String,
    created: When,
    updated: When,
    eta: Option<When>,
    postponed_until: Option<When>,
    relations: Relations,
    /// Children as `(id, status)`, for their progress.
    children: Vec<(i64, String)>,
    /// Intake: `(label, value)` given, and the labels still missing.
    intake_given: Vec<(&'static str, String)>,
    intake_missing: Vec<&'static str>,
    /// The acceptance criteria a resolver confirms.
    criteria: Option<String>,
    /// The zone the form's times are read in.
    zone: &'static str,
    sla: Option<super::sla::SlaView>,
    history: Vec<HistoryItem>,
    statuses: &'static [&'static str],
}

/// A stored RFC 3339 time as people read it.
pub(super) fn when_text(rfc3339: &str, viewer: Viewer) -> When {
    let ms = chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| d.timestamp_millis())
        .unwrap_or(viewer.now);
    viewer.when(ms)
}

pub async fn ticket_show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let staff = check_ticket(&state, &user, id).await?;
    let task = super::tasks::panel(&state, &user, id, q.get("task_error").cloned()).await?;
    let mut conn = state.db.pool.acquire().await?;
    // A merged ticket lives on in the one it was merged into.
    if let Some(into) = crate::store::links::survivor(&mut conn, id).await?
        && into != id
    {
        return Ok(Redirect::to(&format!("/tickets/{into}")).into_response());
    }
    let detail = tickets::show(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let now = user.viewer(state.now());
    let relations = crate::service::links::relations(&mut conn, id, false).await?;
    let children = crate::store::links::children(&mut conn, id, false).await?;
    let intake = crate::service::intake::view(&mut conn, id).await?;
    let sla = crate::service::sla::of_ticket(&mut conn, id, now.now)
        .await?
        .and_then(|s| super::sla::ticket_view(s, now));
    let intake_missing = crate::service::intake::labels(&intake.missing);
    let criteria = intake
        .fields
        .iter()
        .find(|(k, v)| k.as_str() == "acceptance_criteria" && !v.trim().is_empty())
        .map(|(_, v)| v.clone());
    let intake_given = intake
        .fields
        .into_iter()
        .filter(|(k, _)| k != "description")
        .filter_map(|(k, v)| crate::domain::intake::label(&k).map(|l| (l, v)))
        .collect();
    let history = detail
        .transactions
        .into_iter()
        // An assignee from outside the queue reads what concerns the task.
        .filter(|x| staff || x.kind != "comment")
        .map(|x| {
            let label = match x.kind.as_str() {
                "create" => "Created",
                "correspond" => "Correspondence",
                "comment" => "Comment (internal)",
                "status" => "Status changed",
                "owner" => "Owner changed",
                "priority" => "Priority changed",
                "due" => "Due date changed",
                "eta" => "ETA set",
                "postpone" => "Postponed",
                "escalate" => "Escalated",
                "link" => "Linked",
                "merge" => "Merged",
                "criteria" => "Acceptance criteria confirmed met",
                "sla" => "SLA",
                "input-needed" => "Input asked for",
                "input" => "Input submitted",
                "fields" => "Fields written",
                _ => "Change",
            }
            .to_string();
            let change = match (&x.old_value, &x.new_value) {
                // Their value is a marker (which clock, "met"); the text says it.
                _ if matches!(x.kind.as_str(), "sla" | "criteria" | "input-needed") => {
                    String::new()
                }
                (None, None) => String::new(),
                (old, new) => format!(
                    "{} → {}",
                    old.as_deref().map_or("nobody".into(), |v| now.readable(v)),
                    new.as_deref().map_or("nobody".into(), |v| now.readable(v))
                ),
            };
            HistoryItem {
                id: x.id,
                label,
                kind: x.kind,
                from: x
                    .from
                    .map_or_else(|| "Docket".into(), |f| api_access::shown_actor(&f)),
                at: when_text(&x.created_at, now),
                rule: x.thread_rule.filter(|r| r != "new"),
                automatic: x.auto_submitted,
                flag: x.flag.clone(),
                classification: x.classification.unwrap_or_default(),
                change,
                body: x.body,
                attachments: x.attachments,
            }
        })
        .collect();
    let mut page = user.page();
    page.flash = flash(q.get("done"));
    let t = &detail.ticket;
    Ok(TicketShow {
        staff,
        task,
        created: when_text(&t.created_at, now),
        updated: when_text(&t.updated_at, now),
        eta: t.eta.as_deref().map(|e| when_text(e, now)),
        postponed_until: t.postponed_until.as_deref().map(|e| when_text(e, now)),
        relations,
        children,
        intake_given,
        intake_missing,
        criteria,
        zone: user.tz.name(),
        sla,
        page,
        owner: detail
            .ticket
            .owner
            .clone()
            .unwrap_or_else(|| "nobody".into()),
        due: detail
            .ticket
            .due_at
            .as_deref()
            .map(|d| d.chars().take(10).collect())
            .unwrap_or_default(),
        t: detail.ticket,
        history,
        statuses: &STATUSES,
    }
    .into_response())
}

fn back_to(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/tickets/{id}?done={done}")).into_response()
}

pub async fn reply(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    post_text(&state, &user, id, &form, "correspond").await
}

pub async fn comment(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    post_text(&state, &user, id, &form, "comment").await
}

/// A reply (mailed to the requestors) or an internal comment from a form.
async fn post_text(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: &FormData,
    kind: &str,
) -> Result<Response, WebError> {
    check_work(state, user, id).await?;
    let Some(text) = form.text("body") else {
        return Ok(back_to(id, "empty"));
    };
    if kind == "comment" {
        actions::comment(&state.db, &state.cfg, id, &user.email, &text, state.now()).await?;
        Ok(back_to(id, "commented"))
    } else {
        actions::reply(&state.db, &state.cfg, id, &user.email, &text, state.now()).await?;
        Ok(back_to(id, "replied"))
    }
}

async fn apply(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: &FormData,
) -> Result<&'static str, WebError> {
    match form.get("action") {
        Some("take") => {
            crate::service::ownership::take(
                &state.db,
                &state.cfg,
                id,
                &user.email,
                false,
                state.now(),
            )
            .await?;
            Ok("taken")
        }
        Some("assign") => {
            let owner = form
                .text("owner")
                .and_then(|o| crate::domain::address::normalise(&o))
                .ok_or_else(|| {
                    WebError::BadRequest("Give the new owner's email address.".into())
                })?;
            crate::service::ownership::assign(
                &state.db,
                &state.cfg,
                id,
                &user.email,
                Some(&owner),
                false,
                state.now(),
            )
            .await?;
            Ok("assigned")
        }
        Some("priority") => {
            actions::set_field(
                &state.db,
                id,
                &user.email,
                "priority",
                form.get("priority"),
                state.now(),
            )
            .await?;
            Ok("updated")
        }
        Some("due") => {
            actions::set_field(
                &state.db,
                id,
                &user.email,
                "due",
                form.get("due"),
                state.now(),
            )
            .await?;
            Ok("updated")
        }
        Some("status") => {
            let status = form.text("status").unwrap_or_default();
            let reason = form.text("reason");
            actions::change_status(
                &state.db,
                &state.cfg,
                id,
                &user.email,
                actions::StatusChange {
                    status: &status,
                    reason: reason.as_deref(),
                    eta: None,
                    criteria_met: form.get("criteria_met") == Some("yes"),
                },
                state.now(),
            )
            .await?;
            Ok("status")
        }
        Some(other) => flow(state, user, id, form, other).await,
        None => Err(WebError::BadRequest("Unknown action.".into())),
    }
}

/// A time from a `datetime-local` field, read in the user's zone.
fn form_time(form: &FormData, key: &str, tz: chrono_tz::Tz) -> Result<i64, WebError> {
    let raw = form.text(key).unwrap_or_default();
    super::local_time(&raw, tz).ok_or_else(|| {
        WebError::BadRequest(format!(
            "Give a date and a time (\"{raw}\" is not one, or does not exist in {tz})."
        ))
    })
}

/// The triage flow's actions from the ticket page.
async fn flow(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: &FormData,
    action: &str,
) -> Result<&'static str, WebError> {
    use crate::service::{links, ownership, status};
    let (db, cfg, who, now) = (&state.db, &state.cfg, user.email.as_str(), state.now());
    let reason = form.text("reason").unwrap_or_default();
    let number = |key: &str| -> Result<i64, WebError> {
        form.text(key)
            .and_then(|v| v.trim().trim_start_matches('#').parse().ok())
            .ok_or_else(|| WebError::BadRequest("Give a ticket number.".into()))
    };
    match action {
        "eta" => {
            status::set_eta(
                db,
                cfg,
                id,
                who,
                form_time(form, "at", user.tz)?,
                &reason,
                now,
            )
            .await?
        }
        "postpone" => {
            let until = form_time(form, "until", user.tz)?;
            status::postpone(db, cfg, id, who, until, &reason, now).await?
        }
        "request-info" => {
            let questions = form.text("questions").unwrap_or_default();
            status::request_info(db, cfg, id, who, &questions, now).await?
        }
        "escalate" => {
            let to = form
                .text("to")
                .and_then(|o| crate::domain::address::normalise(&o));
            ownership::escalate(db, cfg, id, who, to.as_deref(), &reason, now).await?
        }
        "child" => {
            let subject = form.text("subject").unwrap_or_default();
            links::create_child(db, id, who, &subject, now).await?;
        }
        "link" => {
            let kind = match form.get("kind") {
                Some("refers-to") => links::LinkKind::RefersTo,
                _ => links::LinkKind::DependsOn,
            };
            links::link(db, id, who, kind, number("target")?, now).await?
        }
        "merge" => links::merge(db, id, number("into")?, who, now).await?,
        _ => return Err(WebError::BadRequest("Unknown action.".into())),
    }
    Ok("updated")
}

pub async fn action(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    check_work(&state, &user, id).await?;
    let done = apply(&state, &user, id, &form).await?;
    Ok(match list_page(&form) {
        Some(back) => redirect_with(back, done),
        None => back_to(id, done),
    })
}

/// The list a form came from (`back`), when it is one of ours.
fn list_page(form: &FormData) -> Option<&str> {
    form.get("back").filter(|b| {
        ["/queues/", "/search", "/triage"]
            .iter()
            .any(|p| b.starts_with(p))
            && !b.contains("//")
    })
}

fn redirect_with(back: &str, done: &str) -> Response {
    let sep = if back.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{back}{sep}done={done}")).into_response()
}

pub async fn bulk(
    State(state): State<AppState>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    let back = list_page(&form).unwrap_or("/queues");
    let ids: Vec<i64> = form
        .all("ids")
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    if ids.is_empty() {
        return Ok(redirect_with(back, "nothing-selected"));
    }
    for id in ids {
        check_work(&state, &user, id).await?;
        apply(&state, &user, id, &form).await?;
    }
    Ok(redirect_with(back, "bulk"))
}

/// Downloads only: the browser never renders mail content from us.
pub async fn attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    let a = views::attachment(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !views::visible_queue_ids(&mut conn, user.id, user.admin)
        .await?
        .contains(&a.queue_id)
    {
        return Err(WebError::NotFound);
    }
    let safe_name: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = url::form_urlencoded::byte_serialize(a.filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let content_type = if a.content_type.contains('/') && a.content_type.is_ascii() {
        a.content_type
    } else {
        "application/octet-stream".into()
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe_name}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        a.content,
    )
        .into_response())
}
