//! Turns raw bytes into the fields Docket needs. Pure: no I/O.

use encoding_rs::Encoding;
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

    Ok(ParsedMail {
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

/// RFC 2047 words whose declared charset is wrong (Shift_JIS labelled
/// ISO-2022-JP is common): decode the payload and let the detector choose.
/// `None` when the header has no encoded words.
fn redecode_encoded_words(header: &str) -> Option<String> {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = header;
    let mut found = false;
    while let Some(start) = rest.find("=?") {
        // =?charset?enc?payload?=
        let word = &rest[start + 2..];
        let Some(q1) = word.find('?') else { break };
        let Some(q2) = word[q1 + 1..].find('?').map(|i| i + q1 + 1) else {
            break;
        };
        let Some(end) = word[q2 + 1..].find("?=").map(|i| i + q2 + 1) else {
            break;
        };
        let payload = &word[q2 + 1..end];
        let bytes = match &word[q1 + 1..q2] {
            "B" | "b" => base64::engine::general_purpose::STANDARD
                .decode(payload.trim())
                .ok()?,
            "Q" | "q" => quoted_printable_word(payload),
            _ => break,
        };
        // whitespace between two encoded words is not part of the text
        let between = &rest[..start];
        if !(found && between.trim().is_empty()) {
            out.push_str(between);
        }
        out.push_str(&guess_decode(&bytes));
        found = true;
        rest = &word[end + 2..];
    }
    out.push_str(rest);
    found.then_some(out)
}

fn quoted_printable_word(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (b'_', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    out
}

/// `MAILER-DAEMON` with no domain, as some MTAs write it.
fn daemon_name(a: &str) -> Option<String> {
    let a = a.trim().to_ascii_lowercase();
    matches!(a.as_str(), "mailer-daemon" | "postmaster").then_some(a)
}

/// Text as stored: without NUL characters (PostgreSQL text cannot hold them).
fn clean_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_string()
    }
}

/// The charset a message declares somewhere, used for 8-bit headers that
/// declare none (RFC 2047 was ignored by the sender).
fn charset_hint(msg: &mail_parser::Message) -> Option<&'static Encoding> {
    msg.parts
        .iter()
        .filter_map(|p| p.content_type()?.attribute("charset"))
        .filter_map(|c| Encoding::for_label(c.trim().as_bytes()))
        .find(|e| *e != encoding_rs::UTF_8)
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

/// The body text (text/plain parts, else HTML converted to text) and every
/// other leaf part as an attachment, plus Message-IDs quoted in the parts.
fn body_and_attachments(
    msg: &mail_parser::Message,
    raw: &[u8],
    hint: Option<&'static Encoding>,
) -> Result<(String, bool, Vec<Attachment>, Embedded), ParseError> {
    let mut texts = Vec::new();
    for part in msg.text_bodies() {
        if let PartType::Text(t) = &part.body {
            texts.push(fix_undeclared_charset(part, t, raw));
        }
    }
    let (body, from_html) = if !texts.is_empty() {
        (texts.join("\n"), false)
    } else if let Some(html) = msg.body_html(0) {
        // The HTML converter recurses per element: hostile nesting would
        // overflow the stack. No real mail comes near the limit.
        let depth = html_depth(&html);
        if depth > MAX_HTML_DEPTH {
            return Err(ParseError::HtmlTooDeep(depth));
        }
        (html_to_text(&html), true)
    } else {
        (String::new(), false)
    };

    let mut attachments = Vec::new();
    let mut embedded = Embedded::default();
    for part in msg.attachments() {
        let content_type = part
            .content_type()
            .map(|ct| match ct.subtype() {
                Some(sub) => format!("{}/{}", ct.ctype(), sub),
                None => ct.ctype().to_string(),
            })
            .unwrap_or_else(|| "application/octet-stream".to_string())
            .to_ascii_lowercase();
        let headers_only;
        let inner = match &part.body {
            PartType::Message(inner) => Some(inner),
            _ if content_type == "text/rfc822-headers" => {
                headers_only = MessageParser::default().parse_headers(part.contents());
                headers_only.as_ref()
            }
            _ => None,
        };
        if let Some(inner) = inner {
            if let Some(id) = inner.message_id().and_then(clean_id) {
                embedded.ids.push(id);
            }
            // A bounce of our mail that lost its Message-ID still carries
            // what it answered and its subject with our tag.
            embedded.in_reply_to.extend(id_list(inner.in_reply_to()));
            if let Some(subject) = inner.subject() {
                embedded.subjects.push(subject.to_string());
            }
            embedded.bounce |= is_bounce_message(inner);
        }
        let mut name = part
            .attachment_name()
            .map(|n| clean_text(&decode_iso2022_runs(n.trim())));
        if name.as_deref().is_some_and(|n| n.contains('\u{FFFD}')) {
            name = redecoded_part_name(part, raw, hint).or(name);
        }
        let filename = name
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| default_filename(part, &content_type, raw, hint));
        attachments.push(Attachment {
            filename,
            content_type,
            content: part.contents().to_vec(),
        });
    }
    Ok((clean_text(&body), from_html, attachments, embedded))
}

