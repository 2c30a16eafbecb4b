//! The pages, one module per family, each rendering its `templates/`
//! folder: handlers parse the request, check rights, call one service or
//! store function, and render or redirect.

pub mod admin;
pub mod board;
pub mod list;
pub mod my_session;
pub mod queues;
pub mod reports;
pub mod requestor;
pub mod search;
pub mod sla;
pub mod tasks;
pub mod tickets;

use chrono_tz::Tz;

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
        "filed" => "Thank you: your request is filed, and a confirmation is on its way by mail.",
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

/// Who reads a page, and when: times come out relative to `now` and in
/// the reader's zone, with the exact UTC time for hover titles.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub now: i64,
    pub tz: Tz,
}

/// An SLA badge: its class (`sla-due`, `sla-risk`, `sla-breached`), text
/// and hover title.
#[derive(Debug, Clone)]
pub struct SlaBadge {
    pub class: &'static str,
    pub text: String,
    pub title: String,
}

/// A time as people read it: short and relative ("3 h ago", "in 2 d"),
/// as a local day and time ("Tue 14:05"), and exactly in UTC for the
/// hover title and the `datetime`.
#[derive(Debug, Clone)]
pub struct When {
    pub ago: String,
    pub local: String,
    pub exact: String,
    pub iso: String,
}

const DAY_MS: i64 = 86_400_000;

impl Viewer {
    pub fn when(&self, ms: i64) -> When {
        let mins = (self.now - ms) / 60_000;
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
        let utc = chrono::DateTime::from_timestamp_millis(ms);
        let exact = utc
            .map(|d| d.format("%a %Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        // Within a week either way the weekday says which day; further
        // out the date does.
        let pattern = if (self.now - ms).abs() < 6 * DAY_MS {
            "%a %H:%M"
        } else {
            "%a %Y-%m-%d %H:%M"
        };
        let local = utc
            .map(|d| {
                let l = d.with_timezone(&self.tz);
                match self.tz {
                    chrono_tz::UTC => format!("{} UTC", l.format(pattern)),
                    _ => l.format(pattern).to_string(),
                }
            })
            .unwrap_or_default();
        When {
            ago,
            local,
            exact,
            iso: store::rfc3339(ms),
        }
    }

    /// The UTC day of `ms` as a short label ("30 Nov"): weeks are UTC.
    pub fn utc_day(&self, ms: i64) -> String {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.format("%d %b").to_string())
            .unwrap_or_default()
    }

    /// A ticket's SLA as a badge on lists, from its stored columns.
    pub fn sla_badge(
        &self,
        due: Option<i64>,
        risk_at: Option<i64>,
        breached: &str,
    ) -> Option<SlaBadge> {
        use crate::domain::sla::Standing;
        let standing = crate::domain::sla::standing(due, risk_at, breached, self.now)?;
        let title = due
            .map(|d| format!("SLA due {}", self.when(d).exact))
            .unwrap_or_default();
        Some(match standing {
            Standing::Breached => SlaBadge {
                class: "sla-breached",
                text: "SLA missed".into(),
                title,
            },
            Standing::AtRisk(d) => SlaBadge {
                class: "sla-risk",
                text: format!("SLA {}", self.when(d).ago),
                title,
            },
            Standing::Due(d) => SlaBadge {
                class: "sla-due",
                text: format!("SLA {}", self.when(d).ago),
                title,
            },
        })
    }

    /// How long ago, or a dash for never.
    pub fn age(&self, ms: Option<i64>) -> String {
        ms.map_or_else(|| "—".into(), |ms| self.when(ms).ago)
    }

    /// A stored RFC 3339 value as people read it, in their zone; other
    /// text as it is.
    pub fn readable(&self, value: &str) -> String {
        chrono::DateTime::parse_from_rfc3339(value)
            .map(|d| {
                d.with_timezone(&self.tz)
                    .format("%a %Y-%m-%d %H:%M %Z")
                    .to_string()
            })
            .unwrap_or_else(|_| value.to_string())
    }
}

/// A date and time as a person types it (`2026-12-01T09:30`, a
/// `datetime-local` field) in their zone. A time the clocks skip (spring
/// forward) does not exist; an hour that happens twice (autumn) means its
/// first occurrence.
pub(crate) fn local_time(raw: &str, tz: Tz) -> Option<i64> {
    use chrono::TimeZone;
    let naive = chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::Viewer;

    const NOW: i64 = 1_764_000_000_000; // Mon 2025-11-24 16:00 UTC

    #[test]
    fn stored_times_read_as_dates_in_the_readers_zone_and_words_stay_words() {
        let utc = Viewer {
            now: NOW,
            tz: chrono_tz::UTC,
        };
        assert_eq!(
            utc.readable("2026-12-06T15:07:07Z"),
            "Sun 2026-12-06 15:07 UTC"
        );
        assert_eq!(utc.readable("alice@example.com"), "alice@example.com");
        let berlin = Viewer {
            now: NOW,
            tz: chrono_tz::Europe::Berlin,
        };
        assert_eq!(
            berlin.readable("2026-12-06T15:07:07Z"),
            "Sun 2026-12-06 16:07 CET"
        );
        assert_eq!(
            berlin.readable("2026-07-06T15:07:07Z"),
            "Mon 2026-07-06 17:07 CEST"
        );
    }

    #[test]
    fn times_read_as_people_say_them() {
        let v = Viewer {
            now: NOW,
            tz: chrono_tz::UTC,
        };
        assert_eq!(v.when(NOW - 30_000).ago, "now");
        assert_eq!(v.when(NOW - 5 * 60_000).ago, "5 min ago");
        assert_eq!(v.when(NOW - 3 * 3_600_000).ago, "3 h ago");
        assert_eq!(v.when(NOW - 3 * 86_400_000).ago, "3 d ago");
        assert_eq!(v.when(NOW + 2 * 86_400_000).ago, "in 2 d");
        assert_eq!(v.age(None), "—");
        assert_eq!(v.when(NOW).exact, "Mon 2025-11-24 16:00 UTC");
        assert_eq!(v.when(NOW + 86_400_000).local, "Tue 16:00 UTC");
    }

    #[test]
    fn local_times_follow_the_zone_and_hover_stays_utc() {
        let tokyo = Viewer {
            now: NOW,
            tz: chrono_tz::Asia::Tokyo,
        };
        let w = tokyo.when(NOW + 86_400_000);
        assert_eq!(w.local, "Wed 01:00");
        assert_eq!(w.exact, "Tue 2025-11-25 16:00 UTC");
        assert_eq!(
            tokyo.when(NOW + 30 * 86_400_000).local,
            "Thu 2025-12-25 01:00"
        );
    }
}
