//! SLA clocks, worked out from a ticket's history: the first-response,
//! resolution and next-response deadlines in a calendar's business time,
//! with the clocks stopped while the ticket waits on the requestor or on
//! someone outside. Replaying the history (not adding up counters) keeps
//! the figures exact after any change: status, priority, queue, policy or
//! calendar.

use super::business_hours::{Calendar, Duration};
use super::lifecycle::Status;

/// The targets of one policy.
#[derive(Debug, Clone)]
pub struct Targets {
    pub first_response: Duration,
    pub resolve: Duration,
    pub next_response: Option<Duration>,
    /// Statuses that stop the clocks.
    pub pause: Vec<Status>,
    /// The share of a target after which a ticket is at risk.
    pub at_risk_percent: i64,
}

/// What the clocks read from a ticket's history.
#[derive(Debug, Clone, Default)]
pub struct Timeline {
    pub created_at: i64,
    /// Status changes in order: when, and the new status.
    pub statuses: Vec<(i64, Status)>,
    /// Replies to the requestor by staff (not comments, not automatic).
    pub staff_replies: Vec<i64>,
    /// Mail from the requestor after the first.
    pub requestor_replies: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    FirstResponse,
    Resolve,
    NextResponse,
}

impl Clock {
    pub fn as_str(self) -> &'static str {
        match self {
            Clock::FirstResponse => "first_response",
            Clock::Resolve => "resolve",
            Clock::NextResponse => "next_response",
        }
    }

    pub fn parse(s: &str) -> Option<Clock> {
        [Clock::FirstResponse, Clock::Resolve, Clock::NextResponse]
            .into_iter()
            .find(|c| c.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Clock::FirstResponse => "first response",
            Clock::Resolve => "resolution",
            Clock::NextResponse => "next response",
        }
    }
}

/// The clocks' state at `now`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clocks {
    pub first_response_at: Option<i64>,
    /// `None` when the target was not reached and the clock is stopped
    /// (paused, or the work was done in time).
    pub first_response_due: Option<i64>,
    pub resolve_due: Option<i64>,
    pub next_response_due: Option<i64>,
    pub paused: bool,
    /// The earliest deadline of a clock still running against its target.
    pub due: Option<i64>,
    /// When the first running clock reaches its at-risk share.
    pub risk_at: Option<i64>,
    /// Clocks whose target was missed, by `now`.
    pub breached: Vec<Clock>,
}

/// Running stretches of the clock after `from`: `(start, end)`, `end`
/// `None` for one still running.
fn running(t: &Timeline, targets: &Targets, from: i64) -> Vec<(i64, Option<i64>)> {
    let runs = |s: Status| !s.is_done() && !targets.pause.contains(&s);
    let mut out = Vec::new();
    let mut status = Status::New;
    let mut since = t.created_at;
    for &(at, next) in &t.statuses {
        if runs(status) {
            out.push((since, Some(at)));
        }
        status = next;
        since = at;
    }
    if runs(status) {
        out.push((since, None));
    }
    out.into_iter()
        .filter_map(|(a, b)| {
            let a = a.max(from);
            match b {
                Some(b) if b <= a => None,
                _ => Some((a, b)),
            }
        })
        .collect()
}

/// When `amount` business ms of running time after `from` are used up;
/// `None` when the clock stops first.
fn reach(cal: &Calendar, runs: &[(i64, Option<i64>)], amount: i64) -> Option<i64> {
    let mut used = 0;
    for &(a, b) in runs {
        match b {
            None => return cal.add(a, amount - used),
            Some(b) => {
                let part = cal.between(a, b);
                if used + part >= amount {
                    return cal.add(a, amount - used);
                }
                used += part;
            }
        }
    }
    None
}

/// A target as business ms counted from `start` (a day is that working
/// day's hours, so a `2d` target depends on which days it spans).
fn amount(cal: &Calendar, start: i64, d: Duration) -> Option<i64> {
    let first = cal.add(start, 0)?;
    Some(cal.between(first, cal.add_duration(first, d)?))
}

struct One {
    clock: Clock,
    due: Option<i64>,
    risk: Option<i64>,
    met_at: Option<i64>,
}

fn one(
    cal: &Calendar,
    t: &Timeline,
    targets: &Targets,
    clock: Clock,
    from: i64,
    target: Duration,
    met_at: Option<i64>,
) -> One {
    let runs = running(t, targets, from);
    let full = amount(cal, from, target);
    let due = full.and_then(|a| reach(cal, &runs, a));
    let risk =
        full.and_then(|a| reach(cal, &runs, a * targets.at_risk_percent.clamp(1, 100) / 100));
    One {
        clock,
        due,
        risk,
        met_at,
    }
}