/// What mail quoted inside this one (a bounce's returned message, a
/// forwarded message) says about itself.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    pub ids: Vec<String>,
    pub in_reply_to: Vec<String>,
    pub subjects: Vec<String>,
    /// An attached message is itself a bounce (a person forwarding one).
    pub bounce: bool,
}

fn is_bounce_message(m: &mail_parser::Message) -> bool {
    let from = m.header_raw("From").unwrap_or("").to_ascii_lowercase();
    from.contains("mailer-daemon")
        || from.contains("mail delivery")
        || m.root_part().content_type().is_some_and(|ct| {
            ct.subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
                && ct
                    .attribute("report-type")
                    .is_some_and(|r| r.eq_ignore_ascii_case("delivery-status"))
        })
}

/// Deepest HTML nesting deeper than any real mail's.
pub const MAX_HTML_DEPTH: usize = 1000;

/// How deep elements nest, roughly: open tags minus close tags, not counting
/// void elements, self-closing tags, or those HTML closes implicitly (a
/// mail full of unclosed `<p>` is not deep).
fn html_depth(html: &str) -> usize {
    const NOT_NESTING: [&str; 22] = [
        "br", "img", "hr", "meta", "input", "link", "area", "base", "col", "embed", "source",
        "track", "wbr", "p", "li", "td", "tr", "th", "option", "dt", "dd", "!",
    ];
    let (mut depth, mut max) = (0usize, 0usize);
    let bytes = html.as_bytes();
    let mut i = 0;
    while let Some(off) = bytes[i..].iter().position(|b| *b == b'<') {
        let start = i + off + 1;
        let end = bytes[start..]
            .iter()
            .position(|b| *b == b'>')
            .map_or(bytes.len(), |e| start + e);
        let tag = &html[start..end];
        i = (end + 1).min(bytes.len());
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() || NOT_NESTING.contains(&name.as_str()) || name.starts_with('!') {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if !tag.ends_with('/') {
            depth += 1;
            max = max.max(depth);
        }
        if i >= bytes.len() {
            break;
        }
    }
    max
}

/// A name for an unnamed part, as mail clients show them: its
/// Content-Description, a forwarded mail's subject, or a generic name.
fn default_filename(
    part: &mail_parser::MessagePart,
    content_type: &str,
    raw: &[u8],
    outer_hint: Option<&'static Encoding>,
) -> String {
    let ext = match content_type {
        "message/rfc822" => ".eml",
        ct if ct.starts_with("text/") || ct == "message/delivery-status" => ".txt",
        _ => "",
    };
    if let PartType::Message(inner) = &part.body {
        let mut subject = clean_text(inner.subject().unwrap_or("").trim());
        if subject.contains('\u{FFFD}') {
            // header offsets of an embedded message count from the outer raw bytes
            let hint = charset_hint(inner).or(outer_hint);
            if let Some(fixed) = redecode_header(inner, raw, HeaderName::Subject, hint) {
                subject = clean_text(&fixed);
            }
        }
        if !subject.is_empty() {
            return format!("{subject}.eml");
        }
    }
    if let Some(d) = part
        .content_description()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        return format!("{}{ext}", clean_text(d));
    }
    match content_type {
        "message/delivery-status" => "delivery-status.txt".into(),
        "message/rfc822" => "message.eml".into(),
        "text/html" => "message.html".into(),
        "text/calendar" => "invite.ics".into(),
        "image/jpeg" | "image/jpg" | "image/pjpeg" => "image.jpg".into(),
        ct if ct.starts_with("image/") => format!("image.{}", ct.trim_start_matches("image/")),
        _ => "file".into(),
    }
}

