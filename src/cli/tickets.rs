//! `ticket …`: show, list, reply, comment; the flow commands are in `flow`.

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::*;
use super::{connect_migrated, print_json, read_stdin_text};
use crate::config::Config;
use crate::store::{now_ms, tickets};

pub(super) async fn ticket(cfg: &Config, cmd: TicketCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    let mut conn = db.pool.acquire().await?;
    let actor_of = |a: &str| {
        crate::domain::address::normalise(a)
            .with_context(|| format!("{a:?} is not an e-mail address"))
    };
    match cmd {
        TicketCmd::Reply { id, actor } => {
            let body = read_stdin_text()?;
            let tx =
                crate::service::tickets::reply(&db, cfg, id, &actor_of(&actor)?, &body, now_ms())
                    .await?;
            println!("reply recorded on ticket #{id} (transaction {tx}); mail queued");
        }
        TicketCmd::Comment { id, actor } => {
            let body = read_stdin_text()?;
            let tx =
                crate::service::tickets::comment(&db, cfg, id, &actor_of(&actor)?, &body, now_ms())
                    .await?;
            println!("comment recorded on ticket #{id} (transaction {tx})");
        }
        TicketCmd::Show { id, json } => {
            let Some(t) = tickets::show(&mut conn, id).await? else {
                eprintln!("docket: no ticket #{id}");
                return Ok(ExitCode::FAILURE);
            };
            if json {
                let relations = crate::service::links::relations(&mut conn, id, true).await?;
                let intake = crate::service::intake::view(&mut conn, id).await?;
                let sla = crate::service::sla::of_ticket(&mut conn, id, now_ms()).await?;
                print_json(&Shown {
                    detail: &t,
                    relations,
                    intake,
                    sla,
                })?;
            } else {
                let s = &t.ticket;
                println!("#{} [{}] {} ({})", s.id, s.queue, s.subject, s.status);
                println!(
                    "requestors: {}  cc: {}",
                    s.requestors.join(", "),
                    s.cc.join(", ")
                );
                for x in &t.transactions {
                    println!(
                        "--- {} {} by {} ({}){}",
                        x.created_at,
                        x.kind,
                        x.from.as_deref().unwrap_or("-"),
                        x.thread_rule.as_deref().unwrap_or("-"),
                        if x.auto_submitted { " [automatic]" } else { "" }
                    );
                    println!("{}", x.body.trim_end());
                    for a in &x.attachments {
                        println!(
                            "  [attachment] {} ({}, {} bytes)",
                            a.filename, a.content_type, a.size
                        );
                    }
                }
            }
        }
        TicketCmd::List {
            queue,
            status,
            json,
        } => {
            let list = tickets::list(&mut conn, queue.as_deref(), status.as_deref()).await?;
            if json {
                print_json(&list)?;
            } else {
                for t in list {
                    println!("{:>6} {:<12} {:<10} {}", t.id, t.queue, t.status, t.subject);
                }
            }
        }
        other => return super::flow::ticket(cfg, &db, other).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// `ticket show --json`: the ticket, its history and its relations.
#[derive(serde::Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    detail: &'a tickets::TicketDetail,
    #[serde(flatten)]
    relations: crate::service::links::Relations,
    intake: crate::service::intake::IntakeView,
    sla: Option<crate::service::sla::TicketSla>,
}
