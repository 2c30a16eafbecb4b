//! Which Message-IDs to look up, in what order, to find a mail's ticket.

use super::parse::ParsedMail;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    InReplyTo,
    References,
    /// A bounce or report quoting mail we sent.
    Embedded,
    /// The per-ticket reply address `queue+t42-…@`.
    ReplyAddress,
    SubjectTag,
    New,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::InReplyTo => "in-reply-to",
            Rule::References => "references",
            Rule::Embedded => "embedded-message-id",
            Rule::ReplyAddress => "reply-address",
            Rule::SubjectTag => "subject-tag",
            Rule::New => "new",
        }
    }
}

/// Candidate ids, most specific first: In-Reply-To (the direct parent), then
/// References from newest to oldest, then ids quoted in a bounce. An id is
/// never its own parent.
pub fn candidates(mail: &ParsedMail) -> Vec<(String, Rule)> {
    let mut out: Vec<(String, Rule)> = Vec::new();
    let mut push = |id: &String, rule: Rule| {
        if id != &mail.message_id && !out.iter().any(|(o, _)| o == id) {
            out.push((id.clone(), rule));
        }
    };
    for id in &mail.in_reply_to {
        push(id, Rule::InReplyTo);
    }
    for id in mail.references.iter().rev() {
        push(id, Rule::References);
    }
    for id in &mail.embedded_message_ids {
        push(id, Rule::Embedded);
    }
    // A runaway References header must not become thousands of look-ups.
    out.truncate(50);
    out
}