/// Re-reads a part's Content-Disposition/Content-Type in the declared charset
/// when its filename was raw 8-bit text.
fn redecoded_part_name(
    part: &mail_parser::MessagePart,
    raw: &[u8],
    hint: Option<&'static Encoding>,
) -> Option<String> {
    let mut text = String::new();
    for h in part.headers() {
        if matches!(
            h.name,
            HeaderName::ContentDisposition | HeaderName::ContentType
        ) {
            let bytes =
                raw.get(h.offset_field() as usize..(h.offset_end() as usize).min(raw.len()))?;
            text.push_str(&decode_with(bytes, hint));
        }
    }
    text.push_str("\r\n\r\n");
    let parsed = MessageParser::default().parse(text.as_bytes())?;
    let name = parsed.root_part().attachment_name()?.trim().to_string();
    (!name.contains('\u{FFFD}') && !name.is_empty()).then(|| clean_text(&name))
}

/// Decodes undeclared 8-bit header bytes: UTF-8 when valid, else the
/// detector's guess, else the charset the message declares elsewhere.
fn decode_with(bytes: &[u8], hint: Option<&'static Encoding>) -> String {
    let guessed = guess_decode(bytes);
    match hint {
        Some(enc) if guessed.contains('\u{FFFD}') => {
            let (text, _, errors) = enc.decode(bytes);
            if errors { guessed } else { text.into_owned() }
        }
        _ => guessed,
    }
}

/// Readable text from HTML; scripts and styles are dropped.
pub fn html_to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 100)
        .unwrap_or_else(|_| html.to_string())
        .trim_end()
        .to_string()
}

/// Text the parser could not decode cleanly (replacement characters): the
/// charset was missing or wrong. Mislabelled UTF-8 (declared Big5, sent as
/// UTF-8) is common; otherwise undeclared 8-bit text gets a detector's guess.
fn fix_undeclared_charset(part: &mail_parser::MessagePart, decoded: &str, raw: &[u8]) -> String {
    if !decoded.contains('\u{FFFD}') {
        return decoded.to_string();
    }
    let start = part.raw_body_offset() as usize;
    let end = (part.raw_end_offset() as usize).min(raw.len());
    let Some(body) = raw.get(start..end) else {
        return decoded.to_string();
    };
    let encoding = part
        .content_transfer_encoding()
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let bytes = match encoding.as_str() {
        "base64" => mail_parser::decoders::base64::base64_decode(body),
        "quoted-printable" => {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(body)
        }
        _ => Some(body.to_vec()),
    };
    let Some(bytes) = bytes else {
        return decoded.to_string();
    };
    if let Ok(utf8) = std::str::from_utf8(&bytes) {
        return utf8.to_string();
    }
    let declared = part.content_type().and_then(|ct| ct.attribute("charset"));
    if declared.is_some_and(|c| !c.eq_ignore_ascii_case("us-ascii")) {
        return decoded.to_string();
    }
    guess_decode(&bytes)
}

