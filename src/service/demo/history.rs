//! Two years of helpdesk history written in bulk, for benchmarks at a
//! million tickets: ages skewed to the recent, most old tickets resolved,
//! owners, first replies, the history rows reports read, and SLA clocks
//! worked out by the same domain rules `refresh` uses.

use std::collections::HashMap;

use anyhow::Result;

use crate::domain::lifecycle::Status;
use crate::domain::sla::{self, Targets, Timeline};
use crate::store::demo::{Val, bulk_insert, next_id, sync_ids};
use crate::store::sla::{ClockColumns, PolicyRow};
use crate::store::{Db, sla as sla_store};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Tickets per database transaction.
const BATCH: usize = 10_000;

/// splitmix64: a fixed, fast sequence, so a seed is the same every time.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A number in [0, 1) for ticket `i`, draw `k`.
fn unit(i: i64, k: u64) -> f64 {
    (mix((i as u64).wrapping_mul(16).wrapping_add(k)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Log-uniform between `lo` and `hi` ms.
fn spread(u: f64, lo: i64, hi: i64) -> i64 {
    ((lo as f64).ln() + u * ((hi as f64).ln() - (lo as f64).ln())).exp() as i64
}

const TROUBLE: [&str; 12] = [
    "Printer jam",
    "VPN drops",
    "Disk filling up",
    "Password reset",
    "Slow login",
    "Backup failing",
    "Certificate expiring",
    "New laptop",
    "Access request",
    "Mail bouncing",
    "Wi-Fi flaky",
    "Badge not working",
];
const PLACES: [&str; 8] = ["web", "db", "office", "build", "mail", "lab", "hq", "edge"];
const FIRST: [&str; 10] = [
    "Kim", "Sam", "Alex", "Robin", "Jo", "Noor", "Lea", "Ravi", "Mia", "Tom",
];
const LAST: [&str; 10] = [
    "Park", "Lee", "Meyer", "Okafor", "Silva", "Nowak", "Khan", "Berg", "Rossi", "Ito",
];

/// One generated ticket before it is written.
struct Made {
    id: i64,
    queue: usize,
    status: Status,
    created: i64,
    first_reply: Option<i64>,
    closed: Option<i64>,
    status_at: i64,
    updated: i64,
    owner: Option<usize>,
    requestor: i64,
    priority: i64,
}

fn make(id: i64, i: i64, queues: usize, staff: usize, requestors: i64, now: i64) -> Made {
    let u = |k| unit(i, k);
    // A steady flow over two years.
    let age = (u(0) * 730.0 * DAY as f64) as i64 + (u(1) * HOUR as f64) as i64;
    let created = now - age;
    let first_reply = Some(created + spread(u(2), 5 * MINUTE, 3 * DAY)).filter(|t| *t < now);
    let open_share = match age {
        a if a < 14 * DAY => 0.6,
        a if a < 60 * DAY => 0.15,
        _ => 0.02,
    };
    let closed =
        Some(created + spread(u(3), HOUR, 20 * DAY)).filter(|t| *t < now && u(4) >= open_share);
    let status = match (closed, first_reply) {
        (Some(_), _) if u(5) < 0.08 => Status::Rejected,
        (Some(_), _) => Status::Resolved,
        (None, None) => Status::New,
        (None, Some(_)) => match u(5) {
            x if x < 0.10 => Status::New,
            x if x < 0.25 => Status::NeedsInfo,
            x if x < 0.35 => Status::Stalled,
            x if x < 0.40 => Status::Postponed,
            _ => Status::Open,
        },
    };
    let status_at = match (closed, first_reply) {
        (Some(c), _) => c,
        (None, Some(f)) if status != Status::New => f + ((now - f) as f64 * u(6) * 0.5) as i64,
        _ => created,
    };
    Made {
        id,
        queue: (mix(i as u64 ^ 7) % queues as u64) as usize,
        owner: (status != Status::New).then(|| (mix(i as u64 ^ 11) % staff as u64) as usize),
        requestor: (mix(i as u64 ^ 13) % requestors as u64) as i64,
        priority: [0, 0, 1, 1, 1, 2, 2, 3][(mix(i as u64 ^ 17) % 8) as usize],
        updated: status_at.max(first_reply.unwrap_or(created)),
        status,
        created,
        first_reply,
        closed,
        status_at,
    }
}

impl Made {
    fn timeline(&self) -> Timeline {
        let mut statuses = Vec::new();
        if self.status != Status::New {
            statuses.push((self.status_at, self.status));
        }
        Timeline {
            created_at: self.created,
            statuses,
            staff_replies: self.first_reply.into_iter().collect(),
            requestor_replies: Vec::new(),
        }
    }
}

/// The people and policies the history is written for.
pub struct Cast {
    /// `(id, queue name)`.
    pub queues: Vec<(i64, String)>,
    /// `(id, email)` of the staff who own tickets.
    pub staff: Vec<(i64, String)>,
    /// A policy per queue id.
    pub policies: HashMap<i64, PolicyRow>,
}

/// Writes `n` tickets of history; returns how many. On PostgreSQL the
/// loaded tables' secondary indexes are rebuilt afterwards, failure or not.
pub async fn write(db: &Db, cast: &Cast, n: usize, now: i64) -> Result<usize> {
    let mut conn = db.conn().await?;
    let dropped = crate::store::demo::bulk_load_begins(&mut conn, db.backend).await?;
    drop(conn);
    let loaded = load(db, cast, n, now).await;
    let mut conn = db.conn().await?;
    crate::store::demo::bulk_load_ends(&mut conn, &dropped).await?;
    loaded
}

async fn load(db: &Db, cast: &Cast, n: usize, now: i64) -> Result<usize> {
    let mut conn = db.conn().await?;
    let requestors = ((n / 20) as i64).clamp(100, 50_000);
    let first_user = next_id(&mut conn, "users").await?;
    let base = next_id(&mut conn, "tickets").await?;
    drop(conn);
    let mut tx = db.begin_write().await?;
    let people: Vec<Vec<Val>> = (0..requestors)
        .map(|k| {
            let (f, l) = (FIRST[(k % 10) as usize], LAST[((k / 10) % 10) as usize]);
            vec![
                Val::Int(first_user + k),
                Val::Text(format!(
                    "{}.{}{k}@customers.example",
                    f.to_lowercase(),
                    l.to_lowercase()
                )),
                Val::Text(format!("{f} {l}")),
                Val::Text("requestor".into()),
                Val::Int(now - 800 * DAY),
            ]
        })
        .collect();
    bulk_insert(
        &mut tx,
        "users",
        "id, email, display_name, role, created_at",
        &people,
    )
    .await?;
    tx.commit().await?;
    let calendars: HashMap<i64, (crate::domain::business_hours::Calendar, Targets)> = cast
        .policies
        .iter()
        .filter_map(|(q, p)| crate::service::sla::targets_of(p).ok().map(|t| (*q, t)))
        .collect();
    let mut done = 0;
    while done < n {
        let count = BATCH.min(n - done);
        let made: Vec<Made> = (done..done + count)
            .map(|i| {
                let i = i as i64;
                make(
                    base + i,
                    i,
                    cast.queues.len(),
                    cast.staff.len(),
                    requestors,
                    now,
                )
            })
            .collect();
        let mut tx = db.begin_write().await?;
        crate::store::demo::relaxed_commit(&mut tx, db.backend).await?;
        write_batch(&mut tx, cast, &calendars, &made, first_user, now).await?;
        tx.commit().await?;
        done += count;
    }
    let mut conn = db.conn().await?;
    sync_ids(&mut conn, db.backend, &["users", "tickets"]).await?;
    Ok(done)
}

type Calendars = HashMap<i64, (crate::domain::business_hours::Calendar, Targets)>;

fn opt(v: Option<i64>) -> Val {
    v.map_or(Val::Null, Val::Int)
}

fn subject_of(id: i64) -> String {
    format!(
        "{} on {}-{:02}",
        TROUBLE[(id % 12) as usize],
        PLACES[((id / 12) % 8) as usize],
        id % 97
    )
}

/// The clock columns of a generated ticket, and its breaches as recorded:
/// breaches of the past count as mailed long ago.
fn clock_columns(m: &Made, cast: &Cast, calendars: &Calendars, now: i64) -> (ClockColumns, String) {
    let queue_id = cast.queues[m.queue].0;
    let (Some(p), Some((cal, targets))) = (cast.policies.get(&queue_id), calendars.get(&queue_id))
    else {
        return Default::default();
    };
    let c = sla::clocks(cal, &m.timeline(), targets, now);
    let mut shown = c.clone();
    if m.status.is_done() {
        shown.due = None;
        shown.risk_at = None;
    }
    let cols = crate::service::sla::columns(p.id, &shown, &c.breached);
    let breached: Vec<&str> = c.breached.iter().map(|b| b.as_str()).collect();
    (cols, breached.join(","))
}

fn ticket_row(m: &Made, cast: &Cast, calendars: &Calendars, now: i64) -> Vec<Val> {
    let (cols, breached) = clock_columns(m, cast, calendars, now);
    let postponed = (m.status == Status::Postponed).then(|| now + (1 + m.id % 14) * DAY);
    vec![
        Val::Int(m.id),
        Val::Int(cast.queues[m.queue].0),
        Val::Text(subject_of(m.id)),
        Val::Text(m.status.as_str().into()),
        opt(m.owner.map(|o| cast.staff[o].0)),
        Val::Int(m.priority),
        Val::Int(m.created),
        Val::Int(m.updated),
        opt(m.closed),
        Val::Int(m.status_at),
        opt(postponed),
        opt(cols.policy_id),
        opt(cols.first_response_at),
        opt(cols.first_response_due),
        opt(cols.resolve_due),
        opt(cols.next_response_due),
        Val::Int(i64::from(cols.paused)),
        opt(cols.risk_at),
        opt(cols.due),
        Val::Text(breached),
        opt(cols.check_at),
    ]
}

/// The history rows the reports read: created, taken and answered, and
/// the status it reached.
fn history_rows(m: &Made, cast: &Cast, requestor: i64, out: &mut Vec<Vec<Val>>) {
    let owner = m.owner.map(|o| &cast.staff[o]);
    let queue = &cast.queues[m.queue].1;
    let row =
        |kind: &str, creator: i64, body: &str, old: Option<&str>, new: Option<&str>, at: i64| {
            vec![
                Val::Int(m.id),
                Val::Text(kind.into()),
                Val::Int(creator),
                Val::Text(body.into()),
                old.map_or(Val::Null, |o| Val::Text(o.into())),
                new.map_or(Val::Null, |o| Val::Text(o.into())),
                Val::Int(at),
            ]
        };
    let ask = format!("{}: please help, {queue} team.", subject_of(m.id));
    out.push(row("create", requestor, &ask, None, None, m.created));
    if let (Some(at), Some((staff_id, email))) = (m.first_reply, owner) {
        out.push(row("owner", *staff_id, "", None, Some(email), at));
        out.push(row(
            "correspond",
            *staff_id,
            "Looking into it.",
            None,
            None,
            at,
        ));
    }
    if m.status != Status::New {
        let who = owner.map_or(requestor, |o| o.0);
        out.push(row(
            "status",
            who,
            "",
            Some("new"),
            Some(m.status.as_str()),
            m.status_at,
        ));
    }
}

async fn write_batch(
    conn: &mut sqlx::AnyConnection,
    cast: &Cast,
    calendars: &Calendars,
    made: &[Made],
    first_user: i64,
    now: i64,
) -> Result<()> {
    let mut tickets = Vec::with_capacity(made.len());
    let mut links = Vec::with_capacity(made.len());
    let mut history = Vec::with_capacity(made.len() * 4);
    for m in made {
        tickets.push(ticket_row(m, cast, calendars, now));
        let requestor = first_user + m.requestor;
        links.push(vec![Val::Int(m.id), Val::Int(requestor)]);
        history_rows(m, cast, requestor, &mut history);
    }
    bulk_insert(
        &mut *conn,
        "tickets",
        "id, queue_id, subject, status, owner_id, priority, created_at, updated_at, resolved_at, \
         status_changed_at, postponed_until, sla_policy_id, first_response_at, first_response_due, \
         resolve_due, next_response_due, sla_paused, sla_risk_at, sla_due, sla_breached, sla_check_at",
        &tickets,
    )
    .await?;
    bulk_insert(
        &mut *conn,
        "ticket_requestors",
        "ticket_id, user_id",
        &links,
    )
    .await?;
    bulk_insert(
        &mut *conn,
        "transactions",
        "ticket_id, type, creator_id, body, old_value, new_value, created_at",
        &history,
    )
    .await?;
    Ok(())
}

/// The policies in force, by queue id, for the generator.
pub async fn policies(db: &Db) -> Result<HashMap<i64, PolicyRow>> {
    let mut conn = db.conn().await?;
    Ok(sla_store::policies(&mut conn)
        .await?
        .into_iter()
        .filter(|p| p.priority.is_none())
        .map(|p| (p.queue_id, p))
        .collect())
}
