//! Full-text search (`templates/search.html`).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};

use super::list::{ListRow, query_string, rows};
use super::{Page, flash};
use crate::service::tickets::STATUSES;
use crate::store::{self, views};
use crate::web::AppState;
use crate::web::auth::CurrentUser;
use crate::web::error::WebError;
use crate::web::rights::visible;

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
        tickets: rows(list, user.viewer(state.now())),
        statuses: &STATUSES,
    })
}