/// ISO-2022-JP escape sequences left in a filename whose RFC 2231
/// continuations were decoded one by one.
fn decode_iso2022_runs(name: &str) -> String {
    if !name.contains('\u{1b}') {
        return name.to_string();
    }
    let mut out = String::new();
    let mut rest = name;
    while let Some(start) = rest.find('\u{1b}') {
        out.push_str(&rest[..start]);
        let run = &rest[start..];
        // a run ends after the escape back to ASCII, ESC ( B
        let end = run.find("\u{1b}(B").map(|i| i + 3).unwrap_or(run.len());
        out.push_str(&encoding_rs::ISO_2022_JP.decode(&run.as_bytes()[..end]).0);
        rest = &run[end..];
    }
    out.push_str(rest);
    out
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
fn redecode_header(
    msg: &mail_parser::Message,
    raw: &[u8],
    name: HeaderName,
    hint: Option<&'static Encoding>,
) -> Option<String> {
    let h = msg.headers().iter().find(|h| h.name == name)?;
    let bytes = raw.get(h.offset_start() as usize..(h.offset_end() as usize).min(raw.len()))?;
    let unfolded: String = decode_with(bytes, hint)
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
    fn html_nested_100000_levels_is_refused_not_a_stack_overflow() {
        let mut raw = b"From: a@b.c\r\nSubject: deep\r\nContent-Type: text/html\r\n\r\n".to_vec();
        raw.extend(b"<div>".repeat(100_000));
        raw.extend(b"x");
        raw.extend(b"</div>".repeat(100_000));
        // A 2 MiB stack, like the runtime's and the blocking pool's threads.
        let result = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || parse(&raw).map(|m| m.body))
            .unwrap()
            .join()
            .expect("no stack overflow");
        assert_eq!(result.unwrap_err(), ParseError::HtmlTooDeep(100_000));
        let normal = b"From: a@b.c\r\nContent-Type: text/html\r\n\r\n<html><body><p>one<p>two<br><table><tr><td>x</table></body></html>";
        assert!(parse(normal).unwrap().body.contains("two"));
        assert_eq!(html_depth("<p>a<p>b<p>c<div><span>x</span></div>"), 2);
    }

    #[test]
    fn line_endings_and_trailing_blanks_do_not_change_the_fingerprint() {
        let crlf = b"From: a@b.c\r\nSubject: a long\r\n subject\r\nMessage-ID: <x@y>\r\n\r\nline one  \r\n\r\nline two\r\n\r\n";
        let lf =
            b"From: a@b.c\nSubject: a long subject\nMessage-ID: <x@y>\n\nline one\n\nline two\n";
        assert_eq!(
            parse(crlf).unwrap().fingerprint,
            parse(lf).unwrap().fingerprint
        );
        let other =
            b"From: a@b.c\nSubject: a long subject\nMessage-ID: <x@y>\n\nline one\nline two\n";
        assert_ne!(
            parse(other).unwrap().fingerprint,
            parse(lf).unwrap().fingerprint,
            "a removed blank line inside the body is another text"
        );
    }

    #[test]
    fn encoded_word_with_a_wrong_charset_label_is_redecoded() {
        // Shift_JIS bytes labelled ISO-2022-JP, as in the wild.
        assert_eq!(
            redecode_encoded_words("=?ISO-2022-JP?B?g2OBW4OLIEVYQU1QTEU=?= <bar@example.org>")
                .as_deref(),
            Some("ツール EXAMPLE <bar@example.org>")
        );
        assert_eq!(
            redecode_encoded_words("=?utf-8?Q?J=C3=B6rg_M?= <j@x>").as_deref(),
            Some("Jörg M <j@x>")
        );
        assert_eq!(redecode_encoded_words("plain <p@x>"), None);
    }

    #[test]
    fn cr_only_line_endings_parse() {
        let m = parse(b"From: a@b.c\rSubject: old mac\r\rbody line\r").unwrap();
        assert_eq!(m.from.unwrap().email, "a@b.c");
        assert_eq!(m.subject, "old mac");
    }

    #[test]
    fn a_daemon_without_an_address_is_still_a_sender() {
        let raw =
            b"From: MAILER-DAEMON <>\r\nReturn-Path: <>\r\nSubject: failure\r\n\r\nbounced\r\n";
        assert_eq!(parse(raw).unwrap().from.unwrap().email, "mailer-daemon");
        let nobody = b"From: <>\r\nSubject: x\r\n\r\nb\r\n";
        assert!(parse(nobody).unwrap().from.is_none());
    }

    #[test]
    fn undeclared_latin1_body_is_guessed() {
        let raw =
            b"From: a@b.c\r\nSubject: s\r\n\r\nGr\xfc\xdfe aus K\xf6ln, sch\xf6ne Gr\xfc\xdfe\r\n";
        let m = parse(raw).unwrap();
        assert!(m.body.contains("Köln"), "{}", m.body);
    }
}
