//! Builds the mail Docket sends: the text (askama templates) when a row is
//! written to the outbox, and the RFC 5322 message (lettre) when it is sent.

use askama::Template;
use base64::Engine;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use rand::Rng;
use sha2::{Digest, Sha256};

use crate::domain::subject_tag::{strip_reply_prefixes, tagged_subject};

#[derive(Template)]
#[template(path = "mail/ack.txt")]
struct AckText<'a> {
    requestor_name: &'a str,
    ticket_id: i64,
    subject: &'a str,
    queue_name: &'a str,
    tag: &'a str,
    missing: &'a [&'a str],
}

/// The same acknowledgement as HTML: `a` is the text version's data.
#[derive(Template)]
#[template(path = "mail/ack.html")]
struct AckHtml<'a> {
    a: &'a AckText<'a>,
}

#[derive(Template)]
#[template(path = "mail/reply.txt")]
struct ReplyText<'a> {
    body: &'a str,
    ticket_id: i64,
    queue_name: &'a str,
}

#[derive(Template)]
#[template(path = "mail/status.txt")]
struct StatusText<'a> {
    ticket_id: i64,
    subject: &'a str,
    old_status: &'a str,
    new_status: &'a str,
    owner: Option<&'a str>,
    eta: Option<&'a str>,
    reason: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "mail/notify.txt")]
struct NotifyText<'a> {
    actor: &'a str,
    what: &'a str,
    ticket_id: i64,
    queue_name: &'a str,
    subject: &'a str,
    body: &'a str,
}

/// Subject, bodies and a fresh Message-ID for one outbox row.
pub struct Composed {
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub message_id: String,
}

pub struct AckInput<'a> {
    pub tag: &'a str,
    pub ticket_id: i64,
    pub subject: &'a str,
    pub requestor_name: &'a str,
    pub queue_name: &'a str,
    pub instance_name: &'a str,
    /// Labels of the intake fields the request still lacks.
    pub missing: &'a [&'a str],
}

fn or_no_subject(s: &str) -> &str {
    if s.trim().is_empty() {
        "(no subject)"
    } else {
        s
    }
}

pub fn acknowledgement(a: &AckInput<'_>) -> Result<Composed, askama::Error> {
    let subject = or_no_subject(a.subject);
    let text = AckText {
        requestor_name: a.requestor_name,
        ticket_id: a.ticket_id,
        subject,
        queue_name: a.queue_name,
        tag: a.tag,
        missing: a.missing,
    };
    let html = AckHtml { a: &text };
    Ok(Composed {
        subject: tagged_subject(a.tag, a.ticket_id, a.subject),
        body: text.render()?,
        html_body: Some(html.render()?),
        message_id: new_message_id(a.ticket_id, a.instance_name),
    })
}

/// A staff member's reply, mailed to the requestors.
pub fn reply(
    tag: &str,
    ticket_id: i64,
    subject: &str,
    queue_name: &str,
    body: &str,
    instance_name: &str,
) -> Result<Composed, askama::Error> {
    Ok(Composed {
        subject: tagged_subject(tag, ticket_id, subject),
        body: ReplyText {
            body: body.trim_end(),
            ticket_id,
            queue_name,
        }
        .render()?,
        html_body: None,
        message_id: new_message_id(ticket_id, instance_name),
    })
}

pub struct StatusInput<'a> {
    pub tag: &'a str,
    pub ticket_id: i64,
    pub subject: &'a str,
    pub old_status: &'a str,
    pub new_status: &'a str,
    pub owner: Option<&'a str>,
    pub eta: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub instance_name: &'a str,
}

/// A status update (or resolved notice) for the requestors.
pub fn status_update(s: &StatusInput<'_>) -> Result<Composed, askama::Error> {
    Ok(Composed {
        subject: tagged_subject(s.tag, s.ticket_id, s.subject),
        body: StatusText {
            ticket_id: s.ticket_id,
            subject: or_no_subject(s.subject),
            old_status: s.old_status,
            new_status: s.new_status,
            owner: s.owner,
            eta: s.eta,
            reason: s.reason,
        }
        .render()?,
        html_body: None,
        message_id: new_message_id(s.ticket_id, s.instance_name),
    })
}

pub struct NotifyInput<'a> {
    pub tag: &'a str,
    pub ticket_id: i64,
    pub subject: &'a str,
    pub queue_name: &'a str,
    pub actor: &'a str,
    /// "replied", "commented"
    pub what: &'a str,
    pub body: &'a str,
    pub instance_name: &'a str,
}

