//! `quarantine …`: list, show and retry mail we could not take.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use super::args::*;
use super::mail::{hints, report};
use super::{connect_migrated, print_json};
use crate::config::Config;
use crate::service::ingest::Ingestor;
use crate::store::quarantine;

pub(super) async fn quarantine_cmd(cfg: Config, cmd: QuarantineCmd) -> Result<ExitCode> {
    let db = connect_migrated(&cfg).await?;
    match cmd {
        QuarantineCmd::List { json } => {
            let mut conn = db.pool.acquire().await?;
            let list = quarantine::list(&mut conn).await?;
            if json {
                print_json(&list)?;
            } else {
                for e in list {
                    println!(
                        "{:>6} {:<9} {:>9}B {} {}",
                        e.id, e.status, e.size, e.created_at, e.reason
                    );
                }
            }
        }
        QuarantineCmd::Show { id } => {
            let mut conn = db.pool.acquire().await?;
            let Some((raw, _)) = quarantine::get(&mut conn, id).await? else {
                eprintln!("docket: no quarantine entry {id}");
                return Ok(ExitCode::FAILURE);
            };
            std::io::stdout().lock().write_all(&raw)?;
        }
        QuarantineCmd::Retry { id, queue, json } => {
            let outcome = crate::service::ingest::retry_quarantined(
                &Ingestor::new(db.clone(), Arc::new(cfg)),
                id,
                &hints(queue, None),
            )
            .await?;
            let Some(outcome) = outcome else {
                eprintln!("docket: no quarantine entry {id}");
                return Ok(ExitCode::FAILURE);
            };
            report(&outcome, json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
