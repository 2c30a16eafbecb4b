//! Builds the outbox rows Docket writes: subject, body, threading ids.

use askama::Template;
use rand::Rng;

use crate::domain::subject_tag::tagged_subject;

#[derive(Template)]
#[template(path = "mail/ack.txt")]
struct AckText<'a> {
    requestor_name: &'a str,
    ticket_id: i64,
    subject: &'a str,
    queue_name: &'a str,
    tag: &'a str,
}

/// The parts of an acknowledgement row.
pub struct Composed {
    pub subject: String,
    pub body: String,
    pub message_id: String,
}

pub struct AckInput<'a> {
    pub tag: &'a str,
    pub ticket_id: i64,
    pub subject: &'a str,
    pub requestor_name: &'a str,
    pub queue_name: &'a str,
    pub instance_name: &'a str,
}

pub fn acknowledgement(a: &AckInput<'_>) -> Result<Composed, askama::Error> {
    let subject = if a.subject.is_empty() {
        "(no subject)"
    } else {
        a.subject
    };
    let body = AckText {
        requestor_name: a.requestor_name,
        ticket_id: a.ticket_id,
        subject,
        queue_name: a.queue_name,
        tag: a.tag,
    }
    .render()?;
    Ok(Composed {
        subject: tagged_subject(a.tag, a.ticket_id, a.subject),
        body,
        message_id: new_message_id(a.ticket_id, a.instance_name),
    })
}

/// A fresh Message-ID (without angle brackets) for mail about `ticket`.
pub fn new_message_id(ticket: i64, instance_name: &str) -> String {
    let token: u64 = rand::rng().random();
    format!("docket-{ticket}-{token:016x}@{instance_name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_names_ticket_and_tag() {
        let c = acknowledgement(&AckInput {
            tag: "Docket",
            ticket_id: 42,
            subject: "Printer <broken>",
            requestor_name: "Sam",
            queue_name: "helpdesk",
            instance_name: "docket.test",
        })
        .unwrap();
        assert_eq!(c.subject, "[Docket #42] Printer <broken>");
        assert!(c.body.contains("ticket #42"));
        assert!(
            c.body.contains("Printer <broken>"),
            "text mail is not HTML-escaped: {}",
            c.body
        );
        assert!(c.message_id.ends_with("@docket.test"));
    }
}
