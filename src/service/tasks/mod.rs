//! Typed tasks an application hands to people: task types with field
//! schemas, tasks (tickets with a type and typed values), and the view of
//! one as the application or its assignee may see it. Every field is locked
//! until the application asks for input ([`input`]).

pub mod input;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::AnyConnection;

use super::tickets::history;
use super::{ServiceError, notify};
use crate::config::Config;
use crate::domain::task_schema::{self, FieldDef, FieldError};
use crate::store::{Db, links, rfc3339, tasks, tickets, users};

/// Creates or replaces an application's task type.
pub async fn define_type(
    db: &Db,
    app: i64,
    name: &str,
    fields: &[FieldDef],
    now: i64,
) -> Result<i64, ServiceError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ServiceError::Invalid(
            "a task type's name is 1 to 64 letters, digits, - _ or .".into(),
        ));
    }
    task_schema::check_schema(fields).map_err(|errors| ServiceError::Fields {
        message: "the field schema is not usable".into(),
        errors,
    })?;
    let json =
        serde_json::to_string(fields).map_err(|e| ServiceError::Invalid(format!("schema: {e}")))?;
    let mut tx = db.begin_write().await?;
    let id = tasks::put_type(&mut tx, app, name, &json, now).await?;
    tx.commit().await?;
    Ok(id)
}

/// The schema a task type stored.
pub fn schema_of(json: &str) -> Result<Vec<FieldDef>, ServiceError> {
    serde_json::from_str(json).map_err(|e| ServiceError::Invalid(format!("stored schema: {e}")))
}

pub async fn types(db: &Db, app: i64) -> Result<Vec<(String, Vec<FieldDef>)>, ServiceError> {
    let mut conn = db.conn().await?;
    tasks::types_of(&mut conn, app)
        .await?
        .into_iter()
        .map(|t| Ok((t.name, schema_of(&t.fields)?)))
        .collect()
}

/// A task as the application describes it.
pub struct NewTask<'a> {
    pub app: i64,
    pub type_name: &'a str,
    pub queue_id: i64,
    pub title: &'a str,
    pub assignee: Option<&'a str>,
    pub parent: Option<i64>,
    pub hidden: bool,
    pub fields: &'a Map<String, Value>,
}

/// Values checked against the schema: every name known, every value of
/// its type.
pub fn check_values(
    schema: &[FieldDef],
    values: &Map<String, Value>,
) -> Result<Map<String, Value>, ServiceError> {
    let mut out = Map::new();
    let mut errors = Vec::new();
    for (name, v) in values {
        match schema.iter().find(|f| &f.name == name) {
            None => errors.push(FieldError::new(name, "no such field in the task type")),
            Some(def) => match task_schema::check_json(def, v) {
                Ok(v) => {
                    out.insert(name.clone(), v);
                }
                Err(m) => errors.push(FieldError::new(name, m)),
            },
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ServiceError::Fields {
            message: "some fields are not valid".into(),
            errors,
        })
    }
}

