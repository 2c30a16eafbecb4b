//! Demo and benchmark data: `docket dev seed` and `docket serve --demo`.

use std::sync::Arc;

use anyhow::Result;

use crate::config::Config;
use crate::mail::generate;
use crate::service::ingest::Ingestor;
use crate::service::ingest::{Hints, Source};
use crate::store::{self, Db, queues, users};

/// The demo admin's password (a throw-away database only).
pub const DEMO_PASSWORD: &str = "docket-demo";

pub struct Seeded {
    pub tickets: i64,
    pub admin: String,
}

mod history;

/// Tickets made through the real ingest path (full mail, threads); the
/// rest of a larger seed is history written in bulk.
const THROUGH_INGEST: usize = 1_000;

const QUEUES: [(&str, &str, &str, &str, &str); 5] = [
    ("helpdesk", "help@example.com", "4h", "3d", "office"),
    ("ops", "ops@example.com", "1h", "1d", "24x7"),
    ("facilities", "facilities@example.com", "8h", "5d", "office"),
    ("network", "network@example.com", "2h", "2d", "24x7"),
    ("security", "security@example.com", "1h", "1d", "24x7"),
];

const STAFF: [&str; 10] = [
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
    "erin@example.com",
    "frank@example.com",
    "grace@example.com",
    "heidi@example.com",
    "ivan@example.com",
    "judy@example.com",
];

/// Fills a database with queues, staff, SLA policies and `tickets`
/// realistic tickets: the most recent through the real ingest path (mail
/// with replies), the rest two years of history in bulk, spread over
/// statuses, owners and ages the way a working helpdesk looks.
pub async fn seed(db: &Db, cfg: &Config, tickets: usize) -> Result<Seeded> {
    db.migrate().await?;
    let now = store::now_ms();
    let (queue_ids, staff) = setup(db, now).await?;
    let hand = tickets.min(THROUGH_INGEST);
    let first = {
        let mut conn = db.conn().await?;
        store::demo::next_id(&mut conn, "tickets").await?
    };
    // Mail to the queues in turn, through the one ingest path.
    let mut demo_cfg = cfg.clone();
    demo_cfg.ack_rate_limit_per_hour = 0; // no outbox flood in a demo
    let ingestor = Ingestor::new(db.clone(), Arc::new(demo_cfg));
    let per_queue = hand.div_ceil(QUEUES.len());
    for (n, (_, addr, ..)) in QUEUES.iter().enumerate() {
        let msgs = generate::messages(per_queue * 4 / 3, addr, 100 + n as u64);
        for chunk in msgs.chunks(500) {
            let items: Vec<(Vec<u8>, Source)> =
                chunk.iter().map(|m| (m.clone(), Source::Bench)).collect();
            ingestor.ingest_batch(&items, &Hints::default()).await?;
        }
    }
    let ids: Vec<i64> = staff.iter().map(|(id, _)| *id).collect();
    let mut tx = db.begin_write().await?;
    store::demo::spread(&mut tx, &ids, first).await?;
    // Spreading moved their dates: their clocks follow.
    let last = store::demo::next_id(&mut tx, "tickets").await?;
    for id in first..last {
        crate::service::sla::refresh(&mut tx, id, now).await?;
    }
    tx.commit().await?;
    if tickets > hand {
        let cast = history::Cast {
            queues: queue_ids,
            staff,
            policies: history::policies(db).await?,
        };
        history::write(db, &cast, tickets - hand, now).await?;
    }
    store::search_index::catch_up_all(db).await?;
    let mut conn = db.pool.acquire().await?;
    store::demo::analyze(&mut conn).await?;
    let count = store::tickets::count(&mut conn).await?;
    Ok(Seeded {
        tickets: count,
        admin: "admin@example.com".into(),
    })
}

/// Queues, the admin, staff with roles and WIP limits, an office calendar
/// and a policy per queue; `(queue id, name)` and `(staff id, email)`.
async fn setup(db: &Db, now: i64) -> Result<(Vec<(i64, String)>, Vec<(i64, String)>)> {
    let mut tx = db.begin_write().await?;
    let mut queue_ids = Vec::new();
    for (name, addr, ..) in QUEUES {
        let existing = queues::list(&mut tx)
            .await?
            .into_iter()
            .find(|q| q.name == name);
        let id = match existing {
            Some(q) => q.id,
            None => queues::add(&mut tx, name, addr, None, None, now).await?,
        };
        queue_ids.push((id, name.to_string()));
    }
    let hash = crate::service::auth::hash_password(DEMO_PASSWORD)?;
    users::upsert_staff(&mut tx, "admin@example.com", "admin", Some(&hash), now).await?;
    let mut staff = Vec::new();
    for email in STAFF {
        let id = users::upsert_staff(&mut tx, email, "staff", Some(&hash), now).await?;
        staff.push((id, email.to_string()));
    }
    tx.commit().await?;
    for (i, (_, email)) in staff.iter().enumerate() {
        // Everyone works the helpdesk and one other queue; two triage.
        let role = if i < 2 { "triager" } else { "engineer" };
        let other = QUEUES[1 + i % (QUEUES.len() - 1)].0;
        for q in ["helpdesk", other] {
            crate::service::admin::set_member(db, q, email, Some(role), false).await?;
        }
    }
    for (name, ..) in QUEUES {
        crate::service::admin::set_queue_wip_limit(db, name, Some(8)).await?;
    }
    let office = crate::service::sla::NewCalendar {
        name: "office",
        time_zone: "Europe/Berlin",
        hours: &["mon-fri 08:00-12:00,13:00-17:00".to_string()],
        holidays: &["2025-12-25".to_string(), "2026-12-25".to_string()],
        holidays_ics: None,
    };
    crate::service::sla::save_calendar(db, office, now).await?;
    for (name, _, first_response, resolve, calendar) in QUEUES {
        let policy = crate::service::sla::NewPolicy {
            name: &format!("{name}-standard"),
            queue: name,
            priority: None,
            first_response,
            resolve,
            next_response: Some("1d"),
            calendar,
            pause: None,
            at_risk_percent: None,
            escalate_priority: None,
        };
        crate::service::sla::save_policy(db, policy, now).await?;
    }
    Ok((queue_ids, staff))
}
