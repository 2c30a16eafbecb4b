//! Business time: a calendar's working hours in its own time zone, minus
//! its holidays. SLA clocks add business time to an instant (a deadline)
//! and measure it between two instants (time used); both walk the
//! calendar's working intervals day by day in local time, so daylight
//! saving changes, split days and holidays come out exact.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, NaiveTime, TimeZone, Weekday};
use chrono_tz::Tz;

pub const MINUTE_MS: i64 = 60_000;
const DAY_MINUTES: u32 = 24 * 60;
/// How far a walk looks for working time before it gives up: a calendar
/// whose every day is a holiday for ten years has none.
const MAX_DAYS: i64 = 3_660;

/// Working hours of one weekday: `[start, end)` minutes after local midnight.
pub type Day = Vec<(u32, u32)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub tz: Tz,
    /// Monday first.
    pub week: [Day; 7],
    pub holidays: BTreeSet<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error(
        "{0:?} is not working hours; write them like \"mon-fri 09:00-17:00\" or \"sat 10:00-12:00,13:00-15:00\""
    )]
    Hours(String),
    #[error("{0:?} is not a duration; write it like 90m, 4h, 2d or 1d4h")]
    Duration(String),
}

impl Calendar {
    /// Round the clock, every day, in UTC.
    pub fn always() -> Calendar {
        Calendar {
            tz: chrono_tz::UTC,
            week: std::array::from_fn(|_| vec![(0, DAY_MINUTES)]),
            holidays: BTreeSet::new(),
        }
    }

    /// A calendar from `--hours` lines such as `mon-fri 09:00-17:00` and
    /// `sat 10:00-12:00,13:00-14:00`; a later line adds to a day.
    pub fn parse(
        tz: Tz,
        lines: &[String],
        holidays: BTreeSet<NaiveDate>,
    ) -> Result<Calendar, CalendarError> {
        let mut week: [Day; 7] = Default::default();
        for line in lines {
            let bad = || CalendarError::Hours(line.clone());
            let (days, spans) = line
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(bad)?;
            let days = weekdays(days).ok_or_else(bad)?;
            for span in spans.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (a, b) = span.split_once('-').ok_or_else(bad)?;
                let (a, b) = (minute_of(a).ok_or_else(bad)?, minute_of(b).ok_or_else(bad)?);
                if a >= b {
                    return Err(bad());
                }
                for d in &days {
                    week[*d].push((a, b));
                }
            }
        }
        for day in &mut week {
            day.sort_unstable();
            // Overlapping or touching intervals count once.
            let mut merged: Day = Vec::with_capacity(day.len());
            for &(a, b) in day.iter() {
                match merged.last_mut() {
                    Some(last) if a <= last.1 => last.1 = last.1.max(b),
                    _ => merged.push((a, b)),
                }
            }
            *day = merged;
        }
        Ok(Calendar { tz, week, holidays })
    }

    /// The hours as they are written back: `mon 09:00-17:00` per day.
    pub fn hours_text(&self) -> Vec<String> {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        self.week
            .iter()
            .zip(NAMES)
            .filter(|(d, _)| !d.is_empty())
            .map(|(d, name)| {
                let spans: Vec<String> = d
                    .iter()
                    .map(|(a, b)| format!("{}-{}", clock(*a), clock(*b)))
                    .collect();
                format!("{name} {}", spans.join(","))
            })
            .collect()
    }

    /// The working intervals of local day `date`, as UTC milliseconds.
    fn intervals(&self, date: NaiveDate) -> Vec<(i64, i64)> {
        if self.holidays.contains(&date) {
            return Vec::new();
        }
        let day = &self.week[date.weekday().num_days_from_monday() as usize];
        let mut out: Vec<(i64, i64)> = Vec::with_capacity(day.len());
        for &(a, b) in day {
            let (start, end) = (self.instant(date, a), self.instant(date, b));
            if start < end {
                match out.last_mut() {
                    Some(last) if start <= last.1 => last.1 = last.1.max(end),
                    _ => out.push((start, end)),
                }
            }
        }
        out
    }

    /// Local `date` at `minute` as UTC ms. A time the clocks skip counts
    /// from the moment after the jump; a time that happens twice, from its
    /// first occurrence.
    fn instant(&self, date: NaiveDate, minute: u32) -> i64 {
        if minute >= DAY_MINUTES {
            let next = date.succ_opt().unwrap_or(date);
            return self.instant(next, 0);
        }
        let naive = date.and_time(
            NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN),
        );
        local_instant(self.tz, naive)
    }

    fn local_date(&self, ms: i64) -> NaiveDate {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|d| d.with_timezone(&self.tz).date_naive())
            .unwrap_or_default()
    }

    /// Business time between `from` and `to` (0 when `to` is not later).
    pub fn between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        // A day's intervals can start on the day before in UTC terms, so
        // begin one local day early.
        let mut date = self.local_date(from).pred_opt().unwrap_or_default();
        let last = self.local_date(to);
        while date <= last {
            for (a, b) in self.intervals(date) {
                let (a, b) = (a.max(from), b.min(to));
                if a < b {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(d) => date = d,
                None => break,
            }
        }
        total
    }

    /// The instant when `amount` ms of business time have passed after
    /// `from`; `None` when the calendar has no working time left.
    pub fn add(&self, from: i64, amount: i64) -> Option<i64> {
        let mut left = amount.max(0);
        let mut date = self.local_date(from).pred_opt()?;
        for _ in 0..MAX_DAYS {
            for (a, b) in self.intervals(date) {
                let a = a.max(from);
                if a >= b {
                    continue;
                }
                if left == 0 {
                    return Some(a);
                }
                if b - a >= left {
                    return Some(a + left);
                }
                left -= b - a;
            }
            date = date.succ_opt()?;
        }
        None
    }

    /// Adds `d`: its business days first (each moves to the same point of
    /// the next working day's hours), then its minutes.
    pub fn add_duration(&self, from: i64, d: Duration) -> Option<i64> {
        let mut at = self.add(from, 0)?;
        for _ in 0..d.days {
            at = self.next_working_day_same_point(at)?;
        }
        self.add(at, d.minutes * MINUTE_MS)
    }

    /// From a working instant, the same share of business time into the
    /// next working day (capped at that day's end).
    fn next_working_day_same_point(&self, at: i64) -> Option<i64> {
        let today = self.local_date(at);
        let day_start = self.intervals(today).first().map(|i| i.0)?;
        let into = self.between(day_start, at);
        let mut date = today.succ_opt()?;
        for _ in 0..MAX_DAYS {
            let spans = self.intervals(date);
            if let Some(first) = spans.first() {
                let length: i64 = spans.iter().map(|(a, b)| b - a).sum();
                if into >= length {
                    return spans.last().map(|s| s.1);
                }
                return self.add(first.0, into);
            }
            date = date.succ_opt()?;
        }
        None
    }
}