/// Creates a task; the assignee (a staff member) is told by mail.
pub async fn create(
    db: &Db,
    cfg: &Config,
    actor: &str,
    t: NewTask<'_>,
    now: i64,
) -> Result<i64, ServiceError> {
    let title = t.title.trim();
    if title.is_empty() {
        return Err(ServiceError::Invalid("a task needs a title".into()));
    }
    if t.hidden && t.assignee.is_some() {
        return Err(ServiceError::Invalid(
            "a hidden task is the application's own: it has no assignee".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    let ty = tasks::type_by_name(&mut tx, t.app, t.type_name)
        .await?
        .ok_or_else(|| ServiceError::Invalid(format!("no task type {:?}", t.type_name)))?;
    let values = check_values(&schema_of(&ty.fields)?, t.fields)?;
    let assignee = match t.assignee {
        Some(a) => Some(staff_id(&mut tx, a).await?),
        None => None,
    };
    let id = tickets::create(
        &mut tx,
        tickets::NewTicket {
            queue_id: t.queue_id,
            subject: title,
            now,
        },
    )
    .await?;
    tasks::insert(
        &mut tx,
        tasks::NewTask {
            ticket_id: id,
            type_id: ty.id,
            hidden: t.hidden,
            assignee_id: assignee,
            fields: &Value::Object(values).to_string(),
        },
    )
    .await?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    tickets::set_owner(&mut tx, id, assignee, now).await?;
    let note = format!("task of type {}", t.type_name);
    let mut h = history(id, "create", Some(creator), "", now);
    h.thread_note = Some(&note);
    tickets::add_transaction(&mut tx, h).await?;
    if let Some(parent) = t.parent {
        attach_to_parent(&mut tx, (id, t.hidden), parent, creator, now).await?;
    }
    super::sla::refresh(&mut tx, id, now).await?;
    if let Some(uid) = assignee {
        tell(&mut tx, cfg, id, uid, actor, "handed you a task", "", now).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Makes the task a child of `parent`; a hidden one leaves no trace in
/// the parent's history, which people read.
async fn attach_to_parent(
    conn: &mut AnyConnection,
    (child, hidden): (i64, bool),
    parent: i64,
    creator: i64,
    now: i64,
) -> Result<(), ServiceError> {
    if !tickets::exists(&mut *conn, parent).await? {
        return Err(ServiceError::NoTicket(parent));
    }
    links::set_parent(&mut *conn, child, parent).await?;
    if hidden {
        return Ok(());
    }
    let c = format!("#{child}");
    let mut h = history(parent, "link", Some(creator), "", now);
    h.thread_note = Some("child");
    h.new_value = Some(&c);
    tickets::add_transaction(conn, h).await?;
    Ok(())
}

/// The id of a staff member by address; people without an account cannot
/// be handed tasks (they could not sign in to answer one).
pub(crate) async fn staff_id(conn: &mut AnyConnection, email: &str) -> Result<i64, ServiceError> {
    let email = crate::domain::address::normalise(email)
        .ok_or_else(|| ServiceError::Invalid(format!("{email:?} is not an e-mail address")))?;
    users::find_staff(conn, &email).await?.ok_or_else(|| {
        ServiceError::refused(
            "no_such_person",
            format!("{email} has no staff account, so cannot be handed a task"),
        )
    })
}

/// Mails the assignee of task `id` (never for a hidden task).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn tell(
    conn: &mut AnyConnection,
    cfg: &Config,
    id: i64,
    uid: i64,
    actor: &str,
    what: &str,
    body: &str,
    now: i64,
) -> Result<(), ServiceError> {
    if tasks::is_hidden(&mut *conn, id).await? {
        return Ok(());
    }
    let Some(ctx) = tickets::context(&mut *conn, id).await? else {
        return Ok(());
    };
    let Some((email, _)) = users::email_of(&mut *conn, uid).await? else {
        return Ok(());
    };
    let scope = notify::Scope::load(&mut *conn, cfg, &ctx, now).await?;
    let name = match crate::store::api::app(&mut *conn, ctx.app_id.unwrap_or(0)).await? {
        Some(a) => a.name,
        None => actor.to_string(),
    };
    notify::tell_assignee(conn, &scope, (&email, uid), &name, what, body).await?;
    Ok(())
}

/// A task as a reader sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: i64,
    #[serde(rename = "type")]
    pub type_name: String,
    pub title: String,
    pub queue: String,
    pub status: String,
    pub assignee: Option<String>,
    pub hidden: bool,
    pub parent: Option<i64>,
    /// Values by field name (only those the reader may see).
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
    /// Fields open for input; all others are locked.
    pub input_needed: Vec<String>,
    pub input_message: Option<String>,
    pub input_due: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub schema: Vec<FieldDef>,
}

/// Who reads a task: its application sees every field, its assignee
/// those shown to assignees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    App,
    Assignee,
}

pub fn view(row: tasks::TaskRow, reader: Reader) -> Result<TaskView, ServiceError> {
    let schema = schema_of(&row.schema)?;
    let values: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    let fields = values
        .into_iter()
        .filter(|(k, _)| {
            reader == Reader::App
                || schema
                    .iter()
                    .any(|f| &f.name == k && f.visible_to_assignee())
        })
        .collect();
    Ok(TaskView {
        id: row.id,
        type_name: row.type_name,
        title: row.title,
        queue: row.queue,
        status: row.status,
        assignee: row.assignee,
        hidden: row.hidden != 0,
        parent: row.parent_id,
        fields,
        input_needed: serde_json::from_str(&row.input_needed).unwrap_or_default(),
        input_message: row.input_message,
        input_due: row.input_due.map(rfc3339),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        schema,
    })
}

/// The task behind ticket `id`, if it is one.
pub async fn find(db: &Db, id: i64) -> Result<Option<tasks::TaskRow>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(tasks::get(&mut conn, id).await?)
}

/// The application writes values at any time (locked or not).
pub async fn write_fields(
    db: &Db,
    actor: &str,
    id: i64,
    values: &Map<String, Value>,
    now: i64,
) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let row = tasks::get(&mut tx, id)
        .await?
        .ok_or(ServiceError::NoTicket(id))?;
    let schema = schema_of(&row.schema)?;
    let checked = check_values(&schema, values)?;
    let mut stored: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    stored.extend(checked.clone());
    tasks::set_values(&mut tx, id, &Value::Object(stored).to_string(), now).await?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    let text = written_text(&schema, &checked);
    let mut h = history(id, "fields", Some(creator), &text, now);
    h.thread_note = Some("fields written by the application");
    tickets::add_transaction(&mut tx, h).await?;
    tx.commit().await?;
    Ok(())
}

