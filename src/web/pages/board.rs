//! The boards the team looks at: `/triage` (renders `templates/triage/`)
//! and `/wip` (`templates/wip/`).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use serde::Deserialize;

use super::{Page, Viewer, When, flash};
use crate::domain::lifecycle::Status;
use crate::service::board;
use crate::store::triage::{TriageLine, WipRow};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::error::WebError;
use crate::web::rights::visible;

/// Days without an update that put a ticket on the stale list.
const STALE_DAYS: i64 = 7;

#[derive(Debug, Deserialize)]
pub struct BoardQuery {
    queue: Option<String>,
    wall: Option<String>,
    done: Option<String>,
}

pub struct LineView {
    id: i64,
    subject: String,
    queue: String,
    status: String,
    requestor: String,
    requestor_email: String,
    created: When,
    waiting_on: &'static str,
    owner: Option<String>,
    /// "4/5": the owner's open tickets against their limit.
    wip: Option<String>,
    over: bool,
    when: Option<When>,
    when_text: Option<String>,
    sla: Option<super::SlaBadge>,
    reason: Option<String>,
}

pub struct SectionView {
    key: &'static str,
    title: &'static str,
    when_label: &'static str,
    lines: Vec<LineView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "triage/index.html")]
pub struct TriagePage {
    page: Page,
    queue: Option<String>,
    queues: Vec<String>,
    sections: Vec<SectionView>,
    over_wip: Vec<String>,
    engineers: Vec<String>,
    wall: bool,
    this_page: String,
    wall_link: String,
    wall_query: &'static str,
    wall_and: &'static str,
}

/// Which column a section dates its tickets by.
#[derive(Clone, Copy)]
enum Dated {
    Eta,
    /// No time: the missing intake fields in the reason column.
    Missing,
    Updated,
    Wakes,
}

fn line(t: TriageLine, dated: Dated, viewer: Viewer) -> LineView {
    let (at, reason) = match dated {
        Dated::Eta => (t.eta_at, t.eta_reason),
        Dated::Missing => {
            let keys: Vec<String> = t.intake_missing.split(',').map(str::to_string).collect();
            (None, Some(crate::service::intake::labels(&keys).join(", ")))
        }
        Dated::Updated => (Some(t.updated_at), t.status_reason),
        Dated::Wakes => (t.postponed_until, t.status_reason),
    };
    let over = matches!((t.owner_open, t.owner_limit), (Some(o), Some(l)) if o >= l);
    LineView {
        wip: t.owner_open.map(|o| match t.owner_limit {
            Some(l) => format!("{o}/{l}"),
            None => o.to_string(),
        }),
        over,
        waiting_on: Status::parse(&t.status)
            .and_then(Status::waiting_on)
            .map_or("—", |w| w.as_str()),
        created: viewer.when(t.created_at),
        sla: viewer.sla_badge(t.sla_due, t.sla_risk_at, &t.sla_breached),
        when: at.map(|ms| viewer.when(ms)),
        // An ETA or a wake-up reads as a day and time; an update as an age.
        when_text: at.map(|ms| {
            let w = viewer.when(ms);
            match dated {
                Dated::Eta | Dated::Wakes => w.local,
                Dated::Missing | Dated::Updated => w.ago,
            }
        }),
        reason,
        id: t.id,
        subject: if t.subject.is_empty() {
            "(no subject)".into()
        } else {
            t.subject
        },
        queue: t.queue,
        status: t.status,
        requestor: t.requestor.unwrap_or_default(),
        requestor_email: t.requestor_email.unwrap_or_default(),
        owner: t.owner,
    }
}

/// The queues the user may look at, by id and name, and the one asked for.
async fn scope(
    state: &AppState,
    user: &CurrentUser,
    asked: Option<&str>,
) -> Result<(Option<Vec<i64>>, Vec<String>), WebError> {
    let ids = visible(state, user).await?;
    let mut conn = state
        .db
        .conn()
        .await
        .map_err(crate::service::ServiceError::from)?;
    let all = crate::store::queues::list(&mut conn)
        .await
        .map_err(crate::service::ServiceError::from)?;
    let mine: Vec<(i64, String)> = all
        .into_iter()
        .filter(|q| ids.contains(&q.id))
        .map(|q| (q.id, q.name))
        .collect();
    let names = mine.iter().map(|(_, n)| n.clone()).collect();
    let scope = match asked {
        Some(name) => {
            let (id, _) = mine
                .iter()
                .find(|(_, n)| n == name)
                .ok_or(WebError::NotFound)?;
            Some(vec![*id])
        }
        // Admins' list is every people's queue: applications' stay out.
        None => Some(mine.iter().map(|(id, _)| *id).collect()),
    };
    Ok((scope, names))
}

