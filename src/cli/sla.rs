//! `calendar …`, `sla …` and `report …`: business hours, SLA policies and
//! the reports. A bad value exits 1 with the reason (JSON with `--json`).

use std::process::ExitCode;

use anyhow::{Context, Result};

use super::args::*;
use super::flow::refused;
use super::{connect_migrated, print_json};
use crate::config::Config;
use crate::service::{reports, sla};
use crate::store::now_ms;

pub(super) async fn calendar(cfg: &Config, cmd: CalendarCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        CalendarCmd::Add {
            name,
            tz,
            hours,
            holidays,
            holidays_ics,
            json,
        } => {
            let ics = match &holidays_ics {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let saved = sla::save_calendar(
                &db,
                sla::NewCalendar {
                    name: &name,
                    time_zone: &tz,
                    hours: &hours,
                    holidays: &holidays,
                    holidays_ics: ics.as_deref(),
                },
                now_ms(),
            )
            .await;
            match saved {
                Ok(c) if json => print_json(&c)?,
                Ok(c) => println!(
                    "calendar {} in {}: {}; {} holidays",
                    c.name,
                    c.time_zone,
                    c.hours.join(", "),
                    c.holidays.len()
                ),
                Err(e) => return refused(e, json),
            }
        }
        CalendarCmd::List { json } => {
            let list = sla::calendars(&db).await?;
            if json {
                print_json(&list)?;
            } else {
                for c in list {
                    println!("{:<16} {:<20} {}", c.name, c.time_zone, c.hours.join(", "));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn policy(cfg: &Config, cmd: SlaCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    match cmd {
        SlaCmd::Add {
            name,
            queue,
            priority,
            first_response,
            resolve,
            next_response,
            calendar,
            pause,
            at_risk,
            escalate_priority,
            json,
        } => {
            let saved = sla::save_policy(
                &db,
                sla::NewPolicy {
                    name: &name,
                    queue: &queue,
                    priority,
                    first_response: &first_response,
                    resolve: &resolve,
                    next_response: next_response.as_deref(),
                    calendar: &calendar,
                    pause: pause.as_deref(),
                    at_risk_percent: at_risk,
                    escalate_priority,
                },
                now_ms(),
            )
            .await;
            match saved {
                Ok(p) if json => print_json(&p)?,
                Ok(p) => println!(
                    "policy {} for queue {}: first response {}, resolve {} ({})",
                    p.name, p.queue, p.first_response, p.resolve, p.calendar
                ),
                Err(e) => return refused(e, json),
            }
        }
        SlaCmd::List { json } => {
            let list = sla::policies(&db).await?;
            if json {
                print_json(&list)?;
            } else {
                for p in list {
                    println!(
                        "{:<16} {:<12} prio {:<3} first response {:<6} resolve {:<6} {}",
                        p.name,
                        p.queue,
                        p.priority.map_or("any".into(), |x| x.to_string()),
                        p.first_response,
                        p.resolve,
                        p.calendar
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn time(text: &str) -> Result<i64, crate::service::ServiceError> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|d| d.timestamp_millis())
        .map_err(|_| {
            crate::service::ServiceError::Invalid(format!(
                "{text:?} is not an RFC 3339 time like 2026-12-01T09:00:00Z"
            ))
        })
}

pub(super) async fn report(cfg: &Config, cmd: ReportCmd) -> Result<ExitCode> {
    let db = connect_migrated(cfg).await?;
    let now = now_ms();
    match cmd {
        ReportCmd::Aging {
            queue,
            owner,
            at,
            json,
        } => {
            let at = match at.as_deref().map(time).transpose() {
                Ok(at) => at,
                Err(e) => return refused(e, json),
            };
            let filter = reports::Filter {
                queue,
                owner,
                visible: None,
            };
            let r = match reports::aging(&db, &filter, at, now).await {
                Ok(r) => r,
                Err(e) => return refused(e, json),
            };
            if json {
                print_json(&r)?;
            } else {
                println!("open tickets by age, as of {}", r.at);
                for b in &r.buckets {
                    println!("  {:<5} {:>7}", b.label, b.count);
                }
                let ids: Vec<String> = r.oldest.iter().map(|i| format!("#{i}")).collect();
                println!("oldest: {}", ids.join(" "));
            }
        }
        ReportCmd::Sla { queue, json } => {
            let filter = reports::Filter {
                queue,
                ..reports::Filter::default()
            };
            let r = match reports::sla(&db, &filter, now, None).await {
                Ok(r) => r,
                Err(e) => return refused(e, json),
            };
            if json {
                print_json(&r)?;
            } else {
                for l in &r.lines {
                    println!(
                        "#{:<7} {:<9} {:<14} {:<12} {}",
                        l.id,
                        if l.breached { "breached" } else { "at risk" },
                        l.clock,
                        l.queue,
                        l.subject
                    );
                }
            }
        }
        ReportCmd::Flow { queue, weeks, json } => {
            let filter = reports::Filter {
                queue,
                ..reports::Filter::default()
            };
            let r = match reports::flow(&db, &filter, weeks, now).await {
                Ok(r) => r,
                Err(e) => return refused(e, json),
            };
            if json {
                print_json(&r)?;
            } else {
                println!(
                    "{:<22} {:>8} {:>8} {:>8}",
                    "week", "created", "resolved", "backlog"
                );
                for w in &r.weeks {
                    println!(
                        "{:<22} {:>8} {:>8} {:>8}",
                        w.start, w.created, w.resolved, w.backlog
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
