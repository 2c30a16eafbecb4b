//! The SLA board (`/sla`, renders `templates/sla/`): tickets at risk and
//! breached by queue and owner, with time left in business hours.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::response::Response;

use super::reports::{ReportQuery, csv_response, filter, query_of, queue_names};
use super::{Page, Viewer, When};
use crate::domain::business_hours::span_text;
use crate::service::reports::{self, Filter, SlaReport};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::charts::{self, Series, Svg};
use crate::web::error::WebError;

/// The most lines the board lists (soonest due first); the CSV has all.
const SLA_LINES: usize = 500;

pub struct SlaLineView {
    id: i64,
    subject: String,
    queue: String,
    owner: String,
    status: String,
    policy: String,
    clock: &'static str,
    due: Option<When>,
    left: String,
    breached: bool,
    paused: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "sla/index.html")]
pub struct SlaPage {
    page: Page,
    queues: Vec<String>,
    queue: String,
    owner: String,
    error: Option<String>,
    n_breached: usize,
    n_at_risk: usize,
    /// `(anchor, title, lines)`: breached, then at risk.
    sections: Vec<(&'static str, &'static str, Vec<SlaLineView>)>,
    /// Lines not listed (the board shows the first, soonest due).
    more: usize,
    /// `(queue or owner, at risk, breached)`.
    by_queue: Vec<(String, i64, i64)>,
    by_owner: Vec<(String, i64, i64)>,
    chart: Svg,
    query: String,
}

fn clock_label(c: &str) -> &'static str {
    match c {
        "first_response" => "first response",
        "next_response" => "next response",
        _ => "resolution",
    }
}

/// Business time left, as the board says it.
pub fn left_text(left: Option<i64>, paused: bool) -> String {
    match left {
        _ if paused => "paused".into(),
        None => "—".into(),
        Some(ms) if ms >= 0 => format!("{} left", span_text(ms)),
        Some(ms) => format!("overdue {}", span_text(ms)),
    }
}

async fn sla_of(
    state: &AppState,
    user: &CurrentUser,
    q: &ReportQuery,
) -> Result<(SlaReport, Option<String>), WebError> {
    let f = filter(state, user, q).await?;
    match reports::sla(&state.db, &f, state.now(), Some(SLA_LINES)).await {
        Ok(r) => Ok((r, None)),
        Err(crate::service::ServiceError::Invalid(e)) => {
            let r = reports::sla(
                &state.db,
                &Filter {
                    queue: None,
                    owner: None,
                    ..f
                },
                state.now(),
                Some(SLA_LINES),
            )
            .await?;
            Ok((r, Some(e)))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn sla(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> Result<SlaPage, WebError> {
    let viewer = user.viewer(state.now());
    let (r, error) = sla_of(&state, &user, &q).await?;
    let flat = |m: &std::collections::BTreeMap<String, (i64, i64)>| {
        m.iter()
            .map(|(k, (a, b))| (k.clone(), *a, *b))
            .collect::<Vec<_>>()
    };
    let (by_queue, by_owner) = (flat(&r.by_queue), flat(&r.by_owner));
    let chart = charts::stacked_bars_in(
        "At risk and breached by queue",
        &by_queue
            .iter()
            .map(|(q, _, _)| q.clone())
            .collect::<Vec<_>>(),
        &[
            Series {
                name: "at risk",
                values: by_queue.iter().map(|x| x.1).collect(),
            },
            Series {
                name: "breached",
                values: by_queue.iter().map(|x| x.2).collect(),
            },
        ],
        &["s3", "s5"],
    );
    let (mut breached, mut at_risk) = (Vec::new(), Vec::new());
    for l in r.lines {
        let view = SlaLineView {
            left: left_text(l.left_ms, l.paused),
            due: l.due_ms.map(|d| viewer.when(d)),
            clock: clock_label(l.clock),
            id: l.id,
            subject: l.subject,
            queue: l.queue,
            owner: l.owner.unwrap_or_else(|| reports::NOBODY.into()),
            status: l.status,
            policy: l.policy,
            breached: l.breached,
            paused: l.paused,
        };
        if view.breached {
            breached.push(view);
        } else {
            at_risk.push(view);
        }
    }
    Ok(SlaPage {
        queues: queue_names(&state, &user).await?,
        queue: q.queue.clone().unwrap_or_default(),
        owner: q.owner.clone().unwrap_or_default(),
        error,
        more: usize::try_from(r.n_breached + r.n_at_risk)
            .unwrap_or_default()
            .saturating_sub(breached.len() + at_risk.len()),
        n_breached: usize::try_from(r.n_breached).unwrap_or_default(),
        n_at_risk: usize::try_from(r.n_at_risk).unwrap_or_default(),
        sections: vec![
            ("breached", "Breached", breached),
            ("at-risk", "At risk", at_risk),
        ],
        by_queue,
        by_owner,
        chart,
        query: query_of(&q),
        page: user.page(),
    })
}

pub async fn sla_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<ReportQuery>,
) -> Result<Response, WebError> {
    let f = filter(&state, &user, &q).await?;
    let r = reports::sla(&state.db, &f, state.now(), None).await?;
    let mut rows = vec![
        [
            "id",
            "state",
            "clock",
            "due",
            "business_ms_left",
            "queue",
            "owner",
            "status",
            "policy",
            "subject",
        ]
        .map(String::from)
        .to_vec(),
    ];
    rows.extend(r.lines.iter().map(|l| {
        vec![
            l.id.to_string(),
            if l.breached { "breached" } else { "at_risk" }.to_string(),
            l.clock.to_string(),
            l.due.clone().unwrap_or_default(),
            l.left_ms.map(|x| x.to_string()).unwrap_or_default(),
            l.queue.clone(),
            l.owner.clone().unwrap_or_default(),
            l.status.clone(),
            l.policy.clone(),
            l.subject.clone(),
        ]
    }));
    csv_response("sla", rows)
}

/// A ticket's SLA on its page.
pub struct SlaView {
    pub(super) policy: String,
    /// `(clock, due, met)`.
    pub(super) clocks: Vec<(&'static str, When, bool)>,
    pub(super) paused: bool,
    pub(super) breached: Vec<&'static str>,
}

pub(super) fn ticket_view(s: crate::service::sla::TicketSla, viewer: Viewer) -> Option<SlaView> {
    let policy = s.policy?;
    let mut clocks = Vec::new();
    for (label, due, met) in [
        (
            "first response",
            &s.first_response_due,
            s.first_response_at.is_some(),
        ),
        ("next response", &s.next_response_due, false),
        ("resolution", &s.resolve_due, false),
    ] {
        if let Some(d) = due {
            clocks.push((label, super::tickets::when_text(d, viewer), met));
        }
    }
    Some(SlaView {
        policy,
        clocks,
        paused: s.paused,
        breached: s
            .breached
            .iter()
            .map(|c| match *c {
                "first_response" => "first response",
                "next_response" => "next response",
                _ => "resolution",
            })
            .collect(),
    })
}
