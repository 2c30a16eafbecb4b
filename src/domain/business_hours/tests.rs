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
fn a_working_day_starting_in_the_skipped_hour_starts_when_the_clocks_jump() {
    // Berlin skips 02:00-03:00 on 2027-03-28; a shift from 02:10 starts at 03:00.
    let c = Calendar::parse(
        chrono_tz::Europe::Berlin,
        &["sun 02:10-04:00".into()],
        BTreeSet::new(),
    )
    .unwrap();
    let tz = c.tz;
    assert_eq!(
        c.add(at(tz, "2027-03-28 00:00"), 0),
        Some(at(tz, "2027-03-28 03:00"))
    );
    assert_eq!(
        c.between(at(tz, "2027-03-28 00:00"), at(tz, "2027-03-28 05:00")),
        H
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
