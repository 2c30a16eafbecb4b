//! Turns raw bytes into the fields Docket needs. Pure: no I/O.

use encoding_rs::Encoding;
use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};

use crate::domain::address;

mod charset;
pub use charset::guess_decode;
use charset::{
    charset_hint, clean_text, decode_iso2022_runs, fix_undeclared_charset, redecode_encoded_words,
    redecode_header, redecoded_part_name,
};

mod body;
use body::body_and_attachments;
pub use body::{Embedded, MAX_HTML_DEPTH, html_to_text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub email: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub content: Vec<u8>,
}

/// Header facts used to recognise robots, bounces and loops.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub x_autoreply: bool,
    pub x_loop: Vec<String>,
    pub list_id: bool,
    pub return_path_empty: bool,
    pub report_type: Option<String>,
    pub delivery_status_part: bool,
    /// The raw From header, lower-cased.
    pub from_header: String,
    /// Every `Authentication-Results` value, topmost first.
    pub auth_results: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// Without angle brackets; derived from the bytes when the mail has none.
    pub message_id: String,
    pub message_id_derived: bool,
    /// Hash of what the sender wrote (origin headers and body): with the
    /// Message-ID, the dedupe key.
    pub fingerprint: String,
    pub subject: String,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Delivered-To, X-Original-To, Envelope-To: where the MTA delivered it.
    pub envelope_to: Vec<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// Message-IDs of mail quoted inside (a bounce's returned message).
    pub embedded_message_ids: Vec<String>,
    /// In-Reply-To of mail quoted inside: a bounce of our mail whose
    /// returned headers lost the Message-ID still names what it answered.
    pub embedded_in_reply_to: Vec<String>,
    /// Subjects of mail quoted inside (our subject tag, in a bounce).
    pub embedded_subjects: Vec<String>,
    /// A person forwarding a bounce: no acknowledgement for that.
    pub forwarded_bounce: bool,
    pub body: String,
    /// The body was converted from HTML (no text/plain part).
    pub body_from_html: bool,
    pub attachments: Vec<Attachment>,
    pub signals: Signals,
    /// When it was written, as its sender claims (`Date:`), else when our
    /// side last received it (the newest `Received:` date): for imports
    /// that keep an archive's dates.
    pub sent_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a parseable mail message")]
    Unparseable,
    #[error("no headers found: not a mail message")]
    NoHeaders,
    #[error(
        "its HTML is nested {0} levels deep (more than {MAX_HTML_DEPTH}): not converted to text"
    )]
    HtmlTooDeep(usize),
}

/// Old Mac mail ends lines with a bare CR; the parser wants LF or CRLF.
/// The stored raw bytes stay as they came.
fn cr_only_to_crlf(raw: &[u8]) -> Option<Vec<u8>> {
    let head = &raw[..raw.len().min(4096)];
    if head.contains(&b'\n') || !head.contains(&b'\r') {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for &b in raw {
        out.push(b);
        if b == b'\r' {
            out.push(b'\n');
        }
    }
    Some(out)
}

pub fn parse(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    let converted = cr_only_to_crlf(raw);
    let raw = converted.as_deref().unwrap_or(raw);
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::Unparseable)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }

    let fingerprint = fingerprint(&msg, raw);
    let (message_id, message_id_derived) = match msg.message_id().and_then(clean_id) {
        Some(id) => (id, false),
        None => (format!("{}@derived.docket", &fingerprint[..32]), true),
    };

    let hint = charset_hint(&msg);
    let mut subject = clean_text(msg.subject().unwrap_or("").trim());
    if subject.contains('\u{FFFD}')
        && let Some(fixed) = redecode_header(&msg, raw, HeaderName::Subject, hint)
    {
        subject = clean_text(&fixed);
    }

    let from = sender(&msg, raw, hint);
    let signals = signals(&msg);
    let (body, body_from_html, attachments, embedded) = body_and_attachments(&msg, raw, hint)?;
    let forwarded_bounce = embedded.bounce || forwarded_bounce_subject(&subject);

    let stamp = |d: &mail_parser::DateTime| d.is_valid().then(|| d.to_timestamp() * 1000);
    let sent_at = msg.date().and_then(stamp).or_else(|| {
        msg.received_all()
            .filter_map(|r| r.date())
            .filter_map(|d| stamp(&d))
            .max()
    });
    Ok(ParsedMail {
        sent_at,
        message_id,
        message_id_derived,
        fingerprint,
        subject,
        from,
        reply_to: first_mailbox(msg.reply_to()),
        to: mailboxes(msg.to()),
        cc: mailboxes(msg.cc()),
        envelope_to: ["Delivered-To", "X-Original-To", "Envelope-To"]
            .iter()
            .flat_map(|h| msg.header_values(*h))
            .filter_map(|v| v.as_text())
            .filter_map(address::normalise)
            .collect(),
        in_reply_to: id_list(msg.in_reply_to()),
        references: id_list(msg.references()),
        embedded_message_ids: embedded.ids,
        embedded_in_reply_to: embedded.in_reply_to,
        embedded_subjects: embedded.subjects,
        forwarded_bounce,
        body,
        body_from_html,
        attachments,
        signals,
    })
}

