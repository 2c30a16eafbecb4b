//! Read-only views: queues, staff, and the reports' figures.

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::problem::Problems;
use super::{ApiError, Q};
use crate::service::api_access::Access;
use crate::service::reports;
use crate::web::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Queue {
    pub id: i64,
    pub name: String,
    pub address: String,
    /// Owned by an application (private to it).
    pub application: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueList {
    pub items: Vec<Queue>,
}

/// The queues this token reads and writes.
#[utoipa::path(get, operation_id = "read_queues", path = "/api/v1/queues", tag = "reads",
    responses((status = 200, body = QueueList), Problems), security(("bearer" = [])))]
pub async fn queues(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
) -> Result<axum::Json<QueueList>, ApiError> {
    let mut conn = state.db.conn().await?;
    let items = crate::store::queues::list(&mut conn)
        .await?
        .into_iter()
        .filter(|q| a.may_use(q.id))
        .map(|q| Queue {
            id: q.id,
            name: q.name,
            address: q.correspond_address,
            application: q.app_id.is_some(),
        })
        .collect();
    Ok(axum::Json(QueueList { items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    /// `staff` or `admin`.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
}

/// Staff accounts: the people tickets and tasks can be handed to.
#[utoipa::path(get, operation_id = "read_users", path = "/api/v1/users", tag = "reads",
    responses((status = 200, body = UserList), Problems), security(("bearer" = [])))]
pub async fn users(
    State(state): State<AppState>,
    Extension(_a): Extension<Access>,
) -> Result<axum::Json<UserList>, ApiError> {
    let mut conn = state.db.conn().await?;
    let items = crate::store::users::list_staff(&mut conn)
        .await?
        .into_iter()
        .filter(|u| !u.email.ends_with("@apps.docket.invalid"))
        .map(|u| User {
            id: u.id,
            email: u.email,
            name: u.display_name,
            role: u.role,
        })
        .collect();
    Ok(axum::Json(UserList { items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// A queue's name (default: all the token's queues).
    pub queue: Option<String>,
    /// An owner's address, or `nobody`.
    pub owner: Option<String>,
}

fn filter(a: &Access, q: &ReportQuery) -> reports::Filter {
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    reports::Filter {
        queue: nonempty(&q.queue),
        owner: nonempty(&q.owner),
        visible: Some(a.queues.clone()),
    }
}

/// Open tickets by age, queue, owner and status (the aging report).
#[utoipa::path(get, operation_id = "read_aging", path = "/api/v1/reports/aging", tag = "reads", params(ReportQuery),
    responses((status = 200, body = Object), Problems), security(("bearer" = [])))]
pub async fn aging(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    Q(q): Q<ReportQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let report = reports::aging(&state.db, &filter(&a, &q), None, state.now()).await?;
    serde_json::to_value(report)
        .map(axum::Json)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Tickets at risk of missing an SLA target, and those that missed one.
#[utoipa::path(get, operation_id = "read_sla", path = "/api/v1/reports/sla", tag = "reads", params(ReportQuery),
    responses((status = 200, body = Object), Problems), security(("bearer" = [])))]
pub async fn sla(
    State(state): State<AppState>,
    Extension(a): Extension<Access>,
    Q(q): Q<ReportQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let report = reports::sla(&state.db, &filter(&a, &q), state.now(), Some(100)).await?;
    let lines =
        serde_json::to_value(&report.lines).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut v = serde_json::to_value(report).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Value::Object(m) = &mut v {
        m.insert("lines".into(), lines);
    }
    Ok(axum::Json(v))
}
