//! Turns raw bytes into the fields Docket needs. Pure: no I/O.

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

use crate::domain::address;

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
}

#[derive(Debug, Clone)]
pub struct ParsedMail {
    /// Without angle brackets; derived from the bytes when the mail has none.
    pub message_id: String,
    pub message_id_derived: bool,
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
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub signals: Signals,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("not a parseable mail message")]
    Unparseable,
    #[error("no headers found: not a mail message")]
    NoHeaders,
}

pub fn parse(raw: &[u8]) -> Result<ParsedMail, ParseError> {
    let msg = MessageParser::default()
        .parse(raw)
        .ok_or(ParseError::Unparseable)?;
    if msg.headers().is_empty() {
        return Err(ParseError::NoHeaders);
    }

    let (message_id, message_id_derived) = match msg.message_id().and_then(clean_id) {
        Some(id) => (id, false),
        None => (derived_message_id(&msg, raw), true),
    };

    let mut subject = msg.subject().unwrap_or("").trim().to_string();
    if subject.contains('\u{FFFD}') {
        if let Some(fixed) = redecode_header(&msg, raw, HeaderName::Subject) {
            subject = fixed;
        }
    }

    let from = first_mailbox(msg.from()).or_else(|| first_mailbox(msg.sender()));
    let signals = signals(&msg);
    let (body, attachments, embedded_message_ids) = body_and_attachments(&msg, raw);

    Ok(ParsedMail {
        message_id,
        message_id_derived,
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
        embedded_message_ids,
        body,
        attachments,
        signals,
    })
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

/// A stable id for a mail without Message-ID: a hash of what the sender wrote
/// (origin headers and body), not of the trace headers an MTA adds on redelivery.
fn derived_message_id(msg: &mail_parser::Message, raw: &[u8]) -> String {
    let mut h = Sha256::new();
    for name in ["From", "To", "Cc", "Date", "Subject"] {
        h.update(name.as_bytes());
        h.update(msg.header_raw(name).unwrap_or("").trim().as_bytes());
    }
    let body_start = (msg.root_part().raw_body_offset() as usize).min(raw.len());
    h.update(&raw[body_start..]);
    format!("{}@derived.docket", hex::encode(&h.finalize()[..16]))
}

fn first_mailbox(a: Option<&Address>) -> Option<Mailbox> {
    mailboxes(a).into_iter().next()
}

fn mailboxes(a: Option<&Address>) -> Vec<Mailbox> {
    let Some(a) = a else { return Vec::new() };
    a.iter()
        .filter_map(|addr| {
            let email = address::normalise(addr.address()?)?;
            let name = addr.name().unwrap_or("").trim().trim_matches('"').trim();
            Some(Mailbox {
                email,
                name: name.to_string(),
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
        x_autoreply: ["X-Autoreply", "X-Autorespond", "X-Autogenerated"]
            .iter()
            .any(|h| msg.header_raw(*h).is_some()),
        x_loop: msg
            .header_values("X-Loop")
            .filter_map(|v| v.as_text())
            .map(|v| v.trim().to_ascii_lowercase())
            .collect(),
        list_id: msg.header_raw("List-Id").is_some()
            || msg.header_raw("List-Unsubscribe").is_some(),
        return_path_empty: msg
            .header_raw("Return-Path")
            .is_some_and(|v| v.trim() == "<>" || v.trim().is_empty()),
        report_type,
        delivery_status_part,
    }
}

/// The body text (text/plain parts, else HTML converted to text) and every
/// other leaf part as an attachment.
fn body_and_attachments(
    msg: &mail_parser::Message,
    raw: &[u8],
) -> (String, Vec<Attachment>, Vec<String>) {
    let mut texts = Vec::new();
    for part in msg.text_bodies() {
        if let PartType::Text(t) = &part.body {
            texts.push(fix_undeclared_charset(part, t, raw));
        }
    }
    let body = if !texts.is_empty() {
        texts.join("\n")
    } else if let Some(html) = msg.body_html(0) {
        html_to_text(&html)
    } else {
        String::new()
    };

    let mut attachments = Vec::new();
    let mut embedded = Vec::new();
    for part in msg.attachments() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_string())
            .to_ascii_lowercase();
        let name = part.attachment_name().map(|n| n.trim().to_string());
        if let PartType::Message(inner) = &part.body {
            if let Some(id) = inner.message_id().and_then(clean_id) {
                embedded.push(id);
            }
        }
        if content_type == "text/rfc822-headers" {
            if let Some(inner) = MessageParser::default().parse_headers(part.contents()) {
                if let Some(id) = inner.message_id().and_then(clean_id) {
                    embedded.push(id);
                }
            }
        }
        let filename = name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_filename(&content_type, &part.body));
        attachments.push(Attachment {
            filename,
            content_type,
            content: part.contents().to_vec(),
        });
    }
    (body, attachments, embedded)
}

/// A name for an unnamed part, as mail clients show them.
fn default_filename(content_type: &str, body: &PartType) -> String {
    if let PartType::Message(inner) = body {
        let subject = inner.subject().unwrap_or("").trim();
        if !subject.is_empty() {
            return format!("{subject}.eml");
        }
        return "message.eml".into();
    }
    match content_type {
        "message/delivery-status" => "delivery-status.txt".into(),
        "text/rfc822-headers" => "headers.txt".into(),
        "text/plain" => "text.txt".into(),
        "text/html" => "message.html".into(),
        "text/calendar" => "invite.ics".into(),
        ct if ct.starts_with("image/") => {
            format!("image.{}", ct.trim_start_matches("image/"))
        }
        _ => "file".into(),
    }
}

/// Readable text from HTML; scripts and styles are dropped.
pub fn html_to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 100)
        .unwrap_or_else(|_| html.to_string())
        .trim_end()
        .to_string()
}

