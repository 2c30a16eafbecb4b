//! Commands by mail (RT's CommandByMail, made safe by who may use them):
//! `Key: value` lines at the very top of a staff member's reply.

/// One command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status(String),
    /// `me`, `nobody`, or an address.
    Owner(String),
    Postpone(String),
    Eta(String),
    Priority(String),
    NeedsInfo(String),
}

impl Command {
    /// The line as written, for the history.
    pub fn line(&self) -> String {
        let (k, v) = match self {
            Command::Status(v) => ("Status", v),
            Command::Owner(v) => ("Owner", v),
            Command::Postpone(v) => ("Postpone", v),
            Command::Eta(v) => ("ETA", v),
            Command::Priority(v) => ("Priority", v),
            Command::NeedsInfo(v) => ("Needs-info", v),
        };
        format!("{k}: {v}")
    }
}

/// The commands at the top of a body, the `Reason:` that goes with them,
/// and the text that is left for the requestor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    pub commands: Vec<Command>,
    pub reason: Option<String>,
    /// `Criteria-met: yes`: the resolver confirms the acceptance criteria.
    pub criteria_met: bool,
    pub rest: String,
}

/// Reads command lines from the top (blank lines before them are skipped);
/// the first other line ends them. Without commands, `rest` is the body.
pub fn parse(body: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut lines = body.lines().peekable();
    while lines.peek().is_some_and(|l| l.trim().is_empty()) {
        lines.next();
    }
    while let Some(line) = lines.peek() {
        let Some((key, value)) = line.split_once(':') else {
            break;
        };
        let value = value.trim().to_string();
        let command = match key.trim().to_ascii_lowercase().as_str() {
            "status" => Command::Status(value.to_ascii_lowercase()),
            "owner" => Command::Owner(value),
            "postpone" => Command::Postpone(value),
            "eta" => Command::Eta(value),
            "priority" => Command::Priority(value),
            "needs-info" => Command::NeedsInfo(value),
            "reason" => {
                out.reason = Some(value).filter(|v| !v.is_empty());
                lines.next();
                continue;
            }
            "criteria-met" => {
                out.criteria_met = matches!(value.to_ascii_lowercase().as_str(), "yes" | "true");
                lines.next();
                continue;
            }
            _ => break,
        };
        out.commands.push(command);
        lines.next();
    }
    if out.commands.is_empty() {
        return Parsed {
            rest: body.to_string(),
            ..Parsed::default()
        };
    }
    let rest: Vec<&str> = lines.collect();
    out.rest = rest.join("\n").trim_start_matches(['\n', '\r']).to_string();
    out
}

/// True when what is left of a reply after its commands says nothing of
/// its own: blank, the quoted mail (`> …`) and the line introducing it.
pub fn says_nothing(rest: &str) -> bool {
    rest.lines().map(str::trim).all(|l| {
        l.is_empty() || l.starts_with('>') || (l.starts_with("On ") && l.ends_with("wrote:"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_quotes_alone_say_nothing() {
        assert!(says_nothing("\nOn Tue, Dana wrote:\n> the request\n>\n"));
        assert!(!says_nothing("Taking it.\n> the request"));
    }

    #[test]
    fn commands_at_the_top_are_taken_and_removed() {
        let p =
            parse("\nStatus: Resolved\nOwner: me\nReason: fixed the cable\n\nAll done, thanks!\n");
        assert_eq!(
            p.commands,
            vec![
                Command::Status("resolved".into()),
                Command::Owner("me".into())
            ]
        );
        assert_eq!(p.reason.as_deref(), Some("fixed the cable"));
        assert_eq!(p.rest, "All done, thanks!");
        assert!(!p.criteria_met);
        let p = parse("Status: resolved\nCriteria-met: YES\nReason: done\n\nthanks");
        assert!(p.criteria_met);
        assert_eq!(p.rest, "thanks");
    }

    #[test]
    fn text_first_means_no_commands() {
        let body = "Hello,\nStatus: resolved\n";
        let p = parse(body);
        assert!(p.commands.is_empty());
        assert_eq!(p.rest, body);
    }

    #[test]
    fn a_reason_alone_is_not_a_command() {
        let p = parse("Reason: none\nhello");
        assert!(p.commands.is_empty());
        assert_eq!(p.rest, "Reason: none\nhello");
        assert_eq!(Command::Eta("2026-12-03".into()).line(), "ETA: 2026-12-03");
    }
}
