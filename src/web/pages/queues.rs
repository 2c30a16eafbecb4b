//! The queues overview (`templates/queues/index.html`) and one queue's
//! list (`templates/queues/show.html`).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};

use super::list::{ListRow, query_string, rows};
use super::{Page, flash};
use crate::service::tickets::STATUSES;
use crate::store::{self, views};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::error::WebError;
use crate::web::rights::visible;

/// How old cached overview counts may be.
const OVERVIEW_TTL: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Default)]
pub struct OverviewCache {
    entries: std::sync::Mutex<HashMap<i64, (std::time::Instant, views::QueueOverview)>>,
    /// One recount at a time: the others wait for it instead of all
    /// recounting when the entry expires.
    refresh: tokio::sync::Mutex<()>,
}

impl OverviewCache {
    fn cached(&self, queue_id: i64) -> Option<views::QueueOverview> {
        let map = self.entries.lock().ok()?;
        let (at, o) = map.get(&queue_id)?;
        (at.elapsed() < OVERVIEW_TTL).then(|| o.clone())
    }

    async fn get(
        &self,
        db: &store::Db,
        queue_id: i64,
    ) -> Result<Option<views::QueueOverview>, WebError> {
        if let Some(o) = self.cached(queue_id) {
            return Ok(Some(o));
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(o) = self.cached(queue_id) {
            return Ok(Some(o));
        }
        let mut conn = db.pool.acquire().await?;
        let fresh = views::queue_overview(&mut conn, queue_id).await?;
        if let (Some(o), Ok(mut map)) = (&fresh, self.entries.lock()) {
            map.insert(queue_id, (std::time::Instant::now(), o.clone()));
        }
        Ok(fresh)
    }
}

pub struct QueueLine {
    pub name: String,
    pub address: String,
    pub new_count: i64,
    pub open_count: i64,
    pub stalled_count: i64,
    pub needs_info_count: i64,
    pub unowned: i64,
    pub oldest: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "queues/index.html")]
pub struct QueuesIndex {
    page: Page,
    queues: Vec<QueueLine>,
    /// Public queues the user does not work: readable at `/public/NAME`.
    public: Vec<String>,
}

pub async fn queues_index(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<QueuesIndex, WebError> {
    let ids = visible(&state, &user).await?;
    let viewer = user.viewer(state.now());
    let mut queues = Vec::new();
    for id in ids {
        if let Some(q) = state.overview_cache.get(&state.db, id).await? {
            queues.push(QueueLine {
                oldest: viewer.age(q.oldest_open_at),
                name: q.name,
                address: q.address,
                new_count: q.new_count,
                open_count: q.open_count,
                stalled_count: q.stalled_count,
                needs_info_count: q.needs_info_count,
                unowned: q.unowned,
            });
        }
    }
    queues.sort_by(|a, b| a.name.cmp(&b.name));
    let mut conn = state.db.pool.acquire().await?;
    let public = store::queues::public_queues(&mut conn)
        .await?
        .into_iter()
        .filter(|(_, name)| !queues.iter().any(|q| &q.name == name))
        .map(|(_, name)| name)
        .collect();
    Ok(QueuesIndex {
        page: user.page(),
        queues,
        public,
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "queues/show.html")]
pub struct QueueShow {
    page: Page,
    queue: String,
    tickets: Vec<ListRow>,
    statuses: &'static [&'static str],
    filter_status: String,
    filter_owner: String,
    filter_requestor: String,
    filter_text: String,
    sort: &'static str,
    sorts: [&'static str; 4],
    next: Option<String>,
    back: String,
}

const PAGE_SIZE: i64 = 50;

pub async fn queue_show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<QueueShow, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    let queue_id = views::queue_by_name(&mut conn, &name)
        .await?
        .ok_or(WebError::NotFound)?;
    if !views::visible_queue_ids(&mut conn, user.id, user.admin)
        .await?
        .contains(&queue_id)
    {
        return Err(WebError::NotFound);
    }
    let get = |k: &str| {
        q.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let status = get("status");
    if let Some(s) = &status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(WebError::BadRequest(format!(
            "Unknown status {s:?}; use one of {}.",
            STATUSES.join(", ")
        )));
    }
    let sort = match get("sort") {
        Some(s) => views::Sort::parse(&s).ok_or_else(|| {
            WebError::BadRequest("Sort by newest, oldest, updated or priority.".into())
        })?,
        None => views::Sort::Newest,
    };
    let cursor = match get("after") {
        Some(c) => {
            let parsed = c
                .split_once('.')
                .and_then(|(v, id)| Some((v.parse::<i64>().ok()?, id.parse::<i64>().ok()?)));
            Some(parsed.ok_or_else(|| {
                WebError::BadRequest("That page link is broken; start from the first page.".into())
            })?)
        }
        None => None,
    };
    let filter = views::TicketFilter {
        status: status.clone(),
        owner: get("owner").map(|o| o.to_lowercase()),
        requestor: get("requestor").map(|r| r.to_lowercase()),
        text: get("q"),
    };
    let page_rows =
        views::queue_tickets(&mut conn, queue_id, &filter, sort, cursor, PAGE_SIZE).await?;
    let next = (page_rows.len() as i64 == PAGE_SIZE).then(|| {
        let last = page_rows
            .last()
            .map(|(t, p)| sort.cursor(t, *p))
            .unwrap_or_default();
        format!(
            "/queues/{name}?{}",
            query_string(&[
                ("status", filter.status.as_deref().unwrap_or("")),
                ("owner", filter.owner.as_deref().unwrap_or("")),
                ("requestor", filter.requestor.as_deref().unwrap_or("")),
                ("q", filter.text.as_deref().unwrap_or("")),
                ("sort", sort.name()),
                ("after", &last),
            ])
        )
    });
    let list: Vec<views::TicketRow> = page_rows.into_iter().map(|(t, _)| t).collect();
    let mut page = user.page();
    page.flash = flash(q.get("done"));
    Ok(QueueShow {
        page,
        back: format!("/queues/{name}"),
        queue: name,
        tickets: rows(list, user.viewer(state.now())),
        statuses: &STATUSES,
        filter_status: filter.status.unwrap_or_default(),
        filter_owner: filter.owner.unwrap_or_default(),
        filter_requestor: filter.requestor.unwrap_or_default(),
        filter_text: filter.text.unwrap_or_default(),
        sort: sort.name(),
        sorts: ["newest", "oldest", "updated", "priority"],
        next,
    })
}