/// Tells staff of a requestor's reply or a colleague's comment.
pub fn staff_notice(n: &NotifyInput<'_>) -> Result<Composed, askama::Error> {
    Ok(Composed {
        subject: tagged_subject(n.tag, n.ticket_id, n.subject),
        body: NotifyText {
            actor: n.actor,
            what: n.what,
            ticket_id: n.ticket_id,
            queue_name: n.queue_name,
            subject: or_no_subject(n.subject),
            body: n.body.trim_end(),
        }
        .render()?,
        html_body: None,
        message_id: new_message_id(n.ticket_id, n.instance_name),
    })
}

/// A fresh Message-ID (without angle brackets) for mail about `ticket`.
pub fn new_message_id(ticket: i64, instance_name: &str) -> String {
    let token: u64 = rand::rng().random();
    format!("docket-{ticket}-{token:016x}@{instance_name}")
}

/// Outlook's conversation topic: the subject without tag and reply prefixes.
pub fn thread_topic(subject: &str) -> String {
    let mut s = strip_reply_prefixes(subject).trim();
    while s.starts_with('[') {
        match s.find(']') {
            Some(close) => s = strip_reply_prefixes(s[close + 1..].trim()).trim(),
            None => break,
        }
    }
    s.to_string()
}

/// Outlook's Thread-Index: 22 bytes (a time and a GUID) that are the same for
/// every mail about one ticket, so Outlook keeps them in one conversation.
pub fn thread_index(ticket: i64, instance_name: &str) -> String {
    let digest = Sha256::digest(format!("{instance_name}/ticket/{ticket}").as_bytes());
    let mut bytes = [0u8; 22];
    bytes[0] = 0x01;
    bytes[1..].copy_from_slice(&digest[..21]);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Everything the sender needs to put one outbox row on the wire.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub ticket_id: i64,
    pub from_addr: String,
    pub from_name: String,
    pub reply_to: Option<String>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    pub html_body: Option<String>,
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub auto_submitted: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("bad address {0:?}: {1}")]
    Address(String, lettre::address::AddressError),
    #[error("no recipients")]
    NoRecipients,
    #[error("building the message: {0}")]
    Build(#[from] lettre::error::Error),
}

fn mailbox(name: Option<&str>, addr: &str) -> Result<Mailbox, ComposeError> {
    let address = addr
        .parse()
        .map_err(|e| ComposeError::Address(addr.to_string(), e))?;
    Ok(Mailbox::new(
        name.filter(|n| !n.is_empty()).map(str::to_string),
        address,
    ))
}

