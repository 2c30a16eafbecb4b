//! Webhooks: an application subscribes to events on its queues; each
//! event is written as a delivery in the transaction of the change that
//! causes it (the outbox pattern, so nothing is told that did not happen
//! and nothing that happened goes untold), then sent, signed per Standard
//! Webhooks, in order per ticket, retried with backoff for about three
//! days, dead after that (visible and re-sendable). `410 Gone` disables
//! the endpoint.

use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::AnyConnection;

use super::ServiceError;
use crate::domain::webhook_sign;
use crate::store::tickets::TicketContext;
use crate::store::{Db, rfc3339, webhooks};

/// The events an endpoint can ask for (`*`: all of them).
pub const EVENTS: [&str; 7] = [
    "ticket.created",
    "ticket.updated",
    "ticket.status_changed",
    "task.input_needed",
    "task.input_submitted",
    "task.completed",
    "sla.breached",
];

/// Waits before attempts 2, 3, …: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
/// 14 h, 20 h, 20 h — about three days in all, then the delivery is dead.
const BACKOFF_SECS: [i64; 9] = [5, 300, 1800, 7200, 18_000, 36_000, 50_400, 72_000, 72_000];

/// A delivery being sent is held this long before another instance may
/// try it.
const LEASE_MS: i64 = 60_000;

/// Subscribes an application's endpoint, for all its queues or (`scope`)
/// some; returns its id and secret (shown once).
pub async fn subscribe(
    db: &Db,
    (app, scope): (i64, Option<&[i64]>),
    url: &str,
    events: &[String],
    now: i64,
) -> Result<(i64, String), ServiceError> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|_| ServiceError::Invalid(format!("{url:?} is not a URL")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(ServiceError::Invalid(
            "a webhook URL is http or https with a host".into(),
        ));
    }
    if events.is_empty() {
        return Err(ServiceError::Invalid("name at least one event".into()));
    }
    if let Some(bad) = events
        .iter()
        .find(|e| e.as_str() != "*" && !EVENTS.contains(&e.as_str()))
    {
        return Err(ServiceError::Invalid(format!(
            "unknown event {bad:?}; one of {} or *",
            EVENTS.join(", ")
        )));
    }
    let secret = webhook_sign::new_secret();
    let mut tx = db.begin_write().await?;
    let queues: Vec<String> = scope
        .unwrap_or_default()
        .iter()
        .map(i64::to_string)
        .collect();
    let hook = webhooks::NewHook {
        app,
        url: parsed.as_str(),
        events: &events.join(","),
        secret: &secret,
        queues: &queues.join(","),
        now,
    };
    let id = webhooks::add(&mut tx, hook).await?;
    tx.commit().await?;
    Ok((id, secret))
}

fn wants(events: &str, event: &str) -> bool {
    events.split(',').any(|e| e == "*" || e == event)
}

fn hears_of(queues: &str, queue: i64) -> bool {
    queues.is_empty() || queues.split(',').any(|q| q.parse() == Ok(queue))
}

/// Whether a token may see and manage an endpoint: one narrowed to some
/// queues only those subscribed for some of those queues alone.
pub fn within(a: &super::api_access::Access, hook_queues: &str) -> bool {
    !a.narrowed
        || (!hook_queues.is_empty()
            && hook_queues
                .split(',')
                .all(|q| q.parse().is_ok_and(|q| a.queues.contains(&q))))
}

/// Writes a delivery of `event` about `ticket` to every live endpoint of
/// the application owning its queue that asked for it; nothing for
/// people's queues. Call inside the change's transaction.
pub async fn emit(
    conn: &mut AnyConnection,
    ticket: &TicketContext,
    event: &str,
    data: Value,
    now: i64,
) -> Result<(), ServiceError> {
    if ticket.app_id.is_none() {
        return Ok(());
    }
    let hooks = webhooks::live_for_queue(&mut *conn, ticket.queue_id).await?;
    let listening = hooks
        .iter()
        .filter(|h| wants(&h.events, event) && hears_of(&h.queues, ticket.queue_id));
    for hook in listening {
        let mut data = data.clone();
        if let Value::Object(map) = &mut data {
            map.insert("ticket".into(), json!(ticket.id));
            map.insert("queue".into(), json!(ticket.queue_name));
        }
        let body = json!({"type": event, "timestamp": rfc3339(now), "data": data}).to_string();
        let msg_id = format!("msg_{}", hex::encode(rand::random::<[u8; 12]>()));
        webhooks::enqueue(
            &mut *conn,
            webhooks::NewDelivery {
                webhook_id: hook.id,
                msg_id: &msg_id,
                event,
                ticket_id: Some(ticket.id),
                body: &body,
                now,
            },
        )
        .await?;
    }
    Ok(())
}

