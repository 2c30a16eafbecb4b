//! The pages, one module per family, each rendering its `templates/`
//! folder: handlers parse the request, check rights, call one service or
//! store function, and render or redirect.

pub mod admin;
pub mod board;
pub mod list;
pub mod queues;
pub mod requestor;
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
        "answered" => "Thank you: your answer is on the request.",
        "commented" => "Comment added.",
        "taken" => "The ticket is yours.",
        "assigned" => "Assigned.",
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

/// How long ago, as people say it ("3 h ago"); "—" for never.
pub(crate) fn age(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".into(), |ms| when(ms, store::now_ms()).ago)
}

/// A time as people read it: short and relative ("3 h ago", "in 2 d"),
/// with the exact UTC time for the hover title and the `datetime`.
#[derive(Debug, Clone)]
pub struct When {
    pub ago: String,
    pub exact: String,
    pub iso: String,
}

pub(crate) fn when(ms: i64, now: i64) -> When {
    let mins = (now - ms) / 60_000;
    let span = |m: i64| match m {
        0 => "now".to_string(),
        1..=59 => format!("{m} min"),
        60..=2879 => format!("{} h", m / 60),
        _ => format!("{} d", m / 1440),
    };
    let ago = match mins {
        0 => "now".to_string(),
        m if m > 0 => format!("{} ago", span(m)),
        m => format!("in {}", span(-m)),
    };
    let exact = chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%a %Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default();
    When {
        ago,
        exact,
        iso: store::rfc3339(ms),
    }
}

/// A stored RFC 3339 value as people read it; other text as it is.
pub(crate) fn readable(value: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|d| d.format("%a %Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| value.to_string())
}

#[cfg(test)]
mod tests {
    use super::{readable, when};

    #[test]
    fn stored_times_read_as_dates_and_words_stay_words() {
        assert_eq!(readable("2026-12-06T15:07:07Z"), "Sun 2026-12-06 15:07 UTC");
        assert_eq!(readable("alice@example.com"), "alice@example.com");
    }

    #[test]
    fn times_read_as_people_say_them() {
        let now = 1_764_000_000_000;
        assert_eq!(when(now - 30_000, now).ago, "now");
        assert_eq!(when(now - 5 * 60_000, now).ago, "5 min ago");
        assert_eq!(when(now - 3 * 3_600_000, now).ago, "3 h ago");
        assert_eq!(when(now - 3 * 86_400_000, now).ago, "3 d ago");
        assert_eq!(when(now + 2 * 86_400_000, now).ago, "in 2 d");
        assert!(when(now, now).exact.ends_with("UTC"));
    }
}
