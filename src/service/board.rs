//! What the team looks at: each engineer's work in progress against their
//! limit, and the sections of the triage meeting.

use serde::Serialize;

use super::ServiceError;
use crate::store::triage::{self, Section, TriageLine, WipRow};
use crate::store::{Db, queues};

/// How many tickets a dashboard section shows at most.
pub const SECTION_LIMIT: i64 = 50;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Every membership with the member's open tickets and limit.
pub async fn wip(db: &Db) -> Result<Vec<WipRow>, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(triage::wip(&mut conn).await?)
}

/// The people at or over their limit somewhere, once each.
pub fn over_limit(rows: &[WipRow]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .filter(|r| r.limit.is_some_and(|l| r.open >= l))
        .map(|r| r.user.clone())
        .collect();
    out.dedup();
    out
}

/// The triage meeting's screen.
#[derive(Debug, Clone, Serialize)]
pub struct Board {
    pub new_unowned: Vec<TriageLine>,
    pub incomplete: Vec<TriageLine>,
    pub needs_info: Vec<TriageLine>,
    pub stale: Vec<TriageLine>,
    pub waking: Vec<TriageLine>,
    pub over_wip: Vec<String>,
    pub wip: Vec<WipRow>,
}

/// The id of the queue named `name`.
pub async fn queue_named(db: &Db, name: &str) -> Result<i64, ServiceError> {
    let mut conn = db.conn().await?;
    queues::list(&mut conn)
        .await?
        .into_iter()
        .find(|q| q.name == name)
        .map(|q| q.id)
        .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {name:?}.")))
}

/// The board over the queues given (all: `None`); `stale_days` without an
/// update make a ticket stale; "waking" looks a week ahead.
pub async fn triage(
    db: &Db,
    queues: Option<&[i64]>,
    stale_days: i64,
    now: i64,
) -> Result<Board, ServiceError> {
    let mut conn = db.conn().await?;
    let mut section =
        async |which, bound| triage::section(&mut conn, which, queues, bound, SECTION_LIMIT).await;
    let new_unowned = section(Section::NewUnowned, 0).await?;
    let incomplete = section(Section::Incomplete, 0).await?;
    let needs_info = section(Section::NeedsInfo, 0).await?;
    let stale = section(Section::Stale, now - stale_days.max(1) * DAY_MS).await?;
    let waking = section(Section::Waking, now + 7 * DAY_MS).await?;
    let mut wip = triage::wip(&mut conn).await?;
    // Each owner's open count, from the WIP counts rather than a count per line.
    let open_of = |email: &str| wip.iter().find(|r| r.user == email).map(|r| r.open);
    let mut sections = [new_unowned, incomplete, needs_info, stale, waking];
    for line in sections.iter_mut().flatten() {
        // An owner who works none of the queues has no WIP row: 0 open.
        line.owner_open = line.owner.as_deref().map(|o| open_of(o).unwrap_or(0));
    }
    let [new_unowned, incomplete, needs_info, stale, waking] = sections;
    if let Some(ids) = queues {
        wip.retain(|r| ids.contains(&r.queue_id));
    }
    Ok(Board {
        over_wip: over_limit(&wip),
        new_unowned,
        incomplete,
        needs_info,
        stale,
        waking,
        wip,
    })
}
