//! Task types and tasks: a task is a ticket with a type and typed values.

use sqlx::{AnyConnection, FromRow};

use super::Result;

#[derive(Debug, Clone, FromRow)]
pub struct TaskTypeRow {
    pub id: i64,
    pub app_id: i64,
    pub name: String,
    /// The schema, JSON.
    pub fields: String,
}

/// Creates or replaces a type's schema; returns its id.
pub async fn put_type(
    conn: &mut AnyConnection,
    app: i64,
    name: &str,
    fields: &str,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO task_types (app_id, name, fields, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (app_id, name) DO UPDATE SET fields = excluded.fields, \
         updated_at = excluded.updated_at RETURNING id",
    )
    .bind(app)
    .bind(name)
    .bind(fields)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

pub async fn type_by_name(
    conn: &mut AnyConnection,
    app: i64,
    name: &str,
) -> Result<Option<TaskTypeRow>> {
    Ok(sqlx::query_as(
        "SELECT id, app_id, name, fields FROM task_types WHERE app_id = $1 AND name = $2",
    )
    .bind(app)
    .bind(name)
    .fetch_optional(conn)
    .await?)
}

pub async fn types_of(conn: &mut AnyConnection, app: i64) -> Result<Vec<TaskTypeRow>> {
    Ok(sqlx::query_as(
        "SELECT id, app_id, name, fields FROM task_types WHERE app_id = $1 ORDER BY name",
    )
    .bind(app)
    .fetch_all(conn)
    .await?)
}

pub struct NewTask<'a> {
    pub ticket_id: i64,
    pub type_id: i64,
    pub hidden: bool,
    pub assignee_id: Option<i64>,
    pub fields: &'a str,
}

pub async fn insert(conn: &mut AnyConnection, t: NewTask<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO tasks (ticket_id, type_id, hidden, assignee_id, fields) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(t.ticket_id)
    .bind(t.type_id)
    .bind(i16::from(t.hidden))
    .bind(t.assignee_id)
    .bind(t.fields)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE tickets SET hidden = $1 WHERE id = $2")
        .bind(i16::from(t.hidden))
        .bind(t.ticket_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// A task with its ticket's state, as one row.
#[derive(Debug, Clone, FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub title: String,
    pub status: String,
    pub queue_id: i64,
    pub queue: String,
    pub app_id: Option<i64>,
    pub type_name: String,
    pub schema: String,
    pub hidden: i16,
    pub assignee_id: Option<i64>,
    pub assignee: Option<String>,
    pub parent_id: Option<i64>,
    pub fields: String,
    pub input_needed: String,
    pub input_message: Option<String>,
    pub input_due: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const TASK: &str = "SELECT t.id, t.subject AS title, t.status, t.queue_id, q.name AS queue, \
     q.app_id, ty.name AS type_name, ty.fields AS schema, k.hidden, k.assignee_id, \
     u.email AS assignee, t.parent_id, k.fields, k.input_needed, k.input_message, k.input_due, \
     t.created_at, t.updated_at FROM tasks k JOIN tickets t ON t.id = k.ticket_id \
     JOIN queues q ON q.id = t.queue_id JOIN task_types ty ON ty.id = k.type_id \
     LEFT JOIN users u ON u.id = k.assignee_id";

pub async fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<TaskRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TASK} WHERE k.ticket_id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// A person's visible tasks, open ones first.
pub async fn of_assignee(conn: &mut AnyConnection, user: i64, limit: i64) -> Result<Vec<TaskRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{TASK} WHERE k.assignee_id = $1 AND k.hidden = 0 ORDER BY \
         CASE WHEN t.status IN ('resolved', 'rejected') THEN 1 ELSE 0 END, t.id DESC LIMIT $2"
    )))
    .bind(user)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn set_values(conn: &mut AnyConnection, id: i64, fields: &str, now: i64) -> Result<()> {
    sqlx::query("UPDATE tasks SET fields = $1 WHERE ticket_id = $2")
        .bind(fields)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    super::tickets::touch(conn, id, now).await
}

/// Opens fields for input (an empty list `[]` locks them all again).
pub async fn set_input(
    conn: &mut AnyConnection,
    id: i64,
    names: &str,
    message: Option<&str>,
    due: Option<i64>,
) -> Result<()> {
    sqlx::query(
        "UPDATE tasks SET input_needed = $1, input_message = $2, input_due = $3 WHERE ticket_id = $4",
    )
    .bind(names)
    .bind(message)
    .bind(due)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_assignee(conn: &mut AnyConnection, id: i64, user: Option<i64>) -> Result<()> {
    sqlx::query("UPDATE tasks SET assignee_id = $1 WHERE ticket_id = $2")
        .bind(user)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether ticket `id` is hidden from people (a task the application keeps).
pub async fn is_hidden(conn: &mut AnyConnection, id: i64) -> Result<bool> {
    let h: Option<i16> = sqlx::query_scalar("SELECT hidden FROM tickets WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(h.unwrap_or(0) != 0)
}

/// The assignee's id when ticket `id` is a visible task and they are
/// still staff.
pub async fn visible_assignee(conn: &mut AnyConnection, id: i64) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT k.assignee_id FROM tasks k JOIN users u ON u.id = k.assignee_id \
         WHERE k.ticket_id = $1 AND k.hidden = 0 AND u.role IN ('staff', 'admin')",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .flatten())
}
