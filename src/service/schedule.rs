//! Scheduled updates: an application asks that a task's fields or status
//! change at a time. Stored as data on the task (listed, cancellable) and
//! carried out by the scheduler once, even with several instances: the
//! update is claimed by a conditional write only one of them wins, before
//! it is applied (a failure is recorded on it, never retried twice).

use serde_json::{Map, Value};

use super::ServiceError;
use crate::config::Config;
use crate::store::{Db, api, schedule, tasks, tickets};

/// What an update may set: `status` (with an optional `reason`) and the
/// task type's fields.
fn check(schema_json: &str, set: &Map<String, Value>) -> Result<(), ServiceError> {
    if set.is_empty() {
        return Err(ServiceError::Invalid(
            "set at least one field or the status".into(),
        ));
    }
    let mut fields = set.clone();
    if let Some(s) = fields.remove("status") {
        let ok = s
            .as_str()
            .is_some_and(|s| super::tickets::STATUSES.contains(&s) && s != "postponed");
        if !ok {
            return Err(ServiceError::Invalid(format!(
                "status must be one of {} (not postponed)",
                super::tickets::STATUSES.join(", ")
            )));
        }
    }
    if let Some(r) = fields.remove("reason")
        && !r.is_string()
    {
        return Err(ServiceError::Invalid("reason is text".into()));
    }
    super::tasks::check_values(&super::tasks::schema_of(schema_json)?, &fields)?;
    Ok(())
}

/// Stores an update of task `id` due at `at`; returns its id.
pub async fn add(
    db: &Db,
    id: i64,
    at: i64,
    set: &Map<String, Value>,
    now: i64,
) -> Result<i64, ServiceError> {
    let mut tx = db.begin_write().await?;
    let row = tasks::get(&mut tx, id)
        .await?
        .ok_or(ServiceError::NoTicket(id))?;
    check(&row.schema, set)?;
    let sid = schedule::add(
        &mut tx,
        id,
        at,
        &Value::Object(set.clone()).to_string(),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(sid)
}

pub async fn list(db: &Db, id: i64) -> Result<Vec<schedule::Scheduled>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(schedule::of_ticket(&mut conn, id).await?)
}

/// Cancels a pending update of task `task`; false when it had already run.
pub async fn cancel(db: &Db, task: i64, id: i64, now: i64) -> Result<bool, ServiceError> {
    let mut tx = db.begin_write().await?;
    match schedule::get(&mut tx, id).await? {
        Some(s) if s.ticket_id == task => {}
        _ => return Err(ServiceError::NoTicket(task)),
    }
    let done = schedule::finish(&mut tx, id, "cancelled", None, now).await?;
    tx.commit().await?;
    Ok(done)
}

/// Carries out the updates due at `now`; returns the ids carried out.
pub async fn run_due(db: &Db, cfg: &Config, now: i64) -> Result<Vec<i64>, ServiceError> {
    let due = {
        let mut conn = db.conn().await?;
        schedule::due(&mut conn, now, 200).await?
    };
    let mut done = Vec::new();
    for s in due {
        let mut tx = db.begin_write().await?;
        if !schedule::finish(&mut tx, s.id, "done", None, now).await? {
            continue;
        }
        let actor = actor_of(&mut tx, s.ticket_id).await?;
        tx.commit().await?;
        if let Err(e) = apply(db, cfg, &actor, &s, now).await {
            let mut tx = db.begin_write().await?;
            schedule::fail(&mut tx, s.id, &e.to_string()).await?;
            tx.commit().await?;
            tracing::warn!(update = s.id, ticket = s.ticket_id, error = %e, "a scheduled update failed");
            continue;
        }
        done.push(s.id);
    }
    Ok(done)
}

/// The application owning the task's queue acts.
async fn actor_of(conn: &mut sqlx::AnyConnection, ticket: i64) -> Result<String, ServiceError> {
    let app = tickets::context(&mut *conn, ticket)
        .await?
        .and_then(|c| c.app_id);
    Ok(match app {
        Some(id) => api::app(conn, id).await?.map(|a| a.email),
        None => None,
    }
    .unwrap_or_else(|| "scheduler@docket.invalid".into()))
}

async fn apply(
    db: &Db,
    cfg: &Config,
    actor: &str,
    s: &schedule::Scheduled,
    now: i64,
) -> Result<(), ServiceError> {
    let mut set: Map<String, Value> = serde_json::from_str(&s.changes).unwrap_or_default();
    let status = set.remove("status");
    let reason = set.remove("reason");
    if !set.is_empty() {
        super::tasks::write_fields(db, actor, s.ticket_id, &set, now).await?;
    }
    if let Some(Value::String(status)) = status {
        let reason = reason
            .as_ref()
            .and_then(Value::as_str)
            .unwrap_or("scheduled update");
        let change = super::tickets::StatusChange {
            status: &status,
            reason: Some(reason),
            eta: None,
            criteria_met: true,
        };
        super::tickets::change_status(db, cfg, s.ticket_id, actor, change, now).await?;
    }
    Ok(())
}
