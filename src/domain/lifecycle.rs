//! A ticket's lifecycle: its statuses and the one table of allowed moves.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// Arrived, nobody has looked yet.
    New,
    /// Being worked on.
    Open,
    /// Waiting on the requestor for an answer.
    NeedsInfo,
    /// Put off until a date and time; the scheduler opens it again.
    Postponed,
    /// Blocked on something outside the team.
    Stalled,
    Resolved,
    Rejected,
}

pub const ALL: [Status; 7] = [
    Status::New,
    Status::Open,
    Status::NeedsInfo,
    Status::Postponed,
    Status::Stalled,
    Status::Resolved,
    Status::Rejected,
];

/// Who a ticket in a status waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingOn {
    Us,
    Requestor,
    Outside,
}

impl WaitingOn {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitingOn::Us => "us",
            WaitingOn::Requestor => "requestor",
            WaitingOn::Outside => "outside",
        }
    }
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        ALL.iter().copied().find(|st| st.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Open => "open",
            Status::NeedsInfo => "needs-info",
            Status::Postponed => "postponed",
            Status::Stalled => "stalled",
            Status::Resolved => "resolved",
            Status::Rejected => "rejected",
        }
    }

    /// Resolved and rejected tickets are done.
    pub fn is_done(self) -> bool {
        matches!(self, Status::Resolved | Status::Rejected)
    }

    /// Only `open` tickets count against an engineer's WIP limit: the
    /// others wait on someone or something else.
    pub fn counts_for_wip(self) -> bool {
        self == Status::Open
    }

    /// Moving into this status needs a reason (the requestor is told it;
    /// for `resolved`, the resolution).
    pub fn needs_reason(self) -> bool {
        matches!(
            self,
            Status::NeedsInfo | Status::Postponed | Status::Rejected | Status::Resolved
        )
    }

    /// `None` for done tickets and postponed ones (nobody, until it wakes).
    pub fn waiting_on(self) -> Option<WaitingOn> {
        match self {
            Status::New | Status::Open => Some(WaitingOn::Us),
            Status::NeedsInfo => Some(WaitingOn::Requestor),
            Status::Stalled => Some(WaitingOn::Outside),
            Status::Postponed | Status::Resolved | Status::Rejected => None,
        }
    }

    /// Where a ticket may go from here. `new` is only ever the start.
    pub fn allowed(self) -> &'static [Status] {
        use Status::*;
        match self {
            New => &[Open, NeedsInfo, Postponed, Stalled, Resolved, Rejected],
            Open => &[NeedsInfo, Postponed, Stalled, Resolved, Rejected],
            NeedsInfo => &[Open, Postponed, Stalled, Resolved, Rejected],
            Postponed => &[Open, NeedsInfo, Stalled, Resolved, Rejected],
            Stalled => &[Open, NeedsInfo, Postponed, Resolved, Rejected],
            Resolved | Rejected => &[Open],
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A move the table does not allow, with what is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub from: Status,
    pub to: Status,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed: Vec<&str> = self.from.allowed().iter().map(|s| s.as_str()).collect();
        write!(
            f,
            "a ticket cannot go from {} to {}; from {} it can go to {}",
            self.from,
            self.to,
            self.from,
            allowed.join(", ")
        )
    }
}

/// Checks one move against the table.
pub fn check(from: Status, to: Status) -> Result<(), Refused> {
    if from.allowed().contains(&to) {
        Ok(())
    } else {
        Err(Refused { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name() {
        for s in ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("closed"), None);
    }

    #[test]
    fn nothing_goes_back_to_new_or_stays_put() {
        for from in ALL {
            assert!(check(from, Status::New).is_err(), "{from} -> new");
            assert!(check(from, from).is_err(), "{from} -> {from}");
        }
    }

    #[test]
    fn done_tickets_only_reopen() {
        for done in [Status::Resolved, Status::Rejected] {
            for to in ALL {
                assert_eq!(
                    check(done, to).is_ok(),
                    to == Status::Open,
                    "{done} -> {to}"
                );
            }
        }
    }

    #[test]
    fn active_tickets_can_be_finished_or_set_aside() {
        for from in [
            Status::New,
            Status::Open,
            Status::NeedsInfo,
            Status::Postponed,
            Status::Stalled,
        ] {
            for to in [Status::Resolved, Status::Rejected, Status::Stalled] {
                assert_eq!(check(from, to).is_ok(), from != to, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn a_refusal_says_what_is_allowed() {
        let e = check(Status::Resolved, Status::Stalled).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a ticket cannot go from resolved to stalled; from resolved it can go to open"
        );
    }

    #[test]
    fn wip_and_waiting_follow_the_status() {
        assert!(Status::Open.counts_for_wip());
        assert!(!Status::NeedsInfo.counts_for_wip());
        assert_eq!(Status::NeedsInfo.waiting_on(), Some(WaitingOn::Requestor));
        assert_eq!(Status::Stalled.waiting_on(), Some(WaitingOn::Outside));
        assert_eq!(Status::Resolved.waiting_on(), None);
        assert!(Status::Rejected.needs_reason() && Status::Resolved.needs_reason());
        assert!(!Status::Stalled.needs_reason() && !Status::Open.needs_reason());
    }
}
