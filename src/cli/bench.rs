//! `docket bench ingest`: measured throughput, never asserted in tests.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::config::Config;
use crate::mail::generate;
use crate::service::import::import_path;
use crate::service::ingest::Hints;
use crate::service::ingest::Ingestor;
use crate::store::{self, Db, queues};

#[derive(Debug, clap::Args)]
pub struct IngestBenchArgs {
    /// Messages to import.
    #[arg(long, default_value_t = 10_000)]
    pub messages: usize,
    /// Sequential mailgate processes to run.
    #[arg(long, default_value_t = 300)]
    pub mailgate: usize,
    /// A PostgreSQL server URL (any database); a fresh database is created on it and dropped after.
    #[arg(long, env = "DOCKET_BENCH_POSTGRES_URL")]
    pub postgres_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct OutboxBenchArgs {
    /// Rows to send.
    #[arg(long, default_value_t = 2_000)]
    pub messages: usize,
    /// The SMTP server to drain into (e.g. tests/peers/smtp_sink.py; see scripts/bench.sh).
    #[arg(long)]
    pub smtp_url: String,
}

/// Outbox drain rate: rows written in one transaction, then sent by the worker
/// over its pooled SMTP connections until none is due.
pub async fn outbox(cfg: &Config, args: OutboxBenchArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("docket-bench-outbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}", dir.join("outbox.db").display());
    let db = prepare(cfg, &url).await?;
    let now = store::now_ms();
    let mut tx = db.begin_write().await?;
    let ticket = crate::store::tickets::create(
        &mut tx,
        crate::store::tickets::NewTicket {
            queue_id: 1,
            subject: "bench",
            now,
        },
    )
    .await?;
    for i in 0..args.messages {
        let to = vec![format!("user{}@example.org", i % 500)];
        let message_id = format!("bench-{i}@docket.bench");
        crate::store::outbox::insert(
            &mut tx,
            crate::store::outbox::NewMail {
                ticket_id: Some(ticket),
                kind: "reply",
                from_addr: "help@example.com",
                from_name: "bench",
                reply_to: None,
                to: &to,
                cc: &[],
                subject: "[Docket #1] bench",
                body: "A reply of ordinary length.\n\nIt has a few lines, like a person's answer would.\n",
                html_body: None,
                auto_submitted: false,
                message_id: &message_id,
                in_reply_to: None,
                references: &[],
                now,
            },
        )
        .await?;
    }
    tx.commit().await?;
    let mut c = cfg.clone();
    c.smtp_url = Some(args.smtp_url.clone());
    let sender = crate::mail::outbound::worker::Sender::new(db.clone(), Arc::new(c))?;
    let started = Instant::now();
    let report = sender.send_due(store::now_ms()).await?;
    let f = figure(
        "outbox drain to SMTP (pooled)",
        report.sent,
        started.elapsed(),
    );
    println!("{}", serde_json::to_string(&f)?);
    if report.sent != args.messages {
        anyhow::bail!(
            "only {} of {} sent ({} retry, {} dead)",
            report.sent,
            args.messages,
            report.retry,
            report.dead
        );
    }
    db.close().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}

#[derive(Debug, Serialize)]
struct Figure {
    what: String,
    messages: usize,
    seconds: f64,
    per_second: f64,
}

pub async fn ingest(cfg: &Config, args: IngestBenchArgs) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("docket-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let msgs = generate::messages(args.messages, "help@example.com", 7);
    let mbox = dir.join("bench.mbox");
    std::fs::write(&mbox, generate::to_mbox(&msgs))?;
    let mut figures = Vec::new();

    // Parsing alone, on one core: what the database work adds to.
    let started = Instant::now();
    let parsed = msgs
        .iter()
        .filter(|m| crate::mail::inbound::parse::parse(m).is_ok())
        .count();
    figures.push(figure("parse only (one core)", parsed, started.elapsed()));

    let sqlite_url = format!("sqlite://{}", dir.join("import.db").display());
    figures.push(import_into(cfg, &sqlite_url, &mbox, "import sqlite").await?);

    if let Some(server) = &args.postgres_url {
        let (url, drop) = crate::store::fresh_postgres(server, "docket_bench").await?;
        let f = import_into(cfg, &url, &mbox, "import postgres").await;
        drop.await?;
        figures.push(f?);
    }

    if args.mailgate > 0 {
        let gate_url = format!("sqlite://{}", dir.join("mailgate.db").display());
        prepare(cfg, &gate_url).await?;
        let exe = std::env::current_exe()?;
        let started = Instant::now();
        for raw in msgs.iter().take(args.mailgate) {
            run_mailgate(&exe, &gate_url, raw).await?;
        }
        figures.push(figure(
            "mailgate sqlite (sequential processes)",
            args.mailgate.min(msgs.len()),
            started.elapsed(),
        ));
    }
    std::fs::remove_dir_all(&dir).ok();
    for f in &figures {
        println!("{}", serde_json::to_string(f)?);
    }
    Ok(())
}

fn figure(what: &str, messages: usize, elapsed: Duration) -> Figure {
    let seconds = elapsed.as_secs_f64();
    Figure {
        what: what.into(),
        messages,
        seconds,
        per_second: messages as f64 / seconds.max(1e-9),
    }
}

async fn prepare(cfg: &Config, url: &str) -> Result<Db> {
    let db = Db::connect(url, Duration::from_secs(cfg.busy_timeout_secs)).await?;
    db.migrate().await?;
    let mut conn = db.pool.acquire().await?;
    queues::add(
        &mut conn,
        "bench",
        "help@example.com",
        None,
        None,
        store::now_ms(),
    )
    .await?;
    Ok(db)
}

async fn import_into(cfg: &Config, url: &str, mbox: &Path, what: &str) -> Result<Figure> {
    let db = prepare(cfg, url).await?;
    let mut c = cfg.clone();
    c.database_url = url.to_string();
    let ingestor = Ingestor::new(db.clone(), Arc::new(c));
    let hints = Hints {
        queue: Some("bench".into()),
        action: None,
        keep_dates: false,
    };
    let started = Instant::now();
    let s = import_path(&ingestor, mbox, &hints, 500, |_, _| Ok(())).await?;
    let f = figure(what, s.messages, started.elapsed());
    // Off the mail path, but part of an import: reported on its own line.
    let started = Instant::now();
    let indexed = crate::store::search_index::catch_up_all(&db).await?;
    if indexed > 0 {
        println!(
            "{}",
            serde_json::to_string(&figure(
                &format!("{what}: full-text catch-up (transactions)"),
                indexed as usize,
                started.elapsed()
            ))?
        );
    }
    db.close().await;
    Ok(f)
}

async fn run_mailgate(exe: &Path, url: &str, raw: &[u8]) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(exe)
        .args(["mailgate", "--queue", "bench"])
        .env("DOCKET_DATABASE_URL", url)
        .env("DOCKET_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting mailgate")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(raw).await?;
    }
    let status = child.wait().await?;
    anyhow::ensure!(status.success(), "mailgate exited with {status}");
    Ok(())
}
