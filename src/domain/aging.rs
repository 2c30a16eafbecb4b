//! Report arithmetic: age buckets, percentiles, weeks.

pub const DAY_MS: i64 = 86_400_000;
pub const WEEK_MS: i64 = 7 * DAY_MS;

/// The age buckets, youngest first: a label and the age (ms) a ticket must
/// be younger than to fall in it.
pub const BUCKETS: [(&str, i64); 6] = [
    ("<1d", DAY_MS),
    ("1-3d", 3 * DAY_MS),
    ("3-7d", 7 * DAY_MS),
    ("1-2w", 14 * DAY_MS),
    ("2-4w", 28 * DAY_MS),
    (">4w", i64::MAX),
];

/// The bucket of an age in ms.
pub fn bucket(age_ms: i64) -> usize {
    BUCKETS
        .iter()
        .position(|(_, under)| age_ms < *under)
        .unwrap_or(BUCKETS.len() - 1)
}

/// The `p`th percentile by nearest rank (a value that occurred); `None`
/// for no values. `values` need not be sorted.
pub fn percentile(values: &mut [i64], p: u32) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    let rank = (u64::from(p.min(100)) * n as u64).div_ceil(100).max(1) as usize;
    values.get(rank - 1).copied()
}

/// The start (ms) of the week holding `ms`: Monday 00:00 UTC.
pub fn week_start(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday: Mondays fall 4 days after each epoch week.
    let shifted = ms - 4 * DAY_MS;
    shifted - shifted.rem_euclid(WEEK_MS) + 4 * DAY_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_fall_in_their_buckets() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(DAY_MS - 1), 0);
        assert_eq!(bucket(DAY_MS), 1);
        assert_eq!(bucket(3 * DAY_MS), 2);
        assert_eq!(bucket(13 * DAY_MS), 3);
        assert_eq!(bucket(27 * DAY_MS), 4);
        assert_eq!(bucket(400 * DAY_MS), 5);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        assert_eq!(percentile(&mut [], 50), None);
        assert_eq!(percentile(&mut [7], 90), Some(7));
        assert_eq!(percentile(&mut [4, 1, 3, 2], 50), Some(2));
        let mut ten: Vec<i64> = (1..=10).rev().collect();
        assert_eq!(percentile(&mut ten, 50), Some(5));
        assert_eq!(percentile(&mut ten, 90), Some(9));
        assert_eq!(percentile(&mut ten, 100), Some(10));
    }

    #[test]
    fn weeks_start_on_monday() {
        // 2026-12-03 (a Thursday) 17:00 UTC → Monday 2026-11-30 00:00 UTC.
        let monday = 1_795_996_800_000;
        assert_eq!(week_start(1_796_317_200_000), monday);
        assert_eq!(week_start(monday), monday);
        assert_eq!(week_start(monday - 1), monday - WEEK_MS);
    }
}
