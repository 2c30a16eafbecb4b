//! Large tickets split into children, tickets that depend on or refer to
//! others, and a duplicate merged into the ticket that survives. Only staff
//! who work the queues involved (or admins) may do these.

use serde::Serialize;
use sqlx::AnyConnection;

use super::ServiceError;
use super::tickets::history;
use crate::store::links;
use crate::store::tickets::{self, TicketContext};
use crate::store::triage;
use crate::store::{Db, users};

/// A link's kind as the CLI and JSON name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    DependsOn,
    RefersTo,
}

impl LinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkKind::DependsOn => "depends-on",
            LinkKind::RefersTo => "refers-to",
        }
    }
}

/// Where a ticket stands among others: `ticket show --json` adds these.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Relations {
    pub parent: Option<i64>,
    pub children: Vec<i64>,
    pub depends_on: Vec<i64>,
    pub refers_to: Vec<i64>,
    pub merged_into: Option<i64>,
}

/// How ticket `id` relates to others; hidden tasks among the children
/// only `with_hidden` (for the application that owns them).
pub async fn relations(
    conn: &mut AnyConnection,
    id: i64,
    with_hidden: bool,
) -> Result<Relations, ServiceError> {
    Ok(Relations {
        parent: links::parent(&mut *conn, id).await?,
        children: links::children(&mut *conn, id, with_hidden)
            .await?
            .into_iter()
            .map(|(c, _)| c)
            .collect(),
        depends_on: links::targets(&mut *conn, id, LinkKind::DependsOn.as_str()).await?,
        refers_to: links::targets(&mut *conn, id, LinkKind::RefersTo.as_str()).await?,
        merged_into: links::merged_into(&mut *conn, id).await?,
    })
}

/// The children of `id` still open (not resolved or rejected). A hidden
/// task holds nothing open: people could neither see nor close it.
pub async fn open_children(conn: &mut AnyConnection, id: i64) -> Result<Vec<i64>, ServiceError> {
    Ok(links::children(conn, id, false)
        .await?
        .into_iter()
        .filter(|(_, s)| s != "resolved" && s != "rejected")
        .map(|(c, _)| c)
        .collect())
}

/// The ticket, when `actor` works its queue (or is an admin).
async fn worked_by(
    conn: &mut AnyConnection,
    id: i64,
    actor: &str,
) -> Result<TicketContext, ServiceError> {
    let ctx = tickets::context(&mut *conn, id)
        .await?
        .ok_or(ServiceError::NoTicket(id))?;
    match triage::standing(conn, actor, ctx.queue_id).await? {
        Some(s) if s.is_member() || s.is_admin() => Ok(ctx),
        _ => Err(ServiceError::refused(
            "not_member",
            format!("{actor} does not work queue {}", ctx.queue_name),
        )),
    }
}

/// A child ticket of `parent` in the same queue, with the same requestors
/// (who are not mailed about it); returns its number.
pub async fn create_child(
    db: &Db,
    parent: i64,
    actor: &str,
    subject: &str,
    now: i64,
) -> Result<i64, ServiceError> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Err(ServiceError::Invalid(
            "A child ticket needs a subject.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    let p = worked_by(&mut tx, parent, actor).await?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    let child = tickets::create(
        &mut tx,
        tickets::NewTicket {
            queue_id: p.queue_id,
            subject,
            now,
        },
    )
    .await?;
    links::set_parent(&mut tx, child, parent).await?;
    for r in tickets::requestor_ids(&mut tx, parent).await? {
        tickets::add_requestor(&mut tx, child, r).await?;
    }
    let (c, pa) = (format!("#{child}"), format!("#{parent}"));
    let mut h = history(child, "create", Some(creator), "", now);
    h.thread_note = Some("child ticket");
    h.new_value = Some(&pa);
    tickets::add_transaction(&mut tx, h).await?;
    let mut h = history(parent, "link", Some(creator), "", now);
    h.thread_note = Some("child");
    h.new_value = Some(&c);
    tickets::add_transaction(&mut tx, h).await?;
    super::sla::refresh(&mut tx, child, now).await?;
    tx.commit().await?;
    Ok(child)
}

/// `ticket KIND target`, recorded on the ticket.
pub async fn link(
    db: &Db,
    ticket: i64,
    actor: &str,
    kind: LinkKind,
    target: i64,
    now: i64,
) -> Result<(), ServiceError> {
    if ticket == target {
        return Err(ServiceError::Invalid(
            "A ticket cannot link to itself.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    worked_by(&mut tx, ticket, actor).await?;
    tickets::context(&mut tx, target)
        .await?
        .ok_or(ServiceError::NoTicket(target))?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    links::add(&mut tx, ticket, kind.as_str(), target, now).await?;
    let to = format!("#{target}");
    let mut h = history(ticket, "link", Some(creator), "", now);
    h.thread_note = Some(kind.as_str());
    h.new_value = Some(&to);
    tickets::add_transaction(&mut tx, h).await?;
    tx.commit().await?;
    Ok(())
}

/// Merges the duplicate `from` into `into`: its history, mail, requestors
/// and Cc move; mail to either number lands on `into`; `from` redirects.
pub async fn merge(
    db: &Db,
    from: i64,
    into: i64,
    actor: &str,
    now: i64,
) -> Result<(), ServiceError> {
    if from == into {
        return Err(ServiceError::Invalid(
            "A ticket cannot be merged into itself.".into(),
        ));
    }
    let mut tx = db.begin_write().await?;
    worked_by(&mut tx, from, actor).await?;
    worked_by(&mut tx, into, actor).await?;
    for id in [from, into] {
        if let Some(m) = links::merged_into(&mut tx, id).await? {
            return Err(ServiceError::refused(
                "merged",
                format!("ticket #{id} was already merged into #{m}"),
            ));
        }
    }
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    links::merge(&mut tx, from, into, now).await?;
    let (f, i) = (format!("#{from}"), format!("#{into}"));
    let mut h = history(into, "merge", Some(creator), "", now);
    h.old_value = Some(&f);
    h.new_value = Some(&i);
    tickets::add_transaction(&mut tx, h).await?;
    // The survivor's clocks now read the merged history; the merged
    // ticket's stop.
    super::sla::refresh(&mut tx, into, now).await?;
    super::sla::refresh(&mut tx, from, now).await?;
    tx.commit().await?;
    Ok(())
}
