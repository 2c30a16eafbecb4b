//! Pages: queues overview, queue view, ticket, search, admin.

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::auth::CurrentUser;
use super::error::WebError;
use super::form::FormData;
use crate::service::tickets::{self as actions, STATUSES};
use crate::store::{self, outbox, quarantine, tickets, views};

/// What every page's layout needs.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
    pub flash: Option<String>,
}

impl Page {
    pub fn anonymous() -> Page {
        Page::default()
    }
}

/// Messages after a redirect, by key: never text from the URL.
fn flash(key: Option<&String>) -> Option<String> {
    let msg = match key?.as_str() {
        "replied" => "Reply recorded; it is on its way to the requestors.",
        "commented" => "Comment added.",
        "taken" => "The ticket is yours.",
        "status" => "Status changed.",
        "bulk" => "Done for the selected tickets.",
        "nothing-selected" => "Select at least one ticket first.",
        "empty" => "Write something first: the text was empty.",
        "retried" => "Queued again.",
        "updated" => "Saved.",
        _ => return None,
    };
    Some(msg.to_string())
}

async fn visible(state: &AppState, user: &CurrentUser) -> Result<Vec<i64>, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    Ok(views::visible_queue_ids(&mut conn, user.id, user.admin).await?)
}

/// A ticket the user may see, else 404 (not 403: its existence is private).
async fn check_ticket(state: &AppState, user: &CurrentUser, id: i64) -> Result<(), WebError> {
    let mut conn = state.db.pool.acquire().await?;
    let queue = views::ticket_queue(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if user.admin
        || views::visible_queue_ids(&mut conn, user.id, false)
            .await?
            .contains(&queue)
    {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}

fn age(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "—".into() };
    let mins = (store::now_ms() - ms).max(0) / 60_000;
    match mins {
        0..=59 => format!("{mins} min"),
        60..=2879 => format!("{} h", mins / 60),
        _ => format!("{} days", mins / 1440),
    }
}

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
}

