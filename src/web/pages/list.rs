//! Ticket lists as queue pages and search results show them
//! (`templates/queues/list.html`).

use super::{Viewer, When};
use crate::store::views;

pub struct ListRow {
    pub id: i64,
    pub subject: String,
    pub status: String,
    pub owner: String,
    pub requestor: String,
    pub queue: String,
    pub updated: When,
    pub sla: Option<super::SlaBadge>,
}

pub(crate) fn rows(list: Vec<views::TicketRow>, viewer: Viewer) -> Vec<ListRow> {
    list.into_iter()
        .map(|t| ListRow {
            id: t.id,
            subject: if t.subject.is_empty() {
                "(no subject)".into()
            } else {
                t.subject
            },
            status: t.status,
            owner: t.owner.unwrap_or_else(|| "—".into()),
            requestor: t.requestor.unwrap_or_default(),
            queue: t.queue,
            updated: viewer.when(t.updated_at),
            sla: viewer.sla_badge(t.sla_due, t.sla_risk_at, &t.sla_breached),
        })
        .collect()
}

pub(crate) fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            s.append_pair(k, v);
        }
    }
    s.finish()
}