/// [`emit`] for a ticket known by id (loads its context).
pub async fn emit_for(
    conn: &mut AnyConnection,
    ticket: i64,
    event: &str,
    data: Value,
    now: i64,
) -> Result<(), ServiceError> {
    if let Some(ctx) = crate::store::tickets::context(&mut *conn, ticket).await? {
        emit(conn, &ctx, event, data, now).await?;
    }
    Ok(())
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct DeliveryReport {
    pub sent: usize,
    pub retried: usize,
    pub dead: usize,
    /// Endpoints disabled by `410 Gone`.
    pub disabled: usize,
}

/// An HTTP client for deliveries: short timeouts, no redirects followed
/// (a redirect is a failure the owner should fix).
pub fn client() -> Result<reqwest::Client, ServiceError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Docket-Webhooks/1")
        .build()
        .map_err(|e| ServiceError::Invalid(format!("building the HTTP client: {e}")))
}

enum Sent {
    Ok(u16),
    Gone,
    Failed(Option<u16>, String),
}

async fn send(
    client: &reqwest::Client,
    hook: &webhooks::Hook,
    d: &webhooks::Delivery,
    now: i64,
) -> Sent {
    let ts = now / 1000;
    let signature = webhook_sign::sign(&hook.secret, &d.msg_id, ts, &d.body);
    let res = client
        .post(&hook.url)
        .header("content-type", "application/json")
        .header("webhook-id", &d.msg_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await;
    match res {
        Ok(r) if r.status().is_success() => Sent::Ok(r.status().as_u16()),
        Ok(r) if r.status() == reqwest::StatusCode::GONE => Sent::Gone,
        Ok(r) => Sent::Failed(Some(r.status().as_u16()), format!("HTTP {}", r.status())),
        // The error names the URL, which is the application's, not a secret.
        Err(e) => Sent::Failed(None, e.without_url().to_string()),
    }
}

/// Sends the deliveries due at `now` (several endpoints and tickets at
/// once, each ticket's in order); call again until it reports nothing.
pub async fn deliver_due(
    db: &Db,
    client: &reqwest::Client,
    now: i64,
) -> Result<DeliveryReport, ServiceError> {
    let due = {
        let mut conn = db.conn().await?;
        webhooks::due(&mut conn, now, 64).await?
    };
    let outcomes = futures::stream::iter(due)
        .map(|d| deliver_one(db, client, d, now))
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let mut report = DeliveryReport::default();
    for o in outcomes {
        match o? {
            Some(Outcome::Sent) => report.sent += 1,
            Some(Outcome::Retry) => report.retried += 1,
            Some(Outcome::Dead) => report.dead += 1,
            Some(Outcome::Disabled) => {
                report.dead += 1;
                report.disabled += 1;
            }
            None => {}
        }
    }
    Ok(report)
}

enum Outcome {
    Sent,
    Retry,
    Dead,
    Disabled,
}

async fn deliver_one(
    db: &Db,
    client: &reqwest::Client,
    d: webhooks::Delivery,
    now: i64,
) -> Result<Option<Outcome>, ServiceError> {
    let hook = {
        let mut conn = db.conn().await?;
        if !webhooks::claim(&mut conn, d.id, now, LEASE_MS).await? {
            return Ok(None);
        }
        webhooks::get(&mut conn, d.webhook_id).await?
    };
    let Some(hook) = hook else {
        return Ok(None);
    };
    let sent = send(client, &hook, &d, now).await;
    let mut tx = db.begin_write().await?;
    let (status, next_at, http, error, outcome) = match &sent {
        Sent::Ok(code) => ("sent", now, Some(i64::from(*code)), None, Outcome::Sent),
        Sent::Gone => {
            webhooks::disable(&mut tx, hook.id, "the receiver answered 410 Gone", now).await?;
            (
                "dead",
                now,
                Some(410),
                Some("410 Gone: endpoint disabled".to_string()),
                Outcome::Disabled,
            )
        }
        Sent::Failed(code, why) => match BACKOFF_SECS.get(d.attempts as usize) {
            Some(wait) => (
                "pending",
                now + wait * 1000,
                code.map(i64::from),
                Some(why.clone()),
                Outcome::Retry,
            ),
            None => (
                "dead",
                now,
                code.map(i64::from),
                Some(why.clone()),
                Outcome::Dead,
            ),
        },
    };
    webhooks::record(
        &mut tx,
        webhooks::Attempt {
            id: d.id,
            status,
            next_at,
            http_status: http,
            error: error.as_deref(),
            now,
        },
    )
    .await?;
    tx.commit().await?;
    if !matches!(outcome, Outcome::Sent) {
        tracing::warn!(
            delivery = d.id,
            webhook = hook.id,
            status,
            "webhook delivery failed"
        );
    }
    Ok(Some(outcome))
}

/// Sends a dead delivery again, with the same `webhook-id`.
pub async fn resend(db: &Db, id: i64, now: i64) -> Result<bool, ServiceError> {
    let mut tx = db.begin_write().await?;
    let done = webhooks::resend(&mut tx, id, now).await?;
    tx.commit().await?;
    Ok(done)
}