/// The history's account of values the application wrote: the assignee
/// reads this history, so a field for the application alone is counted,
/// never shown.
fn written_text(schema: &[FieldDef], written: &Map<String, Value>) -> String {
    let mut lines = Vec::new();
    let mut private = 0;
    for f in schema.iter().filter(|f| written.contains_key(&f.name)) {
        if f.visible_to_assignee() {
            let v = written.get(&f.name).map(task_schema::display);
            lines.push(format!("{}: {}", f.label(), v.unwrap_or_default()));
        } else {
            private += 1;
        }
    }
    if private > 0 {
        lines.push(format!("({private} field(s) for the application only)"));
    }
    lines.join("\n")
}

/// Hands the task to someone else; they are told.
pub async fn reassign(
    db: &Db,
    cfg: &Config,
    actor: &str,
    id: i64,
    assignee: &str,
    now: i64,
) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let row = tasks::get(&mut tx, id)
        .await?
        .ok_or(ServiceError::NoTicket(id))?;
    if row.hidden != 0 {
        return Err(ServiceError::Invalid(
            "a hidden task has no assignee".into(),
        ));
    }
    let uid = staff_id(&mut tx, assignee).await?;
    tasks::set_assignee(&mut tx, id, Some(uid)).await?;
    tickets::set_owner(&mut tx, id, Some(uid), now).await?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    let mut h = history(id, "owner", Some(creator), "", now);
    h.old_value = row.assignee.as_deref();
    let new = crate::domain::address::normalise(assignee).unwrap_or_default();
    h.new_value = Some(&new);
    tickets::add_transaction(&mut tx, h).await?;
    tell(&mut tx, cfg, id, uid, actor, "handed you a task", "", now).await?;
    tx.commit().await?;
    Ok(())
}

/// Completes (`resolved`) or cancels (`rejected`) the task, through the
/// flow's status rules; the application hears `task.completed`.
pub async fn finish(
    db: &Db,
    cfg: &Config,
    actor: &str,
    id: i64,
    cancel: bool,
    reason: Option<&str>,
    now: i64,
) -> Result<(), ServiceError> {
    let status = if cancel { "rejected" } else { "resolved" };
    let default = if cancel { "cancelled" } else { "completed" };
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .unwrap_or(default);
    let change = super::tickets::StatusChange {
        status,
        reason: Some(reason),
        eta: None,
        criteria_met: true,
    };
    super::tickets::change_status(db, cfg, id, actor, change, now).await?;
    let mut tx = db.begin_write().await?;
    tasks::set_input(&mut tx, id, "[]", None, None).await?;
    let data = serde_json::json!({"task": id, "status": status});
    super::webhooks::emit_for(&mut tx, id, "task.completed", data, now).await?;
    tx.commit().await?;
    Ok(())
}
