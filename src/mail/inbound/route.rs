//! Chooses the queue and the action (correspond or comment) from the addresses
//! a mail was sent to. Pure: the caller supplies the queues.

use crate::domain::address::split_plus;
use crate::store::queues::Queue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Correspond,
    Comment,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Correspond => "correspond",
            Action::Comment => "comment",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub queue_id: i64,
    pub action: Action,
    /// The address that matched, or "fallback".
    pub via: String,
}

/// Tries each recipient in order (envelope first: it is where the MTA
/// actually delivered, then To, then Cc) against every queue's addresses,
/// including `queue+comment@` and other `+detail` forms.
pub fn route(recipients: &[String], queues: &[Queue]) -> Option<Route> {
    for addr in recipients {
        if let Some(r) = match_address(addr, queues) {
            return Some(r);
        }
        if let Some((base, detail)) = split_plus(addr)
            && let Some(mut r) = match_address(&base, queues)
        {
            if detail.eq_ignore_ascii_case("comment") {
                r.action = Action::Comment;
            }
            r.via = addr.clone();
            return Some(r);
        }
    }
    None
}

fn match_address(addr: &str, queues: &[Queue]) -> Option<Route> {
    queues.iter().find_map(|q| {
        if q.correspond_address.eq_ignore_ascii_case(addr) {
            Some(Route {
                queue_id: q.id,
                action: Action::Correspond,
                via: addr.to_string(),
            })
        } else if q
            .comment_address
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(addr))
        {
            Some(Route {
                queue_id: q.id,
                action: Action::Comment,
                via: addr.to_string(),
            })
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues() -> Vec<Queue> {
        vec![
            Queue {
                id: 1,
                name: "help".into(),
                correspond_address: "help@example.com".into(),
                comment_address: Some("help-comment@example.com".into()),
                subject_tag: None,
                app_id: None,
                notify_team_on_new: 1,
                requestors_may_file: 0,
            },
            Queue {
                id: 2,
                name: "ops".into(),
                correspond_address: "ops@example.com".into(),
                comment_address: None,
                subject_tag: None,
                app_id: None,
                notify_team_on_new: 1,
                requestors_may_file: 0,
            },
        ]
    }

    #[test]
    fn routes_by_address_plus_and_comment() {
        let q = queues();
        let r = route(&["someone@x.y".into(), "ops@example.com".into()], &q).unwrap();
        assert_eq!((r.queue_id, r.action), (2, Action::Correspond));
        let r = route(&["help-comment@example.com".into()], &q).unwrap();
        assert_eq!((r.queue_id, r.action), (1, Action::Comment));
        let r = route(&["help+comment@example.com".into()], &q).unwrap();
        assert_eq!((r.queue_id, r.action), (1, Action::Comment));
        let r = route(&["ops+urgent@example.com".into()], &q).unwrap();
        assert_eq!((r.queue_id, r.action), (2, Action::Correspond));
        assert_eq!(route(&["nobody@example.com".into()], &q), None);
    }
}
