//! Work that falls due by itself: postponed tickets wake up (SLA clocks and
//! digests join here next). `serve` runs a pass every few seconds;
//! `docket scheduler run --once` runs one for cron and tests. Safe with
//! several instances: a ticket is woken by a conditional update that only
//! one of them can win.

use serde::Serialize;

use super::tickets::history;
use super::{ServiceError, notify};
use crate::config::Config;
use crate::store::{Db, tickets, triage};

/// What one pass did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SchedulerReport {
    /// Tickets opened again because their postponement ended.
    pub woken: Vec<i64>,
    /// SLA breaches recorded: `[ticket, clock]`.
    pub breached: Vec<(i64, String)>,
    /// Triage digests sent.
    pub digests: Vec<super::digest::Sent>,
    /// Scheduled task updates carried out.
    pub updates: Vec<i64>,
}

/// Idempotency keys are kept a day.
pub const IDEMPOTENCY_KEEP_MS: i64 = 24 * 3600 * 1000;

/// At most this many tickets wake in one pass; the rest wait for the next.
const BATCH: i64 = 500;

/// Wakes every postponed ticket due by `now`, each in its own transaction
/// with its history entry and the notice to its owner (or the queue's staff).
pub async fn run_once(db: &Db, cfg: &Config, now: i64) -> Result<SchedulerReport, ServiceError> {
    let due = {
        let mut conn = db.conn().await?;
        triage::due_to_wake(&mut conn, now, BATCH).await?
    };
    let mut report = SchedulerReport::default();
    for id in due {
        let mut tx = db.begin_write().await?;
        if !triage::wake(&mut tx, id, now).await? {
            // Another instance woke it first.
            continue;
        }
        let Some(ctx) = tickets::context(&mut tx, id).await? else {
            continue;
        };
        let mut h = history(id, "status", None, "", now);
        h.old_value = Some("postponed");
        h.new_value = Some("open");
        h.thread_note = Some("woke up: the postponement ended");
        tickets::add_transaction(&mut tx, h).await?;
        super::sla::refresh(&mut tx, id, now).await?;
        let scope = notify::Scope::load(&mut tx, cfg, &ctx, now).await?;
        notify::tell_staff(
            &mut tx,
            &scope,
            "Docket's scheduler",
            "",
            notify::StaffNotice::Woke,
        )
        .await?;
        tx.commit().await?;
        report.woken.push(id);
    }
    report.breached = super::sla::scan(db, cfg, now).await?.breached;
    report.digests = super::digest::run_due(db, cfg, now).await?;
    report.updates = super::schedule::run_due(db, cfg, now).await?;
    let mut conn = db.conn().await?;
    crate::store::api::expire_keys(&mut conn, now - IDEMPOTENCY_KEEP_MS).await?;
    Ok(report)
}
