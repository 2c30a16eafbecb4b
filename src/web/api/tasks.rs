//! Task types and tasks: the application defines types and hands tasks to
//! people; the assignee fills in the fields the application opened.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::flow::Created;
use super::problem::Problems;
use super::{ApiError, Body, P, Reach, readable, writable};
use crate::domain::task_schema::FieldDef;
use crate::service::api_access::Access;
use crate::service::tasks::{self, Reader, TaskView, input};
use crate::web::AppState;

/// Only an application's token defines types and drives tasks.
fn app_of(a: &Access) -> Result<i64, ApiError> {
    a.app_id
        .ok_or_else(|| ApiError::Forbidden("only an application's token may do this".into()))
}

fn writer(a: &Access) -> Result<i64, ApiError> {
    let app = app_of(a)?;
    if a.read_only {
        return Err(ApiError::Forbidden("this token is read-only".into()));
    }
    Ok(app)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskType {
    #[serde(default)]
    #[schema(read_only)]
    pub name: String,
    pub fields: Vec<FieldDef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskTypes {
    pub items: Vec<TaskType>,
}

/// Creates or replaces a task type of the token's application.
#[utoipa::path(put, operation_id = "task_put_type", path = "/api/v1/task-types/{name}", tag = "tasks", request_body = TaskType,
    params(("name" = String, Path)), responses((status = 200, body = TaskType), Problems),
    security(("bearer" = [])))]
pub async fn put_type(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(name): P<String>,
    Body(t): Body<TaskType>,
) -> Result<axum::Json<TaskType>, ApiError> {
    let app = writer(&a)?;
    tasks::define_type(&state.db, app, &name, &t.fields, state.now()).await?;
    Ok(axum::Json(TaskType {
        name: name.trim().to_string(),
        fields: t.fields,
    }))
}

#[utoipa::path(get, operation_id = "task_types", path = "/api/v1/task-types", tag = "tasks",
    responses((status = 200, body = TaskTypes), Problems), security(("bearer" = [])))]