/// "Fwd: Returned mail: …": a person forwarding a bounce inline.
fn forwarded_bounce_subject(subject: &str) -> bool {
    let s = subject.to_ascii_lowercase();
    let Some(rest) = ["fwd:", "fw:", "wg:", "tr:"]
        .iter()
        .find_map(|p| s.strip_prefix(p))
    else {
        return false;
    };
    const BOUNCES: [&str; 8] = [
        "returned mail",
        "undelivered mail",
        "undeliverable",
        "delivery status notification",
        "mail delivery failed",
        "delivery failure",
        "failure notice",
        "mail delivery system",
    ];
    BOUNCES.iter().any(|b| rest.trim_start().starts_with(b))
}

/// Trims angle brackets and whitespace; `None` for an empty id.
pub fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()).then(|| id.to_string())
}

fn id_list(v: &HeaderValue) -> Vec<String> {
    match v {
        HeaderValue::Text(t) => t.split_whitespace().filter_map(clean_id).collect(),
        HeaderValue::TextList(l) => l.iter().filter_map(|t| clean_id(t)).collect(),
        _ => Vec::new(),
    }
}

/// A hash of what the sender wrote (origin headers and body), not of the
/// trace headers an MTA adds on redelivery.
fn fingerprint(msg: &mail_parser::Message, raw: &[u8]) -> String {
    let mut h = Sha256::new();
    for name in ["From", "To", "Cc", "Date", "Subject"] {
        h.update(name.as_bytes());
        // Unfolded, whitespace collapsed: a relay may refold a long header.
        let value = msg.header_raw(name).unwrap_or("");
        for word in value.split_whitespace() {
            h.update(word.as_bytes());
            h.update(b" ");
        }
        h.update(b"\n");
    }
    let body_start = (msg.root_part().raw_body_offset() as usize).min(raw.len());
    hash_normalised_body(&mut h, &raw[body_start..]);
    hex::encode(h.finalize())
}

/// The same mail arrives with LF line endings through an MTA pipe and with
/// CRLF over IMAP, sometimes with trailing blanks stripped or blank lines
/// added at the end: hash each line without its ending and trailing
/// whitespace, and ignore blank lines at the end.
fn hash_normalised_body(h: &mut Sha256, body: &[u8]) {
    let mut blank_run = 0usize;
    for line in body.split(|b| *b == b'\n') {
        let end = line
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r'))
            .map_or(0, |i| i + 1);
        let line = &line[..end];
        if line.is_empty() {
            blank_run += 1;
            continue;
        }
        for _ in 0..blank_run {
            h.update(b"\n");
        }
        blank_run = 0;
        h.update(line);
        h.update(b"\n");
    }
}

fn first_mailbox(a: Option<&Address>) -> Option<Mailbox> {
    mailboxes(a).into_iter().next()
}

