//! `queue …`: add and list queues.

use anyhow::{Context, Result};

use super::args::*;
use super::{connect_migrated, print_json};
use crate::config::Config;
use crate::store::{self, queues};

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
            let addr = crate::domain::address::normalise(&address)
                .with_context(|| format!("{address:?} is not an e-mail address"))?;
            let comment = match comment_address {
                Some(c) => Some(
                    crate::domain::address::normalise(&c)
                        .with_context(|| format!("{c:?} is not an e-mail address"))?,
                ),
                None => None,
            };
            let id = queues::add(
                &mut conn,
                &name,
                &addr,
                comment.as_deref(),
                tag.as_deref(),
                store::now_ms(),
            )
            .await
            .with_context(|| {
                format!("adding queue {name:?} (name and addresses must be unused)")
            })?;
            println!("queue {name} added (id {id}) for {addr}");
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