/// The clocks of a ticket at `now`.
pub fn clocks(cal: &Calendar, t: &Timeline, targets: &Targets, now: i64) -> Clocks {
    let current = t.statuses.last().map_or(Status::New, |s| s.1);
    let done_at = t
        .statuses
        .last()
        .filter(|(_, s)| s.is_done())
        .map(|(at, _)| *at);
    let first_response_at = t
        .staff_replies
        .iter()
        .copied()
        .filter(|at| *at >= t.created_at)
        .min();
    let mut all = vec![
        one(
            cal,
            t,
            targets,
            Clock::FirstResponse,
            t.created_at,
            targets.first_response,
            first_response_at.or(done_at),
        ),
        one(
            cal,
            t,
            targets,
            Clock::Resolve,
            t.created_at,
            targets.resolve,
            done_at,
        ),
    ];
    // After the first response, each requestor reply that staff have not
    // answered yet starts the next-response clock.
    if let (Some(target), Some(first)) = (targets.next_response, first_response_at) {
        let last_staff = t.staff_replies.iter().copied().max().unwrap_or(first);
        if let Some(asked) = t
            .requestor_replies
            .iter()
            .copied()
            .filter(|at| *at > last_staff)
            .min()
        {
            all.push(one(
                cal,
                t,
                targets,
                Clock::NextResponse,
                asked,
                target,
                done_at,
            ));
        }
    }
    let mut out = Clocks {
        first_response_at,
        paused: !current.is_done() && targets.pause.contains(&current),
        ..Clocks::default()
    };
    for c in &all {
        match c.clock {
            Clock::FirstResponse => out.first_response_due = c.due,
            Clock::Resolve => out.resolve_due = c.due,
            Clock::NextResponse => out.next_response_due = c.due,
        }
        if missed(c.due, c.met_at, true, now) {
            out.breached.push(c.clock);
        }
        if c.met_at.is_none() {
            out.due = min_some(out.due, c.due);
            out.risk_at = min_some(out.risk_at, c.risk);
        }
    }
    out
}

/// Where a ticket stands against its SLA, for a badge on lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Running, under its at-risk share: the deadline.
    Due(i64),
    /// Past its at-risk share: the deadline.
    AtRisk(i64),
    /// A target missed.
    Breached,
}

/// The standing from the stored columns; `None` when no clock runs.
pub fn standing(
    due: Option<i64>,
    risk_at: Option<i64>,
    breached: &str,
    now: i64,
) -> Option<Standing> {
    match (due, risk_at) {
        _ if !breached.is_empty() => Some(Standing::Breached),
        (Some(d), _) if d <= now => Some(Standing::Breached),
        (Some(d), Some(r)) if r <= now => Some(Standing::AtRisk(d)),
        (Some(d), _) => Some(Standing::Due(d)),
        (None, _) => None,
    }
}

/// Whether a clock missed its target by `now`: met after its deadline,
/// or (still running) its deadline passed. The one rule every view uses.
pub fn missed(due: Option<i64>, met_at: Option<i64>, running: bool, now: i64) -> bool {
    match (due, met_at) {
        (Some(due), Some(met)) => met > due,
        (Some(due), None) => running && due <= now,
        (None, _) => false,
    }
}