pub async fn triage(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<BoardQuery>,
) -> Result<TriagePage, WebError> {
    let (ids, queues) = scope(&state, &user, q.queue.as_deref()).await?;
    let viewer = user.viewer(state.now());
    let b = board::triage(&state.db, ids.as_deref(), STALE_DAYS, viewer.now).await?;
    let mut engineers: Vec<String> = b.wip.iter().map(|r| r.user.clone()).collect();
    engineers.sort();
    engineers.dedup();
    let view = |lines: Vec<TriageLine>, dated| {
        lines
            .into_iter()
            .map(|t| line(t, dated, viewer))
            .collect::<Vec<_>>()
    };
    let sections = vec![
        SectionView {
            key: "new-unowned",
            title: "New and unowned",
            when_label: "ETA",
            lines: view(b.new_unowned, Dated::Eta),
        },
        SectionView {
            key: "incomplete",
            title: "Incomplete requests",
            when_label: "Missing",
            lines: view(b.incomplete, Dated::Missing),
        },
        SectionView {
            key: "needs-info",
            title: "Waiting on the requestor",
            when_label: "Asked",
            lines: view(b.needs_info, Dated::Updated),
        },
        SectionView {
            key: "stale",
            title: "No update for a week",
            when_label: "Updated",
            lines: view(b.stale, Dated::Updated),
        },
        SectionView {
            key: "waking",
            title: "Waking this week",
            when_label: "Wakes",
            lines: view(b.waking, Dated::Wakes),
        },
    ];
    let wall = q.wall.as_deref() == Some("1");
    let base = match &q.queue {
        Some(name) => format!("/triage?{}", super::list::query_string(&[("queue", name)])),
        None => "/triage".to_string(),
    };
    let wall_link = format!("{base}{}wall=1", if q.queue.is_some() { '&' } else { '?' });
    let mut page = user.page();
    page.flash = flash(q.done.as_ref());
    Ok(TriagePage {
        page,
        queue: q.queue,
        queues,
        sections,
        over_wip: b.over_wip,
        engineers,
        this_page: if wall { wall_link.clone() } else { base },
        wall_link,
        wall_query: if wall { "?wall=1" } else { "" },
        wall_and: if wall { "&wall=1" } else { "" },
        wall,
    })
}

pub struct PersonView {
    user: String,
    open: i64,
    limit: String,
    /// Tenths of the limit used, 0 to 10, for the bar.
    fill: i64,
    over: bool,
    queues: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "wip/index.html")]
pub struct WipPage {
    page: Page,
    people: Vec<PersonView>,
    wall: bool,
}

/// One line per person: their open tickets, the strictest limit among
/// their queues, and where they work.
fn people(rows: Vec<WipRow>) -> Vec<PersonView> {
    let mut out: Vec<PersonView> = Vec::new();
    let mut limits: Vec<Option<i64>> = Vec::new();
    for r in rows {
        let here = format!("{} {} ({})", r.queue, r.open_here, r.role);
        match out.last_mut() {
            Some(p) if p.user == r.user => {
                p.queues.push(here);
                if let (Some(l), Some(last)) = (r.limit, limits.last_mut()) {
                    *last = Some(last.map_or(l, |m| m.min(l)));
                }
            }
            _ => {
                out.push(PersonView {
                    user: r.user,
                    open: r.open,
                    limit: String::new(),
                    fill: 0,
                    over: false,
                    queues: vec![here],
                });
                limits.push(r.limit);
            }
        }
    }
    for (p, limit) in out.iter_mut().zip(limits) {
        p.limit = limit.map_or("—".to_string(), |l| l.to_string());
        p.over = limit.is_some_and(|l| p.open >= l);
        p.fill = limit.map_or(0, |l| (p.open * 10 / l.max(1)).min(10));
    }
    out
}

pub async fn wip(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<BoardQuery>,
) -> Result<WipPage, WebError> {
    let (ids, _) = scope(&state, &user, None).await?;
    let mut rows = board::wip(&state.db).await?;
    if let Some(ids) = ids {
        rows.retain(|r| ids.contains(&r.queue_id));
    }
    Ok(WipPage {
        page: user.page(),
        people: people(rows),
        wall: q.wall.as_deref() == Some("1"),
    })
}
