//! The pages, one module per family, each rendering its `templates/`
//! folder: handlers parse the request, check rights, call one service or
//! store function, and render or redirect.

pub mod admin;
pub mod list;
pub mod queues;
pub mod search;
pub mod tickets;

use crate::store;

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
pub(crate) fn flash(key: Option<&String>) -> Option<String> {
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

pub(crate) fn age(ms: Option<i64>) -> String {
    let Some(ms) = ms else { return "—".into() };
    let mins = (store::now_ms() - ms).max(0) / 60_000;
    match mins {
        0..=59 => format!("{mins} min"),
        60..=2879 => format!("{} h", mins / 60),
        _ => format!("{} days", mins / 1440),
    }
}