/// The person who sent the mail: From, else an address-looking token in a
/// broken From, else Sender, Reply-To, Return-Path. A display name in an
/// undeclared 8-bit charset is re-decoded.
fn sender(
    msg: &mail_parser::Message,
    raw: &[u8],
    hint: Option<&'static Encoding>,
) -> Option<Mailbox> {
    let mut from = first_mailbox(msg.from())
        .or_else(|| {
            let text = msg.header_raw("From")?;
            Some(Mailbox {
                email: address::find_in_text(text)?,
                name: String::new(),
            })
        })
        .or_else(|| first_mailbox(msg.sender()))
        .or_else(|| first_mailbox(msg.reply_to()))
        .or_else(|| {
            Some(Mailbox {
                email: address::normalise(msg.return_address()?)?,
                name: String::new(),
            })
        })
        .or_else(|| {
            // "From: MAILER-DAEMON <>" on a bounce: no address, but plainly a
            // daemon, and its bounce must reach the ticket it is about.
            let text = msg.header_raw("From")?.to_ascii_lowercase();
            ["mailer-daemon", "postmaster"]
                .iter()
                .find(|d| text.contains(*d))
                .map(|d| Mailbox {
                    email: (*d).to_string(),
                    name: "Mail Delivery System".into(),
                })
        })?;
    if from.name.contains('\u{FFFD}') {
        if let Some(name) = msg.header_raw("From").and_then(redecode_encoded_words) {
            if let Some(m) =
                MessageParser::default().parse_headers(format!("From: {name}\r\n\r\n").as_bytes())
                && let Some(better) =
                    first_mailbox(m.from()).filter(|b| !b.name.contains('\u{FFFD}'))
            {
                from.name = better.name;
            }
        } else if let Some(decoded) = redecode_header(msg, raw, HeaderName::From, hint) {
            let reparsed = format!("From: {decoded}\r\n\r\n");
            if let Some(m) = MessageParser::default().parse_headers(reparsed.as_bytes())
                && let Some(better) = first_mailbox(m.from())
            {
                from.name = better.name;
            }
        }
    }
    Some(from)
}

/// `MAILER-DAEMON` with no domain, as some MTAs write it.
fn daemon_name(a: &str) -> Option<String> {
    let a = a.trim().to_ascii_lowercase();
    matches!(a.as_str(), "mailer-daemon" | "postmaster").then_some(a)
}

fn mailboxes(a: Option<&Address>) -> Vec<Mailbox> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|addr| {
            let a = addr.address()?;
            let email = address::normalise(a).or_else(|| daemon_name(a))?;
            let name = addr.name().unwrap_or("").trim().trim_matches('"').trim();
            Some(Mailbox {
                email,
                name: clean_text(name),
            })
        })
        .collect()
}

fn signals(msg: &mail_parser::Message) -> Signals {
    let text = |name: &str| {
        msg.header_raw(name)
            .map(|v| v.trim().to_ascii_lowercase())
            .filter(|v| !v.is_empty())
    };
    let root_ct = msg.root_part().content_type();
    let report_type = root_ct
        .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
        .filter(|ct| {
            ct.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .map(|ct| {
            ct.attribute("report-type")
                .unwrap_or("")
                .to_ascii_lowercase()
        });
    let delivery_status_part = msg.parts.iter().any(|p| {
        p.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("message")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("delivery-status"))
        })
    });
    Signals {
        auto_submitted: text("Auto-Submitted"),
        precedence: text("Precedence"),
        x_autoreply: [
            "X-Autoreply",
            "X-Autorespond",
            "X-Autogenerated",
            "X-Apple-Action",
        ]
        .iter()
        .any(|h| msg.header_raw(*h).is_some()),
        x_loop: msg
            .header_values("X-Loop")
            .filter_map(|v| v.as_text())
            .map(|v| v.trim().to_ascii_lowercase())
            .collect(),
        list_id: [
            "List-Id",
            "List-Unsubscribe",
            "List-Post",
            "X-MLServer",
            "X-ML-Name",
            "X-Mailing-List",
        ]
        .iter()
        .any(|h| msg.header_raw(*h).is_some()),
        return_path_empty: msg
            .header_raw("Return-Path")
            .is_some_and(|v| v.trim() == "<>" || v.trim().is_empty()),
        report_type,
        delivery_status_part,
        from_header: msg.header_raw("From").unwrap_or("").to_lowercase(),
        auth_results: msg
            .headers()
            .iter()
            .filter(|h| {
                h.name
                    .as_str()
                    .eq_ignore_ascii_case("Authentication-Results")
            })
            .filter_map(|h| {
                msg.raw_message()
                    .get(h.offset_start() as usize..h.offset_end() as usize)
            })
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect(),
    }
}

#[cfg(test)]
mod tests;