pub async fn queues_index(
    State(state): State<AppState>,
    user: CurrentUser,
) -> Result<QueuesIndex, WebError> {
    let ids = visible(&state, &user).await?;
    let mut queues = Vec::new();
    for id in ids {
        if let Some(q) = state.overview_cache.get(&state.db, id).await? {
            queues.push(QueueLine {
                oldest: age(q.oldest_open_at),
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
    Ok(QueuesIndex {
        page: user.page(),
        queues,
    })
}

pub struct ListRow {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub owner: String,
    pub requestor: String,
    pub queue: String,
    pub updated: String,
}

fn rows(list: Vec<views::TicketRow>) -> Vec<ListRow> {
    list.into_iter()
        .map(|t| ListRow {
            id: t.id,
            subject: if t.subject.is_empty() {
                "(no subject)".into()
            } else {
                t.subject
            },
            status: t.status,
            owner: t.owner.unwrap_or_else(|| "—".into()),
            requestor: t.requestor.unwrap_or_default(),
            queue: t.queue,
            updated: age(Some(t.updated_at)),
        })
        .collect()
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

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}

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
    if !user.admin
        && !views::visible_queue_ids(&mut conn, user.id, false)
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
        tickets: rows(list),
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

pub struct HistoryItem {
    pub id: i64,
    pub kind: String,
    pub label: String,
    pub from: String,
    pub created_at: String,
    pub rule: Option<String>,
    pub automatic: bool,
    pub classification: String,
    /// Why the entry needs a look (outsider on the comment address, …).
    pub flag: Option<String>,
    pub change: String,
    pub body: String,
    pub attachments: Vec<tickets::AttachmentView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "tickets/show.html")]
pub struct TicketShow {
    page: Page,
    t: tickets::TicketSummary,
    owner: String,
    due: String,
    history: Vec<HistoryItem>,
    statuses: &'static [&'static str],
}

pub async fn ticket_show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<TicketShow, WebError> {
    check_ticket(&state, &user, id).await?;
    let mut conn = state.db.pool.acquire().await?;
    let detail = tickets::show(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let history = detail
        .transactions
        .into_iter()
        .map(|x| {
            let label = match x.kind.as_str() {
                "create" => "Created",
                "correspond" => "Correspondence",
                "comment" => "Comment (internal)",
                "status" => "Status changed",
                "owner" => "Owner changed",
                "priority" => "Priority changed",
                "due" => "Due date changed",
                _ => "Change",
            }
            .to_string();
            let change = match (&x.old_value, &x.new_value) {
                (None, None) => String::new(),
                (old, new) => format!(
                    "{} → {}",
                    old.as_deref().unwrap_or("nobody"),
                    new.as_deref().unwrap_or("nobody")
                ),
            };
            HistoryItem {
                id: x.id,
                label,
                kind: x.kind,
                from: x.from.unwrap_or_else(|| "Docket".into()),
                created_at: x.created_at,
                rule: x.thread_rule.filter(|r| r != "new"),
                automatic: x.auto_submitted,
                flag: x.flag.clone(),
                classification: x.classification.unwrap_or_default(),
                change,
                body: x.body,
                attachments: x.attachments,
            }
        })
        .collect();
    let mut page = user.page();
    page.flash = flash(q.get("done"));
    Ok(TicketShow {
        page,
        owner: detail
            .ticket
            .owner
            .clone()
            .unwrap_or_else(|| "nobody".into()),
        due: detail
            .ticket
            .due_at
            .as_deref()
            .map(|d| d.chars().take(10).collect())
            .unwrap_or_default(),
        t: detail.ticket,
        history,
        statuses: &STATUSES,
    })
}

fn back_to(id: i64, done: &str) -> Response {
    Redirect::to(&format!("/tickets/{id}?done={done}")).into_response()
}

pub async fn reply(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    post_text(&state, &user, id, &body, "correspond").await
}

pub async fn comment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    post_text(&state, &user, id, &body, "comment").await
}

/// A reply (mailed to the requestors) or an internal comment from a form.
async fn post_text(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    body: &Bytes,
    kind: &str,
) -> Result<Response, WebError> {
    let form = FormData::parse(body);
    user.check_csrf(&form)?;
    check_ticket(state, user, id).await?;
    let Some(text) = form.text("body") else {
        return Ok(back_to(id, "empty"));
    };
    if kind == "comment" {
        actions::comment(&state.db, &state.cfg, id, &user.email, &text).await?;
        Ok(back_to(id, "commented"))
    } else {
        actions::reply(&state.db, &state.cfg, id, &user.email, &text).await?;
        Ok(back_to(id, "replied"))
    }
}

async fn apply(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    form: &FormData,
) -> Result<&'static str, WebError> {
    match form.get("action") {
        Some("take") => {
            actions::assign(&state.db, id, &user.email, Some(&user.email)).await?;
            Ok("taken")
        }
        Some("assign") => {
            let owner = form
                .text("owner")
                .and_then(|o| crate::domain::address::normalise(&o))
                .ok_or_else(|| {
                    WebError::BadRequest("Give the new owner's email address.".into())
                })?;
            actions::assign(&state.db, id, &user.email, Some(&owner)).await?;
            Ok("bulk")
        }
        Some("priority") => {
            actions::set_field(&state.db, id, &user.email, "priority", form.get("priority"))
                .await?;
            Ok("updated")
        }
        Some("due") => {
            actions::set_field(&state.db, id, &user.email, "due", form.get("due")).await?;
            Ok("updated")
        }
        Some("status") => {
            let status = form.text("status").unwrap_or_default();
            let reason = form.text("reason");
            actions::change_status(
                &state.db,
                &state.cfg,
                id,
                &user.email,
                &status,
                reason.as_deref(),
                None,
            )
            .await?;
            Ok("status")
        }
        _ => Err(WebError::BadRequest("Unknown action.".into())),
    }
}

pub async fn action(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    user.check_csrf(&form)?;
    check_ticket(&state, &user, id).await?;
    let done = apply(&state, &user, id, &form).await?;
    Ok(back_to(id, done))
}

pub async fn bulk(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    user.check_csrf(&form)?;
    let back = form
        .get("back")
        .filter(|b| b.starts_with("/queues/") || b.starts_with("/search"))
        .unwrap_or("/queues")
        .to_string();
    let ids: Vec<i64> = form
        .all("ids")
        .iter()
        .filter_map(|i| i.parse().ok())
        .collect();
    let sep = if back.contains('?') { '&' } else { '?' };
    if ids.is_empty() {
        return Ok(Redirect::to(&format!("{back}{sep}done=nothing-selected")).into_response());
    }
    for id in ids {
        check_ticket(&state, &user, id).await?;
        apply(&state, &user, id, &form).await?;
    }
    Ok(Redirect::to(&format!("{back}{sep}done=bulk")).into_response())
}

/// Downloads only: the browser never renders mail content from us.
pub async fn attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let mut conn = state.db.pool.acquire().await?;
    let a = views::attachment(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    if !user.admin
        && !views::visible_queue_ids(&mut conn, user.id, false)
            .await?
            .contains(&a.queue_id)
    {
        return Err(WebError::NotFound);
    }
    let safe_name: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = url::form_urlencoded::byte_serialize(a.filename.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let content_type = if a.content_type.contains('/') && a.content_type.is_ascii() {
        a.content_type
    } else {
        "application/octet-stream".into()
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe_name}\"; filename*=UTF-8''{encoded}"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        a.content,
    )
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
pub struct SearchPage {
    page: Page,
    q: String,
    tickets: Vec<ListRow>,
    statuses: &'static [&'static str],
    back: String,
}

pub async fn search(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<SearchPage, WebError> {
    let text = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    let ids = visible(&state, &user).await?;
    let list = if text.is_empty() {
        Vec::new()
    } else {
        // The full-text index trails the mail path by design; a search first
        // brings it up to date, so results are never stale.
        store::search_index::catch_up_all(&state.db).await?;
        let mut conn = state.db.pool.acquire().await?;
        views::search(&mut conn, state.db.backend, &ids, &text, 50).await?
    };
    let mut page = user.page();
    page.flash = flash(q.get("done"));
    Ok(SearchPage {
        page,
        back: format!("/search?{}", query_string(&[("q", &text)])),
        q: text,
        tickets: rows(list),
        statuses: &STATUSES,
    })
}

pub struct OutboxLine {
    pub id: i64,
    pub ticket: i64,
    pub to: Vec<String>,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub error: String,
}

pub struct QueueAdminLine {
    pub name: String,
    pub correspond_address: String,
    pub comment: String,
    pub tag: String,
}

pub struct UserLine {
    pub email: String,
    pub role: String,
    pub queues: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/index.html")]
pub struct AdminPage {
    page: Page,
    queues: Vec<QueueAdminLine>,
    users: Vec<UserLine>,
    outbox: Vec<OutboxLine>,
    quarantine: Vec<quarantine::Entry>,
    /// "3 pending, 1 dead" and "2 held": the totals behind the pages.
    outbox_counts: String,
    quarantine_counts: String,
    /// Links to the next (older) page of each, and whether we are past the first.
    outbox_older: Option<String>,
    quarantine_older: Option<String>,
    paged: bool,
}

/// Rows per page of the admin outbox and quarantine.
const ADMIN_PAGE: usize = 50;

/// `Some(last id)` when there is a page after `rows` (one extra was fetched).
fn older<T>(rows: &mut Vec<T>, id: impl Fn(&T) -> i64) -> Option<i64> {
    if rows.len() > ADMIN_PAGE {
        rows.truncate(ADMIN_PAGE);
        rows.last().map(id)
    } else {
        None
    }
}

fn counts_text(counts: &[(String, i64)]) -> String {
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn require_admin(user: &CurrentUser) -> Result<(), WebError> {
    if user.admin {
        Ok(())
    } else {
        Err(WebError::NotFound)
    }
}

pub async fn admin(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HashMap<String, String>>,
) -> Result<AdminPage, WebError> {
    require_admin(&user)?;
    let mut conn = state.db.pool.acquire().await?;
    let before = |key: &str| q.get(key).and_then(|v| v.parse::<i64>().ok());
    let (outbox_before, quarantine_before) = (before("outbox_before"), before("quarantine_before"));
    let mut unsent = outbox::unsent_page(&mut conn, outbox_before, ADMIN_PAGE as i64 + 1).await?;
    let outbox_next = older(&mut unsent, |o| o.id);
    let outbox = unsent
        .into_iter()
        .map(|o| OutboxLine {
            id: o.id,
            ticket: o.ticket,
            to: o.to,
            subject: o.subject,
            status: o.status,
            attempts: o.attempts,
            error: match (o.last_error, o.refused) {
                (Some(e), Some(r)) => format!("{e}; refused: {r}"),
                (e, r) => e.or(r.map(|r| format!("refused: {r}"))).unwrap_or_default(),
            },
        })
        .collect();
    let mut quarantine =
        quarantine::page(&mut conn, quarantine_before, ADMIN_PAGE as i64 + 1).await?;
    let quarantine_next = older(&mut quarantine, |e| e.id);
    // Each list pages on its own; the other keeps its place.
    let link = |key: &str, id: i64, other: (&str, Option<i64>)| {
        let mut l = format!("/admin?{key}={id}");
        if let (k, Some(v)) = other {
            l.push_str(&format!("&{k}={v}"));
        }
        l
    };
    let outbox_older = outbox_next.map(|id| {
        link(
            "outbox_before",
            id,
            ("quarantine_before", quarantine_before),
        )
    });
    let quarantine_older =
        quarantine_next.map(|id| link("quarantine_before", id, ("outbox_before", outbox_before)));
    let outbox_counts = counts_text(&outbox::count_by_status(&mut conn).await?);
    let quarantine_counts = counts_text(&quarantine::count_by_status(&mut conn).await?);
    let queues = store::queues::list(&mut conn)
        .await?
        .into_iter()
        .map(|q| QueueAdminLine {
            name: q.name,
            correspond_address: q.correspond_address,
            comment: q.comment_address.unwrap_or_default(),
            tag: q.subject_tag.unwrap_or_default(),
        })
        .collect();
    let users = store::users::staff_with_queues(&mut conn)
        .await?
        .into_iter()
        .map(|(email, role, queues)| UserLine {
            email,
            role,
            queues,
        })
        .collect();
    let mut page = user.page();
    page.flash = flash(q.get("done"));
    Ok(AdminPage {
        page,
        queues,
        users,
        outbox,
        quarantine,
        outbox_counts,
        quarantine_counts,
        outbox_older,
        quarantine_older,
        paged: outbox_before.is_some() || quarantine_before.is_some(),
    })
}

fn address_field(form: &FormData, key: &str, label: &str) -> Result<Option<String>, WebError> {
    match form.text(key) {
        None => Ok(None),
        Some(a) => crate::domain::address::normalise(&a)
            .map(Some)
            .ok_or_else(|| {
                WebError::BadRequest(format!("{label} {a:?} is not an e-mail address."))
            }),
    }
}

pub async fn admin_add_queue(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    user.check_csrf(&form)?;
    require_admin(&user)?;
    let name = form
        .text("name")
        .filter(|n| n.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)))
        .ok_or_else(|| {
            WebError::BadRequest("A queue name is one word: letters, digits, - _ or .".into())
        })?;
    let address = address_field(&form, "address", "The address")?
        .ok_or_else(|| WebError::BadRequest("A queue needs an address.".into()))?;
    let comment = address_field(&form, "comment_address", "The comment address")?;
    let mut tx = state.db.begin_write().await?;
    let taken = store::queues::list(&mut tx).await?.into_iter().any(|q| {
        q.name == name
            || q.correspond_address == address
            || q.comment_address.as_deref() == Some(&address)
            || comment
                .as_deref()
                .is_some_and(|c| c == q.correspond_address)
    });
    if taken {
        return Err(WebError::BadRequest(
            "That name or address is already used by a queue.".into(),
        ));
    }
    let tag = form.text("tag");
    store::queues::add(
        &mut tx,
        &name,
        &address,
        comment.as_deref(),
        tag.as_deref(),
        store::now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(Redirect::to("/admin?done=updated").into_response())
}

pub async fn admin_save_user(
    State(state): State<AppState>,
    user: CurrentUser,
    body: Bytes,
) -> Result<Response, WebError> {
    let form = FormData::parse(&body);
    user.check_csrf(&form)?;
    require_admin(&user)?;
    let email = address_field(&form, "email", "The email")?
        .ok_or_else(|| WebError::BadRequest("A user needs an email address.".into()))?;
    let role = match form.get("role") {
        Some(r @ ("staff" | "admin")) => r,
        _ => return Err(WebError::BadRequest("The role is staff or admin.".into())),
    };
    let hash = match form.get("password").filter(|p| !p.is_empty()) {
        Some(p) => Some(crate::service::auth::hash_password(p)?),
        None => None,
    };
    let mut tx = state.db.begin_write().await?;
    let all = store::queues::list(&mut tx).await?;
    let id =
        store::users::upsert_staff(&mut tx, &email, role, hash.as_deref(), store::now_ms()).await?;
    for name in form.all("queues") {
        let q = all
            .iter()
            .find(|q| &q.name == name)
            .ok_or_else(|| WebError::BadRequest(format!("There is no queue {name:?}.")))?;
        store::users::add_to_queue(&mut tx, q.id, id).await?;
    }
    tx.commit().await?;
    Ok(Redirect::to("/admin?done=updated").into_response())
}

pub async fn admin_outbox_retry(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    user.check_csrf(&FormData::parse(&body))?;
    require_admin(&user)?;
    let mut conn = state.db.pool.acquire().await?;
    outbox::requeue(&mut conn, id, store::now_ms()).await?;
    Ok(Redirect::to("/admin?done=retried").into_response())
}

pub async fn admin_quarantine_retry(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<Response, WebError> {
    user.check_csrf(&FormData::parse(&body))?;
    require_admin(&user)?;
    let ingestor = crate::mail::inbound::Ingestor::new(state.db.clone(), state.cfg.clone());
    crate::mail::inbound::ingest::retry_quarantined(&ingestor, id, &Default::default())
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Redirect::to("/admin?done=retried").into_response())
}

pub async fn admin_quarantine_raw(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    require_admin(&user)?;
    let mut conn = state.db.pool.acquire().await?;
    let (raw, _) = quarantine::get(&mut conn, id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok((
        [
            (header::CONTENT_TYPE, "message/rfc822".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"quarantine-{id}.eml\""),
            ),
        ],
        raw,
    )
        .into_response())
}