pub async fn types(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
) -> Result<axum::Json<TaskTypes>, ApiError> {
    let app = app_of(&a)?;
    let items = tasks::types(&state.db, app)
        .await?
        .into_iter()
        .map(|(name, fields)| TaskType { name, fields })
        .collect();
    Ok(axum::Json(TaskTypes { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewTask {
    #[serde(rename = "type")]
    pub type_name: String,
    /// One of the application's queues.
    pub queue: String,
    pub title: String,
    /// A staff member's address (absent for a hidden task).
    pub assignee: Option<String>,
    /// A ticket this task is a child of.
    pub parent: Option<i64>,
    /// Kept for the application only: never shown to people.
    #[serde(default)]
    pub hidden: bool,
    /// Initial values by field name.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

/// Creates a task; its assignee is told by mail.
#[utoipa::path(post, operation_id = "task_create", path = "/api/v1/tasks", tag = "tasks", request_body = NewTask,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = TaskView), Problems), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    Body(t): Body<NewTask>,
) -> Result<impl IntoResponse, ApiError> {
    let app = writer(&a)?;
    let queue = {
        let mut conn = state.db.conn().await?;
        crate::store::views::queue_by_name(&mut conn, t.queue.trim())
            .await?
            .filter(|q| a.may_use(*q))
            .ok_or_else(|| ApiError::Invalid(format!("no queue {:?} for this token", t.queue)))?
    };
    if let Some(p) = t.parent
        && readable(&state, &a, p).await.ok() != Some(Reach::Queue)
    {
        return Err(ApiError::Invalid(format!("no ticket #{p} for this token")));
    }
    let new = tasks::NewTask {
        app,
        type_name: t.type_name.trim(),
        queue_id: queue,
        title: &t.title,
        assignee: t.assignee.as_deref(),
        parent: t.parent,
        hidden: t.hidden,
        fields: &t.fields,
    };
    let id = tasks::create(&state.db, &state.cfg, &a.actor, new, state.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(view(&state, &a, id).await?)))
}

/// The task as this token may see it.
async fn view(state: &AppState, a: &Access, id: i64) -> Result<TaskView, ApiError> {
    let reach = readable(state, a, id).await?;
    let row = tasks::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let reader = if reach == Reach::Queue && a.app_id.is_some() {
        Reader::App
    } else {
        Reader::Assignee
    };
    Ok(tasks::view(row, reader)?)
}

#[utoipa::path(get, operation_id = "task_show", path = "/api/v1/tasks/{id}", tag = "tasks", params(("id" = i64, Path)),
    responses((status = 200, body = TaskView), Problems), security(("bearer" = [])))]
pub async fn show(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<TaskView>, ApiError> {
    Ok(axum::Json(view(&state, &a, id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskList {
    pub items: Vec<TaskView>,
}

/// A person's token: the tasks handed to them (never hidden ones).
#[utoipa::path(get, operation_id = "task_mine", path = "/api/v1/tasks", tag = "tasks",
    responses((status = 200, body = TaskList), Problems), security(("bearer" = [])))]
pub async fn mine(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
) -> Result<axum::Json<TaskList>, ApiError> {
    if a.app_id.is_some() {
        return Ok(axum::Json(TaskList { items: vec![] }));
    }
    let mut conn = state.db.conn().await?;
    let rows = crate::store::tasks::of_assignee(&mut conn, a.user_id, 200).await?;
    let items = rows
        .into_iter()
        .map(|r| tasks::view(r, Reader::Assignee))
        .collect::<Result<_, _>>()?;
    Ok(axum::Json(TaskList { items }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InputNeeded {
    /// The field names the assignee may now fill in.
    pub fields: Vec<String>,
    pub message: Option<String>,
    /// RFC 3339: when the input is needed by.
    pub due: Option<String>,
}

/// Opens fields for the assignee and mails them the form.
#[utoipa::path(post, operation_id = "task_input_needed", path = "/api/v1/tasks/{id}/input-needed", tag = "tasks",
    request_body = InputNeeded, params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TaskView), Problems), security(("bearer" = [])))]
pub async fn input_needed(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(b): Body<InputNeeded>,
) -> Result<axum::Json<TaskView>, ApiError> {
    writer(&a)?;
    writable(&state, &a, id).await?;
    let due = b.due.as_deref().map(time).transpose()?;
    let (db, cfg) = (&state.db, &state.cfg);
    let ask = input::Ask {
        fields: &b.fields,
        message: b.message.as_deref(),
        due,
    };
    input::request(db, cfg, &a.actor, id, ask, state.now()).await?;
    Ok(axum::Json(view(&state, &a, id).await?))
}

fn time(s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.timestamp_millis())
        .map_err(|_| ApiError::Invalid(format!("{s:?} is not an RFC 3339 time")))
}

/// Writes values: the application any field at any time; the assignee
/// (a person's token) only the fields open for input, which submits them.
#[utoipa::path(patch, operation_id = "task_fields", path = "/api/v1/tasks/{id}/fields", tag = "tasks",
    request_body(content = Object, description = "values by field name"),
    params(("id" = i64, Path)), responses((status = 200, body = TaskView), Problems),
    security(("bearer" = [])))]