fn raw_header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// The message as it goes on the wire: threading headers, loop protection
/// (`X-Loop`, `Auto-Submitted` on automatic mail) and Outlook's thread headers.
pub fn to_message(o: &Outgoing, instance_name: &str) -> Result<lettre::Message, ComposeError> {
    if o.to.is_empty() && o.cc.is_empty() {
        return Err(ComposeError::NoRecipients);
    }
    let mut b = lettre::Message::builder()
        .from(mailbox(Some(&o.from_name), &o.from_addr)?)
        .subject(o.subject.clone())
        .message_id(Some(format!("<{}>", o.message_id)));
    if let Some(r) = &o.reply_to {
        b = b.reply_to(mailbox(None, r)?);
    }
    for to in &o.to {
        b = b.to(mailbox(None, to)?);
    }
    for cc in &o.cc {
        b = b.cc(mailbox(None, cc)?);
    }
    if let Some(parent) = &o.in_reply_to {
        b = b.in_reply_to(format!("<{parent}>"));
    }
    if !o.references.is_empty() {
        let refs: Vec<String> = o.references.iter().map(|r| format!("<{r}>")).collect();
        b = b.references(refs.join(" "));
    }
    if o.auto_submitted {
        b = b.raw_header(raw_header("Auto-Submitted", "auto-replied".into()));
        // Ask Exchange not to answer our automatic mail with its own.
        b = b.raw_header(raw_header("X-Auto-Response-Suppress", "All".into()));
    }
    b = b
        .raw_header(raw_header("X-Loop", instance_name.to_string()))
        .raw_header(raw_header("Thread-Topic", thread_topic(&o.subject)))
        .raw_header(raw_header(
            "Thread-Index",
            thread_index(o.ticket_id, instance_name),
        ));
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(o.body.clone());
    let message = match &o.html_body {
        Some(html) => b.multipart(
            MultiPart::alternative().singlepart(text).singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_HTML)
                    .body(html.clone()),
            ),
        )?,
        None => b.singlepart(text)?,
    };
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::inbound::parse::parse;

    fn outgoing() -> Outgoing {
        Outgoing {
            ticket_id: 42,
            from_addr: "help@example.com".into(),
            from_name: "Service Désk".into(),
            reply_to: Some("help@example.com".into()),
            to: vec!["sam@example.net".into()],
            cc: vec!["boss@example.net".into()],
            subject: "[Docket #42] Drucker kaputt – größer Ärger".into(),
            body: "Hallo Sam".into(),
            html_body: None,
            message_id: "docket-42-abc@docket.test".into(),
            in_reply_to: Some("orig@example.net".into()),
            references: vec!["root@example.net".into(), "orig@example.net".into()],
            auto_submitted: true,
        }
    }

    #[test]
    fn ack_names_ticket_and_tag() {
        let c = acknowledgement(&AckInput {
            tag: "Docket",
            ticket_id: 42,
            subject: "Printer <broken>",
            requestor_name: "Sam",
            queue_name: "helpdesk",
            instance_name: "docket.test",
            missing: &["Drop-dead date", "Capacity"],
        })
        .unwrap();
        assert_eq!(c.subject, "[Docket #42] Printer <broken>");
        assert!(
            c.body.contains("    Drop-dead date: \n    Capacity: \n"),
            "{}",
            c.body
        );
        assert!(c.html_body.as_deref().unwrap_or("").contains("Capacity: "));
        assert!(c.body.contains("ticket #42"));
        assert!(
            c.body.contains("Printer <broken>"),
            "text mail is not HTML-escaped: {}",
            c.body
        );
        let html = c.html_body.unwrap();
        assert!(
            html.contains("Printer &#60;broken&#62;") || html.contains("Printer &lt;broken&gt;"),
            "{html}"
        );
        assert!(c.message_id.ends_with("@docket.test"));
    }

    #[test]
    fn headers_thread_and_protect_against_loops() {
        let raw = to_message(&outgoing(), "docket.test").unwrap().formatted();
        let m = parse(&raw).unwrap();
        assert_eq!(m.message_id, "docket-42-abc@docket.test");
        assert_eq!(m.in_reply_to, vec!["orig@example.net"]);
        assert_eq!(m.references, vec!["root@example.net", "orig@example.net"]);
        assert_eq!(
            m.subject, "[Docket #42] Drucker kaputt – größer Ärger",
            "non-ASCII subject round-trips"
        );
        let from = m.from.unwrap();
        assert_eq!(
            (from.email.as_str(), from.name.as_str()),
            ("help@example.com", "Service Désk")
        );
        assert_eq!(m.cc[0].email, "boss@example.net");
        assert_eq!(m.signals.auto_submitted.as_deref(), Some("auto-replied"));
        assert_eq!(m.signals.x_loop, vec!["docket.test"]);
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.contains("Thread-Topic: Drucker kaputt") || text.contains("Thread-Topic: =?"),
            "{text}"
        );
        assert!(text.contains("Thread-Index: "));
        // The subject is encoded on the wire, not raw 8-bit.
        let subject_line = text.lines().find(|l| l.starts_with("Subject:")).unwrap();
        assert!(subject_line.is_ascii(), "{subject_line}");
    }

    #[test]
    fn a_human_reply_is_not_auto_submitted() {
        let mut o = outgoing();
        o.auto_submitted = false;
        let m = parse(&to_message(&o, "docket.test").unwrap().formatted()).unwrap();
        assert_eq!(m.signals.auto_submitted, None);
        assert_eq!(
            m.signals.x_loop,
            vec!["docket.test"],
            "X-Loop on every mail"
        );
    }

    #[test]
    fn our_own_mail_coming_back_is_recognised_as_a_loop() {
        let raw = to_message(&outgoing(), "docket.test").unwrap().formatted();
        let m = parse(&raw).unwrap();
        let class = crate::mail::inbound::classify::classify(&m, "docket.test", &[]);
        assert_eq!(class, crate::mail::inbound::classify::Class::Loop);
    }

    #[test]
    fn thread_headers() {
        assert_eq!(thread_topic("Re: [Docket #4] AW: Printer"), "Printer");
        assert_eq!(thread_index(4, "a"), thread_index(4, "a"));
        assert_ne!(thread_index(4, "a"), thread_index(5, "a"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(thread_index(4, "a"))
            .unwrap();
        assert_eq!(bytes.len(), 22);
    }

    #[test]
    fn status_update_tells_eta_and_reason() {
        let c = status_update(&StatusInput {
            tag: "Docket",
            ticket_id: 7,
            subject: "VPN",
            old_status: "open",
            new_status: "stalled",
            owner: Some("alice@example.com"),
            eta: Some("2026-12-01"),
            reason: Some("waiting for the vendor"),
            instance_name: "docket.test",
        })
        .unwrap();
        assert!(c.body.contains("open → stalled"), "{}", c.body);
        assert!(c.body.contains("2026-12-01") && c.body.contains("waiting for the vendor"));
        assert_eq!(c.subject, "[Docket #7] VPN");
    }
}
