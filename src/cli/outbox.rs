//! `outbox …`: list, retry and send outgoing mail.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::args::OutboxCmd;
use super::serve::shutdown_signal;
use super::{connect_migrated, print_json, print_line};
use crate::config::Config;
use crate::store::{self, outbox};

pub(super) async fn run(cfg: Config, cmd: OutboxCmd) -> Result<ExitCode> {
    match cmd {
        OutboxCmd::Send { once, json } => outbox_send(cfg, once, json).await?,
        OutboxCmd::Retry { id } => {
            let db = connect_migrated(&cfg).await?;
            let mut conn = db.pool.acquire().await?;
            if !outbox::requeue(&mut conn, id, store::now_ms()).await? {
                eprintln!("docket: no unsent outbox row {id}");
                return Ok(ExitCode::FAILURE);
            }
            println!("outbox row {id} queued again");
        }
        OutboxCmd::List { status, json } => {
            let db = connect_migrated(&cfg).await?;
            let mut conn = db.pool.acquire().await?;
            let items = outbox::list(&mut conn, status.as_deref()).await?;
            if json {
                print_json(&items)?;
            } else {
                for i in items {
                    println!(
                        "{:>6} #{:<6} {:<8} {:<30} {}",
                        i.id,
                        i.ticket.map_or("-".to_string(), |t| t.to_string()),
                        i.status,
                        i.to.join(","),
                        i.subject
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn outbox_send(cfg: Config, once: bool, json: bool) -> Result<()> {
    let db = connect_migrated(&cfg).await?;
    let sender = crate::mail::outbound::worker::Sender::new(db.clone(), Arc::new(cfg))?;
    if !sender.is_configured() {
        eprintln!(
            "docket: warning: no smtp_url configured (DOCKET_SMTP_URL); outgoing mail waits in the outbox"
        );
    }
    let shutdown = shutdown_signal()?;
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = &mut shutdown => break,
        }
        let report = sender.send_due(store::now_ms()).await?;
        if json && (once || !report.attempts.is_empty()) {
            print_line(&report)?;
        } else {
            for a in &report.attempts {
                println!(
                    "{:>6} #{:<6} {:<6} {} {}",
                    a.id,
                    a.ticket,
                    a.result,
                    a.to.join(","),
                    a.error.as_deref().unwrap_or("")
                );
            }
            if once || !report.attempts.is_empty() {
                println!(
                    "{} sent, {} to retry, {} dead",
                    report.sent, report.retry, report.dead
                );
            }
            if let (true, Some(why)) = (once, &report.auth_failed) {
                println!("nothing sent: no SMTP sign-in token: {why}");
            }
        }
        if once {
            break;
        }
    }
    db.close().await;
    Ok(())
}
