//! `mailgate` (one message from an MTA) and `import` (a collection).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::args::*;
use super::{EX_DATAERR, EX_TEMPFAIL};
use super::{connect_migrated, print_line, redact_url};
use crate::config::Config;
use crate::mail::inbound::route::Action;
use crate::service::import::import_path;
use crate::service::ingest::Hints;
use crate::service::ingest::{Ingestor, Outcome, Source};
use crate::store::{self, Db, queues};

pub(super) fn hints(queue: Option<String>, action: Option<ActionArg>) -> Hints {
    Hints {
        queue,
        action: action.map(|a| match a {
            ActionArg::Correspond => Action::Correspond,
            ActionArg::Comment => Action::Comment,
        }),
        keep_dates: false,
    }
}

pub(super) async fn check_queue(db: &Db, name: Option<&str>) -> Result<()> {
    if let Some(name) = name {
        let mut conn = db.pool.acquire().await?;
        if !queues::list(&mut conn)
            .await?
            .iter()
            .any(|q| q.name == name)
        {
            bail!("no queue named {name:?} (see `docket queue list`)");
        }
    }
    Ok(())
}

/// RT's rt-mailgate. Exit 0 once the message is durable (stored, a
/// duplicate, or quarantined), 65 for a message over the size limit, and 75
/// for everything an operator can fix — a database that is missing, not
/// migrated or unreachable, an unknown queue — so the MTA holds the mail
/// instead of bouncing it to its sender.
pub(super) async fn mailgate(cfg: Config, args: MailgateArgs) -> Result<ExitCode> {
    use crate::mail::inbound::bounded::{Input, read_bounded};
    let input = read_bounded(std::io::stdin().lock(), cfg.max_message_bytes)
        .context("reading the message from stdin")?;
    let url = redact_url(&cfg.database_url);
    let db = match Db::connect_existing(
        &cfg.database_url,
        Duration::from_secs(cfg.busy_timeout_secs),
    )
    .await
    {
        Ok(db) => db,
        Err(store::StoreError::Missing(path)) => {
            return Ok(defer(&format!(
                "the database {path} does not exist: fix --database-url \
                 (sqlite:///absolute/path) or create it with `docket migrate`"
            )));
        }
        Err(e) => return Ok(defer(&format!("cannot open the database {url}: {e}"))),
    };
    match db.pending_migrations().await {
        Ok(0) => {}
        Ok(n) => {
            return Ok(defer(&format!(
                "the database {url} is not migrated ({n} migrations pending): run `docket migrate`"
            )));
        }
        Err(e) => return Ok(defer(&format!("cannot read the database {url}: {e}"))),
    }
    if let Some(name) = args.queue.as_deref() {
        match check_queue(&db, Some(name)).await {
            Ok(()) => {}
            Err(e) => return Ok(defer(&format!("{e:#}: fix --queue or add the queue"))),
        }
    }
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    let raw = match input {
        Input::Whole(raw) => raw,
        Input::TooLarge { header, size } => {
            let limit = ingestor.config().max_message_bytes;
            if let Err(e) = ingestor
                .quarantine_oversize(&header, &size.to_string(), &Source::Mailgate)
                .await
            {
                tracing::warn!(error = %e, "could not keep the over-size message's header");
            }
            db.close().await;
            eprintln!(
                "docket: message too large: {size} bytes, over the limit of {limit} bytes (max_message_bytes)"
            );
            return Ok(ExitCode::from(EX_DATAERR));
        }
    };
    let outcome = ingestor
        .ingest_or_quarantine(&raw, Source::Mailgate, &hints(args.queue, args.action))
        .await
        .context("storing the message")?;
    db.close().await;
    report(&outcome, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// One line naming the problem and its fix; exit 75 so the MTA keeps the mail.
pub(super) fn defer(problem: &str) -> ExitCode {
    eprintln!("docket: mailgate: {problem} (mail deferred: exit 75, the MTA retries)");
    ExitCode::from(EX_TEMPFAIL)
}

pub(super) fn report(o: &Outcome, json: bool) -> Result<()> {
    if json {
        print_line(o)
    } else {
        let ticket = o
            .ticket
            .map(|t| format!(" ticket #{t}"))
            .unwrap_or_default();
        println!("{:?}{}: {}", o.outcome, ticket, o.reason);
        Ok(())
    }
}

pub(super) async fn import(cfg: Config, args: ImportArgs) -> Result<()> {
    let db = connect_migrated(&cfg).await?;
    check_queue(&db, args.queue.as_deref()).await?;
    let ingestor = Ingestor::new(db.clone(), Arc::new(cfg));
    let hints = Hints {
        keep_dates: args.keep_dates,
        ..hints(args.queue, None)
    };
    let json = args.json;
    let summary = import_path(
        &ingestor,
        &args.path,
        &hints,
        args.batch_size,
        |label, o| {
            if json {
                #[derive(Serialize)]
                struct Line<'a> {
                    source: &'a str,
                    #[serde(flatten)]
                    outcome: &'a Outcome,
                }
                print_line(&Line {
                    source: label,
                    outcome: o,
                })
            } else {
                let ticket = o.ticket.map(|t| format!(" #{t}")).unwrap_or_default();
                println!("{label}: {:?}{ticket}: {}", o.outcome, o.reason);
                Ok(())
            }
        },
    )
    .await?;
    crate::store::search_index::catch_up_all(&db)
        .await
        .context("updating the search index")?;
    if json {
        print_line(&serde_json::json!({ "summary": summary }))?;
    } else {
        println!(
            "{} messages in {:.2}s ({:.0}/s): {} created, {} replied, {} commented, {} duplicate, {} ignored, {} quarantined",
            summary.messages,
            summary.seconds,
            summary.per_second,
            summary.tally.created,
            summary.tally.replied,
            summary.tally.commented,
            summary.tally.duplicate,
            summary.tally.ignored,
            summary.tally.quarantined
        );
    }
    db.close().await;
    Ok(())
}
