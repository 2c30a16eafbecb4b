//! `/reports/flow` (renders `templates/reports/flow.html`): the weeks, and
//! response and resolution times by queue and month.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::Response;

use super::{ReportQuery, csv_response, filter, queue_names};
use crate::service::reports::{self, Filter, Flow, Spread};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::charts::{self, Series, Svg};
use crate::web::error::WebError;
use crate::web::pages::Page;

/// Seconds as a short duration: "45 m", "3.5 h", "2.1 d".
fn duration(s: Option<i64>) -> String {
    match s {
        None => "—".into(),
        Some(s) if s < 3_600 => format!("{} m", s / 60),
        Some(s) if s < 86_400 => format!("{:.1} h", s as f64 / 3_600.0),
        Some(s) => format!("{:.1} d", s as f64 / 86_400.0),
    }
}

pub struct TimesView {
    name: String,
    n_response: usize,
    response_median: String,
    response_p90: String,
    n_resolved: usize,
    resolution_median: String,
    resolution_p90: String,
}

fn times_view(name: String, fr: Spread, res: Spread) -> TimesView {
    TimesView {
        name,
        n_response: fr.n,
        response_median: duration(fr.median_s),
        response_p90: duration(fr.p90_s),
        n_resolved: res.n,
        resolution_median: duration(res.median_s),
        resolution_p90: duration(res.p90_s),
    }
}

pub struct WeekView {
    start: String,
    created: i64,
    resolved: i64,
    backlog: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "reports/flow.html")]
pub struct FlowPage {
    page: Page,
    queues: Vec<String>,
    queue: String,
    weeks: i64,
    error: Option<String>,
    rows: Vec<WeekView>,
    flow_chart: Svg,
    backlog_chart: Svg,
    overall: TimesView,
    by_queue: Vec<TimesView>,
    queue_chart: Svg,
    by_month: Vec<TimesView>,
    month_chart: Svg,
    query: String,
}

async fn flow_of(
    state: &AppState,
    user: &CurrentUser,
    q: &ReportQuery,
) -> Result<(Flow, i64, Option<String>), WebError> {
    let weeks = q.weeks.unwrap_or(12);
    let f = filter(state, user, q).await?;
    match reports::flow(&state.db, &f, weeks, state.now()).await {
        Ok(r) => Ok((r, weeks, None)),
        Err(crate::service::ServiceError::Invalid(e)) => {
            let r = reports::flow(
                &state.db,
                &Filter {
                    queue: None,
                    owner: None,
                    ..f
                },
                12,
                state.now(),
            )
            .await?;
            Ok((r, 12, Some(e)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Hours (rounded) for the percentile charts.
fn hours(s: Option<i64>) -> i64 {
    s.map_or(0, |s| (s + 1_800) / 3_600)
}

fn percentile_chart(title: &str, rows: &[reports::Times]) -> Svg {
    let names: Vec<String> = rows.iter().map(|t| t.name.clone()).collect();
    charts::grouped_bars(
        title,
        &names,
        &[
            Series {
                name: "first reply median (h)",
                values: rows
                    .iter()
                    .map(|t| hours(t.first_response.median_s))
                    .collect(),
            },
            Series {
                name: "first reply p90 (h)",
                values: rows.iter().map(|t| hours(t.first_response.p90_s)).collect(),
            },
            Series {
                name: "resolution median (h)",
                values: rows.iter().map(|t| hours(t.resolution.median_s)).collect(),
            },
            Series {
                name: "resolution p90 (h)",
                values: rows.iter().map(|t| hours(t.resolution.p90_s)).collect(),
            },
        ],
    )
}

pub async fn flow(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> Result<FlowPage, WebError> {
    let viewer = user.viewer(state.now());
    let (r, weeks, error) = flow_of(&state, &user, &q).await?;
    let labels: Vec<String> = r.weeks.iter().map(|w| viewer.utc_day(w.start_ms)).collect();
    let values = |f: fn(&reports::Week) -> i64| r.weeks.iter().map(f).collect::<Vec<i64>>();
    Ok(FlowPage {
        queues: queue_names(&state, &user).await?,
        queue: q.queue.clone().unwrap_or_default(),
        weeks,
        error,
        flow_chart: charts::lines(
            "Created and resolved per week",
            &labels,
            &[
                Series {
                    name: "created",
                    values: values(|w| w.created),
                },
                Series {
                    name: "resolved",
                    values: values(|w| w.resolved),
                },
            ],
        ),
        backlog_chart: charts::lines(
            "Open backlog at the end of each week",
            &labels,
            &[Series {
                name: "backlog",
                values: values(|w| w.backlog),
            }],
        ),
        rows: r
            .weeks
            .iter()
            .zip(&labels)
            .map(|(w, l)| WeekView {
                start: l.clone(),
                created: w.created,
                resolved: w.resolved,
                backlog: w.backlog,
            })
            .collect(),
        overall: times_view("All".into(), r.first_response, r.resolution),
        queue_chart: percentile_chart("Response and resolution by queue", &r.by_queue),
        month_chart: percentile_chart("Response and resolution by month", &r.by_month),
        by_queue: r
            .by_queue
            .iter()
            .map(|t| times_view(t.name.clone(), t.first_response, t.resolution))
            .collect(),
        by_month: r
            .by_month
            .iter()
            .map(|t| times_view(t.name.clone(), t.first_response, t.resolution))
            .collect(),
        query: crate::web::pages::list::query_string(&[
            ("queue", q.queue.as_deref().unwrap_or("")),
            ("weeks", &weeks.to_string()),
        ]),
        page: user.page(),
    })
}

pub async fn flow_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let (r, _, _) = flow_of(&state, &user, &q).await?;
    // Only a known table names the download.
    let table = ["queues", "months"]
        .into_iter()
        .find(|k| q.table.as_deref() == Some(*k))
        .unwrap_or("weeks");
    let times = |list: &[reports::Times]| {
        let mut rows = vec![
            [
                "name",
                "first_response_median_s",
                "first_response_p90_s",
                "resolution_median_s",
                "resolution_p90_s",
            ]
            .map(String::from)
            .to_vec(),
        ];
        let s = |v: Option<i64>| v.map(|x| x.to_string()).unwrap_or_default();
        rows.extend(list.iter().map(|t| {
            vec![
                t.name.clone(),
                s(t.first_response.median_s),
                s(t.first_response.p90_s),
                s(t.resolution.median_s),
                s(t.resolution.p90_s),
            ]
        }));
        rows
    };
    let rows = match table {
        "queues" => times(&r.by_queue),
        "months" => times(&r.by_month),
        _ => {
            let mut rows = vec![
                ["week", "created", "resolved", "backlog"]
                    .map(String::from)
                    .to_vec(),
            ];
            rows.extend(r.weeks.iter().map(|w| {
                vec![
                    w.start.clone(),
                    w.created.to_string(),
                    w.resolved.to_string(),
                    w.backlog.to_string(),
                ]
            }));
            rows
        }
    };
    csv_response(&format!("flow-{table}"), rows)
}
