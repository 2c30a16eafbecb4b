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

/// Fills a database with queues, staff and `tickets` realistic tickets with
/// history (through the real ingest path), then spreads them over statuses
/// and owners the way a working helpdesk looks.
pub async fn seed(db: &Db, cfg: &Config, tickets: usize) -> Result<Seeded> {
    db.migrate().await?;
    let now = store::now_ms();
    let mut tx = db.begin_write().await?;
    let mut queue_ids = Vec::new();
    for (name, addr) in [
        ("helpdesk", "help@example.com"),
        ("ops", "ops@example.com"),
        ("facilities", "facilities@example.com"),
    ] {
        let existing = queues::list(&mut tx)
            .await?
            .into_iter()
            .find(|q| q.name == name);
        let id = match existing {
            Some(q) => q.id,
            None => queues::add(&mut tx, name, addr, None, None, now).await?,
        };
        queue_ids.push(id);
    }
    let hash = crate::service::auth::hash_password(DEMO_PASSWORD)?;
    let admin = "admin@example.com".to_string();
    users::upsert_staff(&mut tx, &admin, "admin", Some(&hash), now).await?;
    let mut staff = Vec::new();
    for (i, email) in ["alice@example.com", "bob@example.com", "carol@example.com"]
        .iter()
        .enumerate()
    {
        let id = users::upsert_staff(&mut tx, email, "staff", Some(&hash), now).await?;
        users::add_to_queue(&mut tx, queue_ids[i % queue_ids.len()], id).await?;
        users::add_to_queue(&mut tx, queue_ids[0], id).await?;
        staff.push(id);
    }
    tx.commit().await?;

    // Mail to the three queues in turn, through the one ingest path.
    let mut demo_cfg = cfg.clone();
    demo_cfg.ack_rate_limit_per_hour = 0; // no outbox flood in a demo
    let ingestor = Ingestor::new(db.clone(), Arc::new(demo_cfg));
    let addrs = [
        "help@example.com",
        "ops@example.com",
        "facilities@example.com",
    ];
    let per_queue = tickets.div_ceil(addrs.len());
    for (n, addr) in addrs.iter().enumerate() {
        let msgs = generate::messages(per_queue * 4 / 3, addr, 100 + n as u64);
        for chunk in msgs.chunks(500) {
            let items: Vec<(Vec<u8>, Source)> =
                chunk.iter().map(|m| (m.clone(), Source::Bench)).collect();
            ingestor.ingest_batch(&items, &Hints::default()).await?;
        }
    }
    // Spread statuses, owners and ages.
    let mut tx = db.begin_write().await?;
    store::demo::spread(&mut tx, &staff).await?;
    tx.commit().await?;
    store::search_index::catch_up_all(db).await?;
    let mut conn = db.pool.acquire().await?;
    let count = store::tickets::count(&mut conn).await?;
    Ok(Seeded {
        tickets: count,
        admin,
    })
}
