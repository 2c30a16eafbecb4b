//! Calendar feeds (RFC 5545): a person's or a queue's due dates,
//! postponed-until dates, ETAs and task input due dates, behind a secret
//! URL a calendar application subscribes to. Revocable; hidden tasks never
//! appear.

use chrono::{DateTime, TimeZone, Utc};
use icalendar::{Calendar, Component, Event, EventLike};
use sha2::{Digest, Sha256};

use super::ServiceError;
use crate::config::Config;
use crate::store::{Db, calendar_feeds, views};

/// At most this many tickets in one feed.
const LIMIT: i64 = 2000;

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whose dates a feed carries.
pub enum Owner<'a> {
    Person(&'a str),
    Queue(&'a str),
}

/// A new feed: its id and secret (shown once; the URL is `/calendar/SECRET.ics`).
pub async fn add(db: &Db, owner: Owner<'_>, now: i64) -> Result<(i64, String), ServiceError> {
    let mut tx = db.begin_write().await?;
    let (user, queue) = match owner {
        Owner::Person(email) => {
            let id = crate::store::users::find_staff(&mut tx, email)
                .await?
                .ok_or_else(|| ServiceError::Invalid(format!("no staff account {email:?}")))?;
            (Some(id), None)
        }
        Owner::Queue(name) => {
            let id = views::queue_by_name(&mut tx, name)
                .await?
                .ok_or_else(|| ServiceError::Invalid(format!("no queue {name:?}")))?;
            (None, Some(id))
        }
    };
    let secret = hex::encode(rand::random::<[u8; 24]>());
    let id = calendar_feeds::add(&mut tx, user, queue, &hash(&secret), now).await?;
    tx.commit().await?;
    Ok((id, secret))
}

pub async fn revoke(db: &Db, id: i64, now: i64) -> Result<bool, ServiceError> {
    let mut tx = db.begin_write().await?;
    let done = calendar_feeds::revoke(&mut tx, id, now).await?;
    tx.commit().await?;
    Ok(done)
}

fn utc(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// The feed behind `secret` as iCalendar text, or `None` (unknown or revoked).
pub async fn render(db: &Db, cfg: &Config, secret: &str) -> Result<Option<String>, ServiceError> {
    let mut conn = db.conn().await?;
    let Some(feed) = calendar_feeds::by_hash(&mut conn, &hash(secret)).await? else {
        return Ok(None);
    };
    let rows = match (feed.user_id, feed.queue_id) {
        (Some(u), _) => calendar_feeds::of_user(&mut conn, u, LIMIT).await?,
        (None, Some(q)) => calendar_feeds::of_queue(&mut conn, q, LIMIT).await?,
        (None, None) => Vec::new(),
    };
    let base = cfg
        .public_url
        .as_deref()
        .map(|b| b.trim_end_matches('/').to_string());
    let mut cal = Calendar::new();
    cal.name(&format!("{} tickets", cfg.instance_name));
    for r in &rows {
        let dates = [
            ("due", "Due", r.due_at),
            ("postponed", "Wakes up", r.postponed_until),
            ("eta", "ETA", r.eta_at),
            ("input", "Input due", r.input_due),
        ];
        for (key, label, at) in dates {
            let Some(at) = at.and_then(utc) else { continue };
            let mut e = Event::new();
            e.uid(&format!("ticket-{}-{key}@{}", r.id, cfg.instance_name))
                .summary(&format!("{label}: #{} {}", r.id, r.subject))
                .description(&format!("Queue {}, status {}", r.queue, r.status))
                .starts(at)
                .ends(at + chrono::Duration::minutes(30))
                .timestamp(utc(r.updated_at.max(0)).unwrap_or_else(|| at.to_utc()));
            if let Some(b) = &base {
                e.url(&format!("{b}/tickets/{}", r.id));
            }
            cal.push(e.done());
        }
    }
    Ok(Some(cal.done().to_string()))
}
