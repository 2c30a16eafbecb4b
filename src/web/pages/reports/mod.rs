//! The reports (`/reports/aging`, `/reports/flow`, renders
//! `templates/reports/`) and the SLA board (`/sla`, `templates/sla/`):
//! each table with its chart beside it and a CSV download of it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Page, Viewer, When};
use crate::domain::aging::BUCKETS;
use crate::service::reports::{self, Aging, Filter};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::charts::{self, Series, Svg};
use crate::web::error::WebError;

mod flow;
pub use flow::*;

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    pub(super) queue: Option<String>,
    pub(super) owner: Option<String>,
    /// As of this day or time, in the reader's zone.
    at: Option<String>,
    weeks: Option<i64>,
    /// Which table a CSV download holds.
    table: Option<String>,
}

/// The filter, limited to the queues the reader may see.
pub(super) async fn filter(
    state: &AppState,
    user: &CurrentUser,
    q: &ReportQuery,
) -> Result<Filter, WebError> {
    // Admins see every people's queue; applications' queues are nobody's.
    let visible = Some(crate::web::rights::visible(state, user).await?);
    let nonempty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    Ok(Filter {
        queue: nonempty(&q.queue),
        owner: nonempty(&q.owner),
        visible,
    })
}

/// Queue names the reader may pick from.
pub(super) async fn queue_names(
    state: &AppState,
    user: &CurrentUser,
) -> Result<Vec<String>, WebError> {
    let visible = crate::web::rights::visible(state, user).await?;
    let mut conn = state.db.pool.acquire().await?;
    Ok(crate::store::queues::list(&mut conn)
        .await?
        .into_iter()
        .filter(|q| visible.contains(&q.id))
        .map(|q| q.name)
        .collect())
}