fn min_some(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;

    use super::*;

    fn at(s: &str) -> i64 {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Europe::Berlin
            .from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    fn office() -> Calendar {
        Calendar::parse(
            chrono_tz::Europe::Berlin,
            &["mon-fri 09:00-17:00".into()],
            BTreeSet::new(),
        )
        .unwrap()
    }

    fn targets() -> Targets {
        Targets {
            first_response: Duration::parse("4h").unwrap(),
            resolve: Duration::parse("2d").unwrap(),
            next_response: Some(Duration::parse("2h").unwrap()),
            pause: vec![Status::NeedsInfo, Status::Postponed, Status::Stalled],
            at_risk_percent: 75,
        }
    }

    #[test]
    fn deadlines_count_business_time_from_creation() {
        let t = Timeline {
            created_at: at("2026-12-04 15:00"), // a Friday
            ..Timeline::default()
        };
        let c = clocks(&office(), &t, &targets(), at("2026-12-04 15:30"));
        assert_eq!(c.first_response_due, Some(at("2026-12-07 11:00")));
        assert_eq!(c.resolve_due, Some(at("2026-12-08 15:00")));
        assert_eq!(c.due, c.first_response_due);
        assert_eq!(c.risk_at, Some(at("2026-12-07 10:00")), "3 of 4 hours");
        assert!(c.breached.is_empty() && !c.paused);
    }

    #[test]
    fn a_staff_reply_stops_the_response_clock() {
        let t = Timeline {
            created_at: at("2026-12-07 09:00"),
            staff_replies: vec![at("2026-12-07 10:00")],
            ..Timeline::default()
        };
        let c = clocks(&office(), &t, &targets(), at("2026-12-09 12:00"));
        assert_eq!(c.first_response_at, Some(at("2026-12-07 10:00")));
        assert_eq!(c.due, c.resolve_due, "only resolution still runs");
        assert_eq!(
            c.breached,
            vec![Clock::Resolve],
            "2 working days ended on the 8th at 17:00"
        );
    }

    #[test]
    fn waiting_on_the_requestor_pauses_and_the_clock_resumes() {
        let mut t = Timeline {
            created_at: at("2026-12-07 09:00"),
            statuses: vec![(at("2026-12-07 11:00"), Status::NeedsInfo)],
            ..Timeline::default()
        };
        let paused = clocks(&office(), &t, &targets(), at("2026-12-08 12:00"));
        assert!(paused.paused);
        assert_eq!(
            paused.first_response_due, None,
            "a stopped clock has no deadline"
        );
        assert!(paused.breached.is_empty());
        t.statuses.push((at("2026-12-09 09:00"), Status::Open));
        let resumed = clocks(&office(), &t, &targets(), at("2026-12-09 09:00"));
        assert_eq!(
            resumed.first_response_due,
            Some(at("2026-12-09 11:00")),
            "2 of 4 hours were used before the pause"
        );
    }

    #[test]
    fn resolving_late_is_a_breach_and_in_time_is_not() {
        let late = Timeline {
            created_at: at("2026-12-07 09:00"),
            statuses: vec![(at("2026-12-10 09:00"), Status::Resolved)],
            staff_replies: vec![at("2026-12-07 09:30")],
            ..Timeline::default()
        };
        let c = clocks(&office(), &late, &targets(), at("2026-12-11 09:00"));
        assert_eq!(
            c.resolve_due,
            Some(at("2026-12-08 17:00")),
            "16 business hours"
        );
        assert_eq!(c.breached, vec![Clock::Resolve]);
        assert_eq!(c.due, None, "nothing runs on a resolved ticket");
        let in_time = Timeline {
            statuses: vec![(at("2026-12-08 09:00"), Status::Resolved)],
            ..late
        };
        let c = clocks(&office(), &in_time, &targets(), at("2026-12-11 09:00"));
        assert!(c.breached.is_empty(), "{c:?}");
    }

    #[test]
    fn a_requestor_reply_starts_the_next_response_clock() {
        let t = Timeline {
            created_at: at("2026-12-07 09:00"),
            staff_replies: vec![at("2026-12-07 09:30")],
            requestor_replies: vec![at("2026-12-07 16:00")],
            ..Timeline::default()
        };
        let c = clocks(&office(), &t, &targets(), at("2026-12-07 16:30"));
        assert_eq!(c.next_response_due, Some(at("2026-12-08 10:00")));
        assert_eq!(c.due, c.next_response_due);
        let answered = Timeline {
            staff_replies: vec![at("2026-12-07 09:30"), at("2026-12-08 09:15")],
            ..t
        };
        let c = clocks(&office(), &answered, &targets(), at("2026-12-08 12:00"));
        assert_eq!(c.next_response_due, None, "answered: no clock");
    }

    #[test]
    fn a_missed_first_response_is_a_breach_until_and_after_the_reply() {
        let t = Timeline {
            created_at: at("2026-12-07 09:00"),
            ..Timeline::default()
        };
        let c = clocks(&office(), &t, &targets(), at("2026-12-07 14:00"));
        assert_eq!(c.breached, vec![Clock::FirstResponse]);
        let replied = Timeline {
            staff_replies: vec![at("2026-12-07 15:00")],
            ..t
        };
        let c = clocks(&office(), &replied, &targets(), at("2026-12-07 16:00"));
        assert_eq!(c.breached, vec![Clock::FirstResponse], "late stays late");
    }
}
