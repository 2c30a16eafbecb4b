//! The triage digest: before the team's meeting, a queue's triagers get
//! its aging buckets, SLA at risk and breached, oldest unowned tickets and
//! engineers over their WIP limit, with links, through the outbox; the
//! scheduler sends each once, whatever the number of instances.

use serde::Serialize;

use super::ServiceError;
use super::reports::{self, Filter};
use crate::config::Config;
use crate::domain::business_hours::span_text;
use crate::domain::digest::Schedule;
use crate::store::{Db, outbox, queues, rfc3339, sla as sla_store};

/// The zone a queue's digest is timed in: its SLA calendar's, else the
/// instance's.
async fn zone_of(
    conn: &mut sqlx::AnyConnection,
    cfg: &Config,
    queue_id: i64,
) -> Result<chrono_tz::Tz, ServiceError> {
    let policy = sla_store::policy_for(conn, queue_id, 0).await?;
    Ok(policy
        .and_then(|p| p.time_zone.parse().ok())
        .unwrap_or(cfg.time_zone))
}

/// Sets a queue's digest (`mon 09:00`, `mon,thu 08:30`; `off` for none);
/// returns the schedule and when the first goes out.
pub async fn set_schedule(
    db: &Db,
    cfg: &Config,
    queue: &str,
    spec: &str,
    now: i64,
) -> Result<Option<(String, String)>, ServiceError> {
    let mut tx = db.begin_write().await?;
    let id = crate::store::views::queue_by_name(&mut tx, queue)
        .await?
        .ok_or_else(|| ServiceError::Invalid(format!("There is no queue {queue:?}.")))?;
    if matches!(spec.trim(), "" | "off" | "none") {
        queues::set_digest(&mut tx, id, None, None).await?;
        tx.commit().await?;
        return Ok(None);
    }
    let schedule = Schedule::parse(spec).ok_or_else(|| {
        ServiceError::Invalid(format!(
            "{spec:?} is not a digest time; write it like \"mon 09:00\" or \"mon,thu 08:30\""
        ))
    })?;
    let tz = zone_of(&mut tx, cfg, id).await?;
    let next = schedule
        .next(tz, now)
        .ok_or_else(|| ServiceError::Invalid("that schedule never comes round".into()))?;
    queues::set_digest(&mut tx, id, Some(&schedule.text()), Some(next)).await?;
    tx.commit().await?;
    Ok(Some((format!("{} ({tz})", schedule.text()), rfc3339(next))))
}

/// A digest sent: the queue and who got it.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub queue: String,
    pub to: Vec<String>,
}

/// Sends every digest due by `now`, each claimed first so it goes once.
pub async fn run_due(db: &Db, cfg: &Config, now: i64) -> Result<Vec<Sent>, ServiceError> {
    let due = {
        let mut conn = db.conn().await?;
        queues::due_digests(&mut conn, now).await?
    };
    let mut out = Vec::new();
    for (id, name, spec, at) in due {
        let body = compose_body(db, cfg, id, &name, now).await?;
        let mut tx = db.begin_write().await?;
        let tz = zone_of(&mut tx, cfg, id).await?;
        let next = Schedule::parse(&spec)
            .and_then(|s| s.next(tz, now.max(at)))
            .unwrap_or(i64::MAX);
        if !queues::claim_digest(&mut tx, id, at, next).await? {
            // Another instance sent it.
            continue;
        }
        let to = sla_store::triagers(&mut tx, id).await?;
        let address = queues::list(&mut tx)
            .await?
            .into_iter()
            .find(|q| q.id == id)
            .map(|q| q.correspond_address)
            .unwrap_or_default();
        let subject = format!("Triage digest: {name}");
        for (n, who) in to.iter().enumerate() {
            let message_id = format!("docket-digest-{id}-{at}-{n}@{}", cfg.instance_name);
            outbox::insert(
                &mut tx,
                outbox::NewMail {
                    ticket_id: None,
                    kind: "digest",
                    from_addr: &address,
                    from_name: &name,
                    reply_to: None,
                    to: std::slice::from_ref(who),
                    cc: &[],
                    subject: &subject,
                    body: &body,
                    html_body: None,
                    auto_submitted: true,
                    message_id: &message_id,
                    in_reply_to: None,
                    references: &[],
                    now,
                },
            )
            .await?;
        }
        tx.commit().await?;
        out.push(Sent { queue: name, to });
    }
    Ok(out)
}

/// The digest's text: what the meeting will look at.
async fn compose_body(
    db: &Db,
    cfg: &Config,
    queue_id: i64,
    name: &str,
    now: i64,
) -> Result<String, ServiceError> {
    let filter = Filter {
        queue: Some(name.to_string()),
        ..Filter::default()
    };
    let aging = reports::aging(db, &filter, None, now).await?;
    let sla = reports::sla(db, &filter, now, Some(10)).await?;
    let board = super::board::triage(db, Some(&[queue_id]), 7, now).await?;
    let base = cfg.public_url.clone().unwrap_or_default();
    let q = url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>();
    let mut s = format!("Triage digest for {name}, {}\n\n", rfc3339(now));
    let total: i64 = aging.buckets.iter().map(|b| b.count).sum();
    let buckets: Vec<String> = aging
        .buckets
        .iter()
        .map(|b| format!("{} {}", b.label, b.count))
        .collect();
    s += &format!("Open tickets by age ({total}): {}\n\n", buckets.join(" · "));
    s += &format!(
        "SLA: {} breached, {} at risk\n",
        sla.n_breached, sla.n_at_risk
    );
    for l in sla.lines.iter().take(10) {
        let left = match l.left_ms {
            Some(ms) if ms < 0 => format!("overdue {}", span_text(ms)),
            Some(ms) => format!("{} left", span_text(ms)),
            None => "paused".into(),
        };
        s += &format!(
            "  #{} {} ({}, {left})\n",
            l.id,
            l.subject,
            l.clock.replace('_', " ")
        );
    }
    s += "\nOldest unowned:\n";
    if board.new_unowned.is_empty() {
        s += "  none\n";
    }
    for t in board.new_unowned.iter().take(10) {
        let days = (now - t.created_at) / 86_400_000;
        s += &format!("  #{} {} ({days} d)\n", t.id, t.subject);
    }
    let over: Vec<String> = board
        .wip
        .iter()
        .filter(|r| r.queue_id == queue_id && r.limit.is_some_and(|l| r.open >= l))
        .map(|r| format!("{} ({}/{})", r.user, r.open, r.limit.unwrap_or_default()))
        .collect();
    s += &format!(
        "\nAt or over their WIP limit: {}\n\n",
        if over.is_empty() {
            "nobody".to_string()
        } else {
            over.join(", ")
        }
    );
    s += &format!(
        "Triage board: {base}/triage?queue={q}\nSLA board: {base}/sla?queue={q}\n\
         Aging: {base}/reports/aging?queue={q}\n"
    );
    Ok(s)
}
