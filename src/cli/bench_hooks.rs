//! `docket bench webhooks`: the delivery rate to a local receiver, measured
//! (never asserted). Deliveries are written as changes would write them,
//! spread over tickets, then sent by the same code `serve` runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::store::{self, Db};

#[derive(Debug, clap::Args)]
pub struct WebhookBenchArgs {
    /// Deliveries to send.
    #[arg(long, default_value_t = 5_000)]
    pub deliveries: usize,
    /// Tickets they are about (each ticket's are sent in order).
    #[arg(long, default_value_t = 500)]
    pub tickets: usize,
    /// A PostgreSQL database URL to use instead of a fresh SQLite file.
    #[arg(long, env = "DOCKET_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
}

/// Starts a receiver on 127.0.0.1 that answers 204 and counts.
async fn receiver() -> Result<(String, Arc<AtomicUsize>)> {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let c = c.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, count))
}

pub async fn webhooks(cfg: &Config, args: WebhookBenchArgs) -> Result<()> {
    let url = match &args.postgres_url {
        Some(u) => u.clone(),
        None => {
            let dir =
                std::env::temp_dir().join(format!("docket-bench-hooks-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            format!("sqlite://{}", dir.join("hooks.db").display())
        }
    };
    let db = Db::connect(&url, Duration::from_secs(cfg.busy_timeout_secs)).await?;
    db.migrate().await?;
    let now = store::now_ms();
    let name = format!("bench{}", std::process::id());
    let (app, _) = crate::service::api_access::add_app(&db, &name, &name, None, now).await?;
    let (hook_url, count) = receiver().await?;
    let events = vec!["*".to_string()];
    let (hook, _) =
        crate::service::webhooks::subscribe(&db, (app, None), &hook_url, &events, now).await?;
    let queue = crate::service::api_access::owned_queue(&db, app).await?;
    let written = Instant::now();
    let mut tx = db.begin_write().await?;
    let mut tickets = Vec::new();
    for _ in 0..args.tickets.max(1) {
        let t = store::tickets::NewTicket {
            queue_id: queue,
            subject: "bench",
            now,
        };
        tickets.push(store::tickets::create(&mut tx, t).await?);
    }
    for i in 0..args.deliveries {
        let msg_id = format!("msg_bench_{i}");
        let body = format!(
            r#"{{"type":"ticket.updated","data":{{"ticket":{}}}}}"#,
            tickets[i % tickets.len()]
        );
        let d = store::webhooks::NewDelivery {
            webhook_id: hook,
            msg_id: &msg_id,
            event: "ticket.updated",
            ticket_id: Some(tickets[i % tickets.len()]),
            body: &body,
            now,
        };
        store::webhooks::enqueue(&mut tx, d).await?;
    }
    tx.commit().await?;
    let write_secs = written.elapsed().as_secs_f64();
    let client = crate::service::webhooks::client()?;
    let started = Instant::now();
    while count.load(Ordering::Relaxed) < args.deliveries {
        let r = crate::service::webhooks::deliver_due(&db, &client, store::now_ms())
            .await
            .context("delivering")?;
        if r.sent + r.retried + r.dead == 0 && started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("deliveries stalled");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "backend": if url.starts_with("postgres") { "postgres" } else { "sqlite" },
            "deliveries": args.deliveries,
            "tickets": tickets.len(),
            "written_per_s": (args.deliveries as f64 / write_secs).round(),
            "delivered_per_s": (args.deliveries as f64 / secs).round(),
            "seconds": (secs * 100.0).round() / 100.0,
        })
    );
    Ok(())
}