pub(super) fn csv_response(name: &str, rows: Vec<Vec<String>>) -> Result<Response, WebError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        let r: Vec<String> = r.into_iter().map(inert).collect();
        w.write_record(&r)
            .map_err(|e| WebError::Internal(format!("writing CSV: {e}")))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| WebError::Internal(format!("writing CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A cell a spreadsheet would run as a formula (text from mail, such as a
/// subject starting with `=`) gets a leading `'`; numbers stay numbers.
fn inert(cell: String) -> String {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().is_err() {
        format!("'{cell}")
    } else {
        cell
    }
}

/// A table of counts per age bucket.
pub struct BucketTable {
    pub key: &'static str,
    /// The first column's heading.
    pub column: &'static str,
    pub title: &'static str,
    pub rows: Vec<(String, Vec<i64>, i64)>,
    pub chart: Svg,
}

fn bucket_table(
    (key, column, title): (&'static str, &'static str, &'static str),
    rows: &std::collections::BTreeMap<String, Vec<i64>>,
) -> BucketTable {
    let names: Vec<String> = rows.keys().cloned().collect();
    let series: Vec<Series<'_>> = BUCKETS
        .iter()
        .enumerate()
        .map(|(i, (label, _))| Series {
            name: label,
            values: rows
                .values()
                .map(|v| v.get(i).copied().unwrap_or(0))
                .collect(),
        })
        .collect();
    BucketTable {
        key,
        column,
        title,
        chart: charts::stacked_bars(title, &names, &series),
        rows: rows
            .iter()
            .map(|(k, v)| (k.clone(), v.clone(), v.iter().sum()))
            .collect(),
    }
}

pub struct OldView {
    id: i64,
    subject: String,
    queue: String,
    owner: String,
    status: String,
    created: When,
    updated: When,
}

#[derive(Template, WebTemplate)]
#[template(path = "reports/aging.html")]
pub struct AgingPage {
    page: Page,
    queues: Vec<String>,
    queue: String,
    owner: String,
    at: String,
    error: Option<String>,
    as_of: When,
    labels: Vec<&'static str>,
    totals: Vec<i64>,
    total: i64,
    tables: Vec<BucketTable>,
    since_chart: Svg,
    stale: Vec<i64>,
    in_status: Vec<i64>,
    oldest: Vec<OldView>,
    query: String,
}

/// `at` as the reader wrote it: a day (its end) or a day and time, in their zone.
fn as_of(q: &ReportQuery, viewer: Viewer) -> Result<Option<i64>, String> {
    let Some(raw) = q.at.as_deref().map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let day = format!("{raw}T23:59");
    super::local_time(raw, viewer.tz)
        .or_else(|| super::local_time(&day, viewer.tz))
        .map(Some)
        .ok_or_else(|| format!("\"{raw}\" is not a date like 2026-11-20 or 2026-11-20T09:00."))
}

pub(super) fn query_of(q: &ReportQuery) -> String {
    super::list::query_string(&[
        ("queue", q.queue.as_deref().unwrap_or("")),
        ("owner", q.owner.as_deref().unwrap_or("")),
        ("at", q.at.as_deref().unwrap_or("")),
    ])
}

async fn aging_of(
    state: &AppState,
    user: &CurrentUser,
    q: &ReportQuery,
) -> Result<(Aging, Option<String>), WebError> {
    let viewer = user.viewer(state.now());
    let (at, error) = match as_of(q, viewer) {
        Ok(at) => (at, None),
        Err(e) => (None, Some(e)),
    };
    let f = filter(state, user, q).await?;
    match reports::aging(&state.db, &f, at, viewer.now).await {
        Ok(r) => Ok((r, error)),
        Err(crate::service::ServiceError::Invalid(e)) => {
            let r = reports::aging(
                &state.db,
                &Filter {
                    queue: None,
                    owner: None,
                    ..f
                },
                None,
                viewer.now,
            )
            .await?;
            Ok((r, Some(e)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn aging(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> Result<AgingPage, WebError> {
    let viewer = user.viewer(state.now());
    let (r, error) = aging_of(&state, &user, &q).await?;
    let labels: Vec<&'static str> = BUCKETS.iter().map(|(l, _)| *l).collect();
    let counts = |b: &[reports::Bucket]| b.iter().map(|x| x.count).collect::<Vec<i64>>();
    let since_chart = charts::grouped_bars(
        "Open tickets by time since the last update and in the current status",
        &labels.iter().map(|l| l.to_string()).collect::<Vec<_>>(),
        &[
            Series {
                name: "since last update",
                values: counts(&r.stale),
            },
            Series {
                name: "in current status",
                values: counts(&r.in_status),
            },
        ],
    );
    Ok(AgingPage {
        queues: queue_names(&state, &user).await?,
        queue: q.queue.clone().unwrap_or_default(),
        owner: q.owner.clone().unwrap_or_default(),
        at: q.at.clone().unwrap_or_default(),
        error,
        as_of: viewer.when(r.at_ms),
        totals: counts(&r.buckets),
        total: r.buckets.iter().map(|b| b.count).sum(),
        tables: vec![
            bucket_table(("queue", "Queue", "By queue"), &r.by_queue),
            bucket_table(("owner", "Owner", "By owner"), &r.by_owner),
            bucket_table(("status", "Status", "By status"), &r.by_status),
        ],
        since_chart,
        stale: counts(&r.stale),
        in_status: counts(&r.in_status),
        oldest: r
            .oldest_tickets
            .iter()
            .map(|t| OldView {
                id: t.id,
                subject: t.subject.clone(),
                queue: t.queue.clone(),
                owner: t.owner.clone().unwrap_or_else(|| reports::NOBODY.into()),
                status: t.status.clone(),
                created: viewer.when(t.created_at),
                updated: viewer.when(t.updated_at),
            })
            .collect(),
        query: query_of(&q),
        labels,
        page: user.page(),
    })
}

pub async fn aging_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let (r, _) = aging_of(&state, &user, &q).await?;
    // Only a known table names the download.
    let table = ["owner", "status", "since", "oldest"]
        .into_iter()
        .find(|k| q.table.as_deref() == Some(*k))
        .unwrap_or("queue");
    let head = |first: &str| {
        std::iter::once(first.to_string())
            .chain(BUCKETS.iter().map(|(l, _)| l.to_string()))
            .collect::<Vec<_>>()
    };
    let grid = |first: &str, m: &std::collections::BTreeMap<String, Vec<i64>>| {
        let mut rows = vec![head(first)];
        rows.extend(m.iter().map(|(k, v)| {
            std::iter::once(k.clone())
                .chain(v.iter().map(i64::to_string))
                .collect()
        }));
        rows
    };
    let rows = match table {
        "owner" => grid("owner", &r.by_owner),
        "status" => grid("status", &r.by_status),
        "since" => vec![
            head("measure"),
            std::iter::once("open, by age".into())
                .chain(r.buckets.iter().map(|b| b.count.to_string()))
                .collect(),
            std::iter::once("since last update".into())
                .chain(r.stale.iter().map(|b| b.count.to_string()))
                .collect(),
            std::iter::once("in current status".into())
                .chain(r.in_status.iter().map(|b| b.count.to_string()))
                .collect(),
        ],
        "oldest" => {
            let mut rows = vec![
                [
                    "id", "subject", "queue", "owner", "status", "created", "updated",
                ]
                .map(String::from)
                .to_vec(),
            ];
            rows.extend(r.oldest_tickets.iter().map(|t| {
                vec![
                    t.id.to_string(),
                    t.subject.clone(),
                    t.queue.clone(),
                    t.owner.clone().unwrap_or_default(),
                    t.status.clone(),
                    crate::store::rfc3339(t.created_at),
                    crate::store::rfc3339(t.updated_at),
                ]
            }));
            rows
        }
        _ => grid("queue", &r.by_queue),
    };
    csv_response(&format!("aging-{table}"), rows)
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn csv_cells_never_run_as_formulas_and_numbers_stay_numbers() {
        assert_eq!(inert("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(inert("-3600000".into()), "-3600000");
        assert_eq!(inert("Printer jam".into()), "Printer jam");
    }
}
