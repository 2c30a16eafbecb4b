//! When a queue's triage digest is due: weekdays and a time of day in a
//! time zone ("mon 09:00", "mon,thu 08:30"), before the team's meeting.

use chrono::{Datelike, NaiveTime, Weekday};
use chrono_tz::Tz;

/// A digest schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub days: Vec<Weekday>,
    pub time: NaiveTime,
}

impl Schedule {
    /// `mon 09:00`, `mon,thu 08:30`, `mon-fri 09:00`.
    pub fn parse(text: &str) -> Option<Schedule> {
        let (days, time) = text.trim().split_once(char::is_whitespace)?;
        let time = NaiveTime::parse_from_str(time.trim(), "%H:%M").ok()?;
        let mut out = Vec::new();
        for part in days.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (mut d, last): (Weekday, Weekday) =
                        (a.trim().parse().ok()?, b.trim().parse().ok()?);
                    loop {
                        out.push(d);
                        if d == last {
                            break;
                        }
                        d = d.succ();
                    }
                }
                None => out.push(part.trim().parse().ok()?),
            }
        }
        out.dedup();
        Some(Schedule { days: out, time })
    }

    /// As written back: `mon,thu 09:00`.
    pub fn text(&self) -> String {
        let days: Vec<String> = self
            .days
            .iter()
            .map(|d| d.to_string().to_lowercase())
            .collect();
        format!("{} {}", days.join(","), self.time.format("%H:%M"))
    }

    /// The first time after `after` (ms) the digest is due, in `tz`. A time
    /// the clocks skip that day comes at the moment after the jump.
    pub fn next(&self, tz: Tz, after: i64) -> Option<i64> {
        let start = chrono::DateTime::from_timestamp_millis(after)?
            .with_timezone(&tz)
            .date_naive();
        for offset in 0..15 {
            let date = start + chrono::Days::new(offset);
            if !self.days.contains(&date.weekday()) {
                continue;
            }
            let at = super::business_hours::local_instant(tz, date.and_time(self.time));
            if at > after {
                return Some(at);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(tz: Tz, s: &str) -> i64 {
        let naive = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        tz.from_local_datetime(&naive)
            .earliest()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn schedules_read_and_print() {
        let s = Schedule::parse("mon,thu 08:30").unwrap();
        assert_eq!(s.days, [Weekday::Mon, Weekday::Thu]);
        assert_eq!(s.text(), "mon,thu 08:30");
        assert_eq!(Schedule::parse("mon-wed 09:00").unwrap().days.len(), 3);
        for bad in ["monday", "mon 9", "xyz 09:00", "mon 25:00"] {
            assert!(Schedule::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_next_digest_is_the_next_listed_day_in_the_zone() {
        let tz = chrono_tz::Europe::Berlin;
        let s = Schedule::parse("mon 09:00").unwrap();
        // Thursday 2026-12-03 → Monday 2026-12-07 09:00 Berlin (08:00 UTC).
        assert_eq!(
            s.next(tz, at(tz, "2026-12-03 18:00")),
            Some(at(tz, "2026-12-07 09:00"))
        );
        // Exactly at the time: the next week's.
        let monday = at(tz, "2026-12-07 09:00");
        assert_eq!(s.next(tz, monday), Some(at(tz, "2026-12-14 09:00")));
        // Across the spring change the local time holds.
        let spring = Schedule::parse("sun 02:30").unwrap();
        assert_eq!(
            spring.next(tz, at(tz, "2027-03-27 12:00")),
            Some(at(tz, "2027-03-28 03:00")),
            "02:30 does not exist that night"
        );
    }
}