/// A local time in `tz` as UTC ms. A time the clocks skip is the moment
/// the clocks jump to (gaps start and end on whole minutes); a time that
/// happens twice is its first occurrence.
pub fn local_instant(tz: Tz, naive: chrono::NaiveDateTime) -> i64 {
    let mut at = naive;
    for _ in 0..(24 * 60) {
        if let Some(t) = tz.from_local_datetime(&at).earliest() {
            return t.timestamp_millis();
        }
        at += chrono::Duration::minutes(1);
    }
    naive.and_utc().timestamp_millis()
}

/// A target such as `4h`, `90m`, `2d` or `1d4h`: days are business days of
/// the calendar (its working hours that day), the rest business minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration {
    pub days: i64,
    pub minutes: i64,
}

impl Duration {
    pub fn parse(text: &str) -> Result<Duration, CalendarError> {
        let bad = || CalendarError::Duration(text.to_string());
        let mut d = Duration::default();
        let mut digits = String::new();
        let mut any = false;
        for c in text.trim().chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let n: i64 = digits.parse().map_err(|_| bad())?;
            digits.clear();
            match c.to_ascii_lowercase() {
                'd' => d.days += n,
                'h' => d.minutes += n * 60,
                'm' => d.minutes += n,
                _ => return Err(bad()),
            }
            any = true;
        }
        if !digits.is_empty() || !any || d.days > 3_650 || d.minutes > 10_000_000 {
            return Err(bad());
        }
        Ok(d)
    }

    /// As written: `1d4h30m`.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.days > 0 {
            s += &format!("{}d", self.days);
        }
        if self.minutes >= 60 {
            s += &format!("{}h", self.minutes / 60);
        }
        if self.minutes % 60 > 0 || s.is_empty() {
            s += &format!("{}m", self.minutes % 60);
        }
        s
    }
}

/// Business time as people read it: "2 h 10 m", "1 d 3 h" (a day here is
/// 24 hours of business time, which only `24x7` has in a day).
pub fn span_text(ms: i64) -> String {
    let m = ms.abs() / MINUTE_MS;
    let (d, h, min) = (m / 1440, (m % 1440) / 60, m % 60);
    match (d, h) {
        (0, 0) => format!("{min} m"),
        (0, _) => format!("{h} h {min} m"),
        _ => format!("{d} d {h} h"),
    }
}

fn weekdays(spec: &str) -> Option<Vec<usize>> {
    let day = |s: &str| -> Option<usize> {
        let w: Weekday = s.trim().parse().ok()?;
        Some(w.num_days_from_monday() as usize)
    };
    let mut out = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    out.push(d);
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out.push(day(part)?),
        }
    }
    Some(out)
}

fn minute_of(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

fn clock(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[cfg(test)]
mod tests;
