//! `queue …`: add and list queues, their WIP limit and members' roles.

use anyhow::Result;

use super::args::*;
use super::{connect_migrated, print_json};
use crate::config::Config;
use crate::store::queues;

pub(super) async fn queue(cfg: &Config, cmd: QueueCmd) -> Result<()> {
    let db = connect_migrated(cfg).await?;
    let mut conn = db.pool.acquire().await?;
    match cmd {
        QueueCmd::Add {
            name,
            address,
            comment_address,
            tag,
        } => {
            let (id, addr) = crate::service::admin::add_queue(
                &db,
                crate::service::admin::NewQueue {
                    name: &name,
                    address: &address,
                    comment_address: comment_address.as_deref(),
                    tag: tag.as_deref(),
                },
                crate::store::now_ms(),
            )
            .await?;
            println!("queue {name} added (id {id}) for {addr}");
        }
        QueueCmd::Set {
            name,
            wip_limit,
            intake,
            notify,
            reopen_days,
            public,
            digest,
            notify_team_on_new,
            requestors_may_file,
        } => {
            if let Some(open) = requestors_may_file {
                crate::service::filing::set_open(&db, &name, open).await?;
                let shown = if open { "may" } else { "may not" };
                println!("queue {name}: requestors {shown} file on the web");
            }
            if let Some(on) = notify_team_on_new {
                crate::service::team_notice::set_for_queue(&db, &name, on).await?;
                let shown = if on { "told" } else { "not told" };
                println!("queue {name}: its people are {shown} of each new ticket");
            }
            if let Some(spec) = digest {
                let now = crate::store::now_ms();
                match crate::service::digest::set_schedule(&db, cfg, &name, &spec, now).await? {
                    Some((when, first)) => println!("queue {name}: digest {when}, first {first}"),
                    None => println!("queue {name}: no digest"),
                }
            }
            if let Some(public) = public {
                crate::service::admin::set_queue_public(&db, &name, public).await?;
                let shown = if public {
                    "public (read-only to anyone with a link or account)"
                } else {
                    "private"
                };
                println!("queue {name}: {shown}");
            }
            if let Some(list) = notify {
                let events = crate::service::admin::set_queue_notify(&db, &name, &list).await?;
                println!("queue {name}: requestors told of {}", events.join(", "));
            }
            if let Some(days) = reopen_days {
                crate::service::admin::set_queue_reopen_days(&db, &name, days).await?;
                println!("queue {name}: replies reopen for {days} days after resolving");
            }
            if let Some(list) = intake {
                let keys = crate::service::intake::set_required(&db, &name, &list).await?;
                println!("queue {name}: intake {}", keys.join(", "));
            }
            let admin = crate::service::admin::set_queue_wip_limit;
            if let Some(raw) = wip_limit {
                let limit = crate::service::admin::parse_wip_limit(Some(&raw))?;
                admin(&db, &name, limit).await?;
                match limit {
                    Some(l) => println!("queue {name}: WIP limit {l}"),
                    None => println!("queue {name}: no WIP limit"),
                }
            }
        }
        QueueCmd::Member {
            name,
            email,
            role,
            remove,
        } => {
            let addr =
                crate::service::admin::set_member(&db, &name, &email, role.as_deref(), remove)
                    .await?;
            if remove {
                println!("{addr} no longer works {name}");
            } else {
                println!(
                    "{addr} works {name} as {}",
                    role.as_deref().unwrap_or("engineer")
                );
            }
        }
        QueueCmd::List { json } => {
            let list = queues::list(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for q in list {
                    println!(
                        "{:<20} {:<30} {}",
                        q.name,
                        q.correspond_address,
                        q.comment_address.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}