pub async fn fields(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(values): Body<Map<String, Value>>,
) -> Result<axum::Json<TaskView>, ApiError> {
    let reach = readable(&state, &a, id).await?;
    if a.read_only {
        return Err(ApiError::Forbidden("this token is read-only".into()));
    }
    let now = state.now();
    if a.app_id.is_some() && reach == Reach::Queue {
        writable(&state, &a, id).await?;
        tasks::write_fields(&state.db, &a.actor, id, &values, now).await?;
    } else {
        let raw = values
            .into_iter()
            .map(|(k, v)| (k, input::Raw::Json(v)))
            .collect();
        input::submit(&state.db, id, a.user_id, raw, input::Via::Api, now).await?;
    }
    Ok(axum::Json(view(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Finish {
    pub reason: Option<String>,
}

/// Completes the task (resolved); the application hears `task.completed`.
#[utoipa::path(post, operation_id = "task_complete", path = "/api/v1/tasks/{id}/complete", tag = "tasks", request_body = Finish,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TaskView), Problems), security(("bearer" = [])))]
pub async fn complete(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(f): Body<Finish>,
) -> Result<axum::Json<TaskView>, ApiError> {
    finish(state, a, id, false, f).await
}

/// Cancels the task (rejected).
#[utoipa::path(post, operation_id = "task_cancel", path = "/api/v1/tasks/{id}/cancel", tag = "tasks", request_body = Finish,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = TaskView), Problems), security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(f): Body<Finish>,
) -> Result<axum::Json<TaskView>, ApiError> {
    finish(state, a, id, true, f).await
}

async fn finish(
    state: AppState,
    a: Access,
    id: i64,
    cancel: bool,
    f: Finish,
) -> Result<axum::Json<TaskView>, ApiError> {
    writer(&a)?;
    writable(&state, &a, id).await?;
    tasks::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let (db, cfg) = (&state.db, &state.cfg);
    tasks::finish(
        db,
        cfg,
        &a.actor,
        id,
        cancel,
        f.reason.as_deref(),
        state.now(),
    )
    .await?;
    Ok(axum::Json(view(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Assignee {
    pub assignee: String,
}

/// Hands the task to another person.
#[utoipa::path(put, operation_id = "task_reassign", path = "/api/v1/tasks/{id}/assignee", tag = "tasks", request_body = Assignee,
    params(("id" = i64, Path)), responses((status = 200, body = TaskView), Problems),
    security(("bearer" = [])))]
pub async fn reassign(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(b): Body<Assignee>,
) -> Result<axum::Json<TaskView>, ApiError> {
    writer(&a)?;
    writable(&state, &a, id).await?;
    tasks::find(&state.db, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    tasks::reassign(
        &state.db,
        &state.cfg,
        &a.actor,
        id,
        &b.assignee,
        state.now(),
    )
    .await?;
    Ok(axum::Json(view(&state, &a, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewSchedule {
    /// RFC 3339.
    pub at: String,
    /// Field values, and `status` (with an optional `reason`).
    #[schema(value_type = Object)]
    pub set: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Scheduled {
    pub id: i64,
    pub at: String,
    #[schema(value_type = Object)]
    pub set: Value,
    /// `pending`, `done`, `failed` or `cancelled`.
    pub status: String,
    pub error: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleList {
    pub items: Vec<Scheduled>,
}

/// Schedules a field or status update; the scheduler carries it out once.
#[utoipa::path(post, operation_id = "task_schedule", path = "/api/v1/tasks/{id}/schedule", tag = "tasks", request_body = NewSchedule,
    params(("id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = Created), Problems), security(("bearer" = [])))]
pub async fn schedule(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
    Body(s): Body<NewSchedule>,
) -> Result<impl IntoResponse, ApiError> {
    writer(&a)?;
    writable(&state, &a, id).await?;
    let at = time(&s.at)?;
    let sid = crate::service::schedule::add(&state.db, id, at, &s.set, state.now()).await?;
    Ok((StatusCode::CREATED, axum::Json(Created { id: sid })))
}

#[utoipa::path(get, operation_id = "task_scheduled", path = "/api/v1/tasks/{id}/schedule", tag = "tasks",
    params(("id" = i64, Path)), responses((status = 200, body = ScheduleList), Problems),
    security(("bearer" = [])))]
pub async fn scheduled(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P(id): P<i64>,
) -> Result<axum::Json<ScheduleList>, ApiError> {
    app_of(&a)?;
    if readable(&state, &a, id).await? != Reach::Queue {
        return Err(ApiError::NotFound);
    }
    let items = crate::service::schedule::list(&state.db, id)
        .await?
        .into_iter()
        .map(|s| Scheduled {
            id: s.id,
            at: crate::store::rfc3339(s.at),
            set: serde_json::from_str(&s.changes).unwrap_or(Value::Null),
            status: s.status,
            error: s.error,
        })
        .collect();
    Ok(axum::Json(ScheduleList { items }))
}

/// Cancels a pending scheduled update (409 once it ran).
#[utoipa::path(delete, operation_id = "task_unschedule", path = "/api/v1/tasks/{id}/schedule/{sid}", tag = "tasks",
    params(("id" = i64, Path), ("sid" = i64, Path)),
    responses((status = 204, description = "cancelled"), Problems), security(("bearer" = [])))]
pub async fn unschedule(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    P((id, sid)): P<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    writer(&a)?;
    writable(&state, &a, id).await?;
    if crate::service::schedule::cancel(&state.db, id, sid, state.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::Refused {
            code: "already_done",
            message: "the update already ran or was cancelled".into(),
        })
    }
}
