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
        let mut naive = date.and_time(
            NaiveTime::from_hms_opt(minute / 60, minute % 60, 0).unwrap_or(NaiveTime::MIN),
        );
        // Skipped local times lie in a gap of at most a few hours.
        for _ in 0..(24 * 4) {
            if let Some(t) = self.tz.from_local_datetime(&naive).earliest() {
                return t.timestamp_millis();
            }
            naive += chrono::Duration::minutes(15);
        }
        naive.and_utc().timestamp_millis()
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
mod tests {
    use super::*;
    use proptest::prelude::*;

    const H: i64 = 3_600_000;

    fn at(tz: Tz, s: &str) -> i64 {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        tz.from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    fn office(tz: Tz) -> Calendar {
        Calendar::parse(tz, &["mon-fri 09:00-17:00".into()], BTreeSet::new()).unwrap()
    }

    fn berlin() -> Calendar {
        office(chrono_tz::Europe::Berlin)
    }

    #[test]
    fn hours_parse_merge_and_print_back() {
        let c = Calendar::parse(
            chrono_tz::UTC,
            &[
                "mon-fri 09:00-12:00, 13:00-17:00".into(),
                "sat 10:00-14:00".into(),
                "mon 11:00-13:30".into(),
            ],
            BTreeSet::new(),
        )
        .unwrap();
        assert_eq!(c.week[0], vec![(540, 1020)], "monday's hours join up");
        assert_eq!(c.week[1], vec![(540, 720), (780, 1020)]);
        assert_eq!(c.week[6], Vec::<(u32, u32)>::new());
        assert_eq!(c.hours_text()[5], "sat 10:00-14:00");
        for bad in [
            "mon 9-17",
            "funday 09:00-17:00",
            "mon 17:00-09:00",
            "mon-fri",
        ] {
            assert!(
                Calendar::parse(chrono_tz::UTC, &[bad.into()], BTreeSet::new()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations_read_and_print() {
        assert_eq!(
            Duration::parse("4h").unwrap(),
            Duration {
                days: 0,
                minutes: 240
            }
        );
        assert_eq!(
            Duration::parse("1d4h30m").unwrap(),
            Duration {
                days: 1,
                minutes: 270
            }
        );
        assert_eq!(Duration::parse("90m").unwrap().text(), "1h30m");
        for bad in ["", "4", "h", "4x", "-2h"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(span_text(2 * H + 10 * MINUTE_MS), "2 h 10 m");
        assert_eq!(span_text(27 * H), "1 d 3 h");
    }

    #[test]
    fn a_weekend_is_skipped() {
        let c = berlin();
        let tz = c.tz;
        // Friday 16:00 + 4 h: one hour on Friday, three on Monday.
        let due = c.add(at(tz, "2026-12-04 16:00"), 4 * H).unwrap();
        assert_eq!(due, at(tz, "2026-12-07 12:00"));
        assert_eq!(c.between(at(tz, "2026-12-04 16:00"), due), 4 * H);
        assert_eq!(
            c.between(at(tz, "2026-12-05 10:00"), at(tz, "2026-12-06 20:00")),
            0
        );
    }

    #[test]
    fn a_holiday_is_skipped() {
        let mut c = berlin();
        c.holidays
            .insert(NaiveDate::from_ymd_opt(2026, 12, 24).unwrap());
        let tz = c.tz;
        let due = c.add(at(tz, "2026-12-23 15:00"), 4 * H).unwrap();
        assert_eq!(due, at(tz, "2026-12-25 11:00"), "the 24th does not count");
    }

    #[test]
    fn a_ticket_created_outside_hours_starts_at_the_next_opening() {
        let c = berlin();
        let tz = c.tz;
        assert_eq!(
            c.add(at(tz, "2026-12-05 23:00"), H).unwrap(),
            at(tz, "2026-12-07 10:00")
        );
        assert_eq!(
            c.add(at(tz, "2026-12-07 06:00"), 0).unwrap(),
            at(tz, "2026-12-07 09:00")
        );
    }

    #[test]
    fn split_days_count_only_their_intervals() {
        let c = Calendar::parse(
            chrono_tz::UTC,
            &["mon-fri 09:00-12:00,13:00-17:00".into()],
            BTreeSet::new(),
        )
        .unwrap();
        let tz = c.tz;
        assert_eq!(
            c.add(at(tz, "2026-12-07 11:00"), 2 * H).unwrap(),
            at(tz, "2026-12-07 14:00")
        );
        assert_eq!(
            c.between(at(tz, "2026-12-07 08:00"), at(tz, "2026-12-07 18:00")),
            7 * H
        );
    }

    #[test]
    fn the_spring_dst_change_shortens_the_night_not_the_working_day() {
        // Berlin moves from 02:00 to 03:00 on Sunday 2027-03-28.
        let c = Calendar::parse(
            chrono_tz::Europe::Berlin,
            &["mon-sun 00:00-24:00".into()],
            BTreeSet::new(),
        )
        .unwrap();
        let tz = c.tz;
        let (sat, sun) = (at(tz, "2027-03-27 12:00"), at(tz, "2027-03-28 12:00"));
        assert_eq!(c.between(sat, sun), 23 * H, "that day has 23 hours");
        let office = berlin();
        // Friday 16:00 CET + 2 h lands on Monday 10:00 CEST: 1 h + 1 h.
        let due = office.add(at(tz, "2027-03-26 16:00"), 2 * H).unwrap();
        assert_eq!(due, at(tz, "2027-03-29 10:00"));
        assert_eq!(
            due - at(tz, "2027-03-26 16:00"),
            (66 - 1) * H,
            "the wall clock lost an hour"
        );
    }

    #[test]
    fn the_autumn_dst_change_lengthens_a_round_the_clock_day() {
        // Berlin moves from 03:00 back to 02:00 on Sunday 2027-10-31.
        let c = Calendar::parse(
            chrono_tz::Europe::Berlin,
            &["mon-sun 00:00-24:00".into()],
            BTreeSet::new(),
        )
        .unwrap();
        let tz = c.tz;
        assert_eq!(
            c.between(at(tz, "2027-10-30 12:00"), at(tz, "2027-10-31 12:00")),
            25 * H
        );
        let office = berlin();
        assert_eq!(
            office.between(at(tz, "2027-10-29 09:00"), at(tz, "2027-11-01 17:00")),
            16 * H,
            "two working days, whatever the night did"
        );
    }

    #[test]
    fn a_pause_and_resume_add_up() {
        let c = berlin();
        let tz = c.tz;
        // 3 h before the pause, paused over a day, resumed: 5 h left of 8.
        let used = c.between(at(tz, "2026-12-07 09:00"), at(tz, "2026-12-07 12:00"));
        let resume = at(tz, "2026-12-08 09:00");
        assert_eq!(
            c.add(resume, 8 * H - used).unwrap(),
            at(tz, "2026-12-08 14:00")
        );
    }

    #[test]
    fn a_target_longer_than_a_week() {
        let c = berlin();
        let tz = c.tz;
        // 60 business hours = 7.5 working days.
        let due = c.add(at(tz, "2026-12-07 09:00"), 60 * H).unwrap();
        assert_eq!(due, at(tz, "2026-12-16 13:00"));
        let two_days = Duration::parse("2d").unwrap();
        assert_eq!(
            c.add_duration(at(tz, "2026-12-04 15:00"), two_days)
                .unwrap(),
            at(tz, "2026-12-08 15:00"),
            "business days skip the weekend"
        );
    }

    #[test]
    fn round_the_clock_is_wall_time() {
        let c = Calendar::always();
        assert_eq!(c.add(1_000, 5 * H), Some(1_000 + 5 * H));
        assert_eq!(c.between(0, 49 * H), 49 * H);
        assert_eq!(
            c.add_duration(
                0,
                Duration {
                    days: 2,
                    minutes: 0
                }
            ),
            Some(48 * H)
        );
    }

    #[test]
    fn a_calendar_without_hours_has_no_deadline() {
        let c = Calendar::parse(chrono_tz::UTC, &[], BTreeSet::new()).unwrap();
        assert_eq!(c.add(0, H), None);
        assert_eq!(c.between(0, 100 * H), 0);
    }

    fn calendars() -> impl Strategy<Value = Calendar> {
        let zones = prop_oneof![
            Just(chrono_tz::UTC),
            Just(chrono_tz::Europe::Berlin),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Australia::Lord_Howe),
            Just(chrono_tz::Asia::Kolkata),
        ];
        let day = prop::collection::vec((0u32..24 * 4, 1u32..16), 0..3).prop_map(|spans| {
            spans
                .into_iter()
                .map(|(s, l)| (s * 15, (s * 15 + l * 30).min(DAY_MINUTES)))
                .collect::<Day>()
        });
        (zones, prop::collection::vec(day, 7)).prop_filter_map("some working time", |(tz, days)| {
            let mut week: [Day; 7] = Default::default();
            for (i, d) in days.into_iter().enumerate() {
                week[i] = d;
            }
            let lines: Vec<String> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .zip(&week)
                .filter(|(_, d)| !d.is_empty())
                .map(|(n, d)| {
                    let spans: Vec<String> = d
                        .iter()
                        .map(|(a, b)| format!("{}-{}", clock(*a), clock(*b)))
                        .collect();
                    format!("{n} {}", spans.join(","))
                })
                .collect();
            (!lines.is_empty())
                .then(|| Calendar::parse(tz, &lines, BTreeSet::new()).ok())
                .flatten()
        })
    }

    // 2026-01-01 .. 2028-01-01, so both DST changes of two years are in.
    const FROM: i64 = 1_767_225_600_000;
    const SPAN: i64 = 2 * 365 * 86_400_000;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn adding_then_measuring_gives_the_same_time(
            c in calendars(),
            start in FROM..FROM + SPAN,
            minutes in 0i64..20_000,
        ) {
            let amount = minutes * MINUTE_MS;
            let due = c.add(start, amount).expect("a deadline");
            prop_assert!(due >= start);
            prop_assert_eq!(c.between(start, due), amount);
        }

        #[test]
        fn the_clock_never_counts_time_outside_working_hours(
            c in calendars(),
            start in FROM..FROM + SPAN,
            hours in 1i64..200,
        ) {
            let end = start + hours * 3_600_000;
            let counted = c.between(start, end);
            prop_assert!(counted <= end - start);
            // Every counted minute is inside an interval: sum the overlap
            // of [start, end) with each local day's intervals directly.
            let mut by_hand = 0;
            let mut date = c.local_date(start).pred_opt().unwrap();
            while date <= c.local_date(end) {
                let wd = date.weekday().num_days_from_monday() as usize;
                for &(a, b) in &c.week[wd] {
                    let (a, b) = (c.instant(date, a).max(start), c.instant(date, b).min(end));
                    if a < b { by_hand += b - a; }
                }
                date = date.succ_opt().unwrap();
            }
            prop_assert_eq!(counted, by_hand);
        }
    }
}
