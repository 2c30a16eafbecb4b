//! Tasks on the web: the task panel of the ticket page (its visible values
//! and, for its assignee, a form with exactly the fields open for input),
//! the list of one's tasks, and the calendar feeds.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Map, Value};

use super::{Page, Viewer, When};
use crate::domain::task_schema::{self, FieldType};
use crate::service::ServiceError;
use crate::service::tasks::{self, Reader, input};
use crate::web::AppState;
use crate::web::auth::{CurrentUser, Posted};
use crate::web::error::WebError;

/// A field open for input, as the form shows it.
#[derive(Debug, Clone)]
pub struct OpenField {
    pub name: String,
    pub label: String,
    /// The `<input type>`, or `textarea`, `select`, `checkbox`.
    pub input: &'static str,
    pub value: String,
    pub options: Vec<String>,
    pub required: bool,
}

/// The task part of the ticket page.
#[derive(Debug, Clone)]
pub struct TaskPanel {
    pub type_name: String,
    /// `(label, value)` of the values the reader may see.
    pub values: Vec<(String, String)>,
    /// The form's fields: only for the assignee, only while input is needed.
    pub open: Vec<OpenField>,
    pub message: Option<String>,
    pub due: Option<When>,
    /// Why the last submission was refused.
    pub error: Option<String>,
    pub zone: String,
}

fn input_of(kind: FieldType) -> &'static str {
    match kind {
        FieldType::String => "text",
        FieldType::Text => "textarea",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Datetime => "datetime-local",
        FieldType::Enum => "select",
        FieldType::Boolean => "checkbox",
        FieldType::Url => "url",
    }
}

/// The panel when ticket `id` is a (visible) task.
pub(crate) async fn panel(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    error: Option<String>,
) -> Result<Option<TaskPanel>, WebError> {
    let Some(row) = tasks::find(&state.db, id).await? else {
        return Ok(None);
    };
    if row.hidden != 0 {
        return Err(WebError::NotFound);
    }
    let assignee = row.assignee_id == Some(user.id);
    let viewer = user.viewer(state.now());
    let due = row.input_due.map(|d| viewer.when(d));
    let view = tasks::view(row, Reader::Assignee)?;
    let values: Map<String, Value> = view.fields.clone().into_iter().collect();
    let shown = view
        .schema
        .iter()
        .filter(|f| f.visible_to_assignee())
        .map(|f| {
            let v = values
                .get(&f.name)
                .map(task_schema::display)
                .unwrap_or_default();
            (f.label().to_string(), v)
        })
        .collect();
    let open = if assignee {
        input::open_fields(&view.schema, &view.input_needed, &values)
            .into_iter()
            .map(|(f, value)| OpenField {
                input: input_of(f.kind),
                // A datetime-local field shows the stored UTC time in the reader's zone.
                value: match f.kind {
                    FieldType::Datetime => datetime_local(&value, viewer),
                    _ => value,
                },
                label: f.label().to_string(),
                name: f.name,
                options: f.options,
                required: f.required,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Some(TaskPanel {
        type_name: view.type_name,
        values: shown,
        open,
        message: view.input_message,
        due,
        error,
        zone: user.tz.name().to_string(),
    }))
}

fn datetime_local(rfc3339: &str, viewer: Viewer) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|d| {
            d.with_timezone(&viewer.tz)
                .format("%Y-%m-%dT%H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// The assignee's form: exactly the open fields, checked against the
/// schema; a refusal comes back to the page naming the fields.
pub async fn submit(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Posted { user, form }: Posted,
) -> Result<Response, WebError> {
    crate::web::rights::check_ticket(&state, &user, id).await?;
    let Some(panel) = panel(&state, &user, id, None).await? else {
        return Err(WebError::NotFound);
    };
    let mut values = Vec::new();
    for f in &panel.open {
        let raw = form.get(&format!("f_{}", f.name)).unwrap_or("").to_string();
        let raw = match f.input {
            "checkbox" => if raw.is_empty() { "no" } else { "yes" }.to_string(),
            "datetime-local" if !raw.trim().is_empty() => super::local_time(&raw, user.tz)
                .map(crate::store::rfc3339)
                .unwrap_or(raw),
            _ => raw,
        };
        values.push((f.name.clone(), input::Raw::Text(raw)));
    }
    let result = input::submit(&state.db, id, user.id, values, input::Via::Web, state.now()).await;
    let to = match result {
        Ok(()) => format!("/tickets/{id}?done=task-submitted"),
        Err(e @ (ServiceError::Fields { .. } | ServiceError::Refused { .. })) => {
            let text = match e {
                ServiceError::Fields { message, errors } => std::iter::once(message)
                    .chain(errors.into_iter().map(|f| f.message))
                    .collect::<Vec<_>>()
                    .join(" · "),
                other => other.to_string(),
            };
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("task_error", &text)
                .finish();
            format!("/tickets/{id}?{q}#task")
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Redirect::to(&to).into_response())
}

/// One task in the list.
pub struct TaskLine {
    pub id: i64,
    pub title: String,
    pub type_name: String,
    pub status: String,
    pub waiting: bool,
    pub due: Option<When>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tasks/mine.html")]
pub struct MyTasks {
    page: Page,
    items: Vec<TaskLine>,
}

/// The tasks handed to the signed-in person (hidden ones never are).
pub async fn mine(State(state): State<AppState>, user: CurrentUser) -> Result<MyTasks, WebError> {
    let viewer = user.viewer(state.now());
    let mut conn = state.db.conn().await?;
    let rows = crate::store::tasks::of_assignee(&mut conn, user.id, 200).await?;
    let items = rows
        .into_iter()
        .map(|r| TaskLine {
            waiting: r.input_needed != "[]",
            due: r.input_due.map(|d| viewer.when(d)),
            id: r.id,
            title: r.title,
            type_name: r.type_name,
            status: r.status,
        })
        .collect();
    Ok(MyTasks {
        page: user.page(),
        items,
    })
}

/// `GET /calendar/SECRET.ics`: the feed, or 404 for an unknown or revoked secret.
pub async fn calendar(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, WebError> {
    let secret = file.strip_suffix(".ics").ok_or(WebError::NotFound)?;
    let text = crate::service::calendar_feed::render(&state.db, &state.cfg, secret)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        text,
    )
        .into_response())
}