/// A text part with 8-bit bytes and no declared charset comes out of the parser
/// with replacement characters: guess the charset from the raw bytes instead.
fn fix_undeclared_charset<'a>(
    part: &mail_parser::MessagePart,
    decoded: &'a str,
    raw: &[u8],
) -> String {
    if !decoded.contains('\u{FFFD}') {
        return decoded.to_string();
    }
    let declared = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(|c| c.to_ascii_lowercase());
    let encoded = part
        .content_transfer_encoding()
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| e == "base64" || e == "quoted-printable");
    if encoded || declared.as_deref().is_some_and(|c| c != "us-ascii") {
        return decoded.to_string();
    }
    let start = part.raw_body_offset() as usize;
    let end = (part.raw_end_offset() as usize).min(raw.len());
    if start >= end {
        return decoded.to_string();
    }
    guess_decode(&raw[start..end])
}

/// UTF-8 when valid, otherwise the charset a detector guesses.
pub fn guess_decode(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    let mut det = chardetng::EncodingDetector::new();
    det.feed(bytes, true);
    let enc = det.guess(None, true);
    enc.decode(bytes).0.into_owned()
}

/// Re-decodes a header whose raw value had 8-bit bytes in an undeclared charset.
fn redecode_header(msg: &mail_parser::Message, raw: &[u8], name: HeaderName) -> Option<String> {
    let h = msg.headers().iter().find(|h| h.name == name)?;
    let start = h.offset_start() as usize;
    let end = (h.offset_end() as usize).min(raw.len());
    let bytes = raw.get(start..end)?;
    let charset = msg
        .root_part()
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()));
    let text = match charset {
        Some(enc) if enc != encoding_rs::UTF_8 => enc.decode(bytes).0.into_owned(),
        _ => guess_decode(bytes),
    };
    let unfolded: String = text
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!unfolded.is_empty()).then_some(unfolded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message_fields() {
        let raw = b"From: Sam Sample <Sam@Example.net>\r\nTo: help@example.com\r\nCc: a@b.c\r\n\
Subject: Cannot print\r\nMessage-ID: <x1@example.net>\r\nIn-Reply-To: <p@x>\r\n\
References: <r1@x> <p@x>\r\n\r\nHello\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.message_id, "x1@example.net");
        assert_eq!(m.from.unwrap().email, "sam@example.net");
        assert_eq!(m.subject, "Cannot print");
        assert_eq!(m.cc[0].email, "a@b.c");
        assert_eq!(m.in_reply_to, vec!["p@x"]);
        assert_eq!(m.references, vec!["r1@x", "p@x"]);
        assert_eq!(m.body.trim(), "Hello");
    }

    #[test]
    fn html_only_body_drops_scripts_and_styles() {
        let raw = b"From: a@b.c\r\nSubject: h\r\nContent-Type: text/html\r\n\r\n\
<html><head><style>p{color:red}</style><script>alert(1)</script></head><body><p>Hi <b>there</b></p></body></html>";
        let m = parse(raw).unwrap();
        assert!(m.body.contains("Hi"), "{}", m.body);
        assert!(!m.body.contains("alert"), "{}", m.body);
        assert!(!m.body.contains("color"), "{}", m.body);
    }

    #[test]
    fn missing_message_id_is_derived_stably() {
        let raw = b"From: a@b.c\r\nSubject: s\r\n\r\nbody\r\n";
        let a = parse(raw).unwrap();
        let b = parse(raw).unwrap();
        assert!(a.message_id_derived);
        assert_eq!(a.message_id, b.message_id);
        let mut redelivered = b"Received: from x by y; Tue, 1 Jan 2030 00:00:00 +0000\r\n".to_vec();
        redelivered.extend_from_slice(raw);
        assert_eq!(parse(&redelivered).unwrap().message_id, a.message_id);
    }

    #[test]
    fn undeclared_latin1_body_is_guessed() {
        let raw =
            b"From: a@b.c\r\nSubject: s\r\n\r\nGr\xfc\xdfe aus K\xf6ln, sch\xf6ne Gr\xfc\xdfe\r\n";
        let m = parse(raw).unwrap();
        assert!(m.body.contains("Köln"), "{}", m.body);
    }
}
