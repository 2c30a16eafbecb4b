//! The readable body and the attachments of a message, HTML made text, bounces told apart.

use super::*;
use encoding_rs::Encoding;
use mail_parser::{HeaderName, MessageParser, MimeHeaders, PartType};

/// The body text (text/plain parts, else HTML converted to text) and every
/// other leaf part as an attachment, plus Message-IDs quoted in the parts.
pub(super) fn body_and_attachments(
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

pub(super) fn is_bounce_message(m: &mail_parser::Message) -> bool {
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
pub(super) fn html_depth(html: &str) -> usize {
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
pub(super) fn default_filename(
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

/// Readable text from HTML; scripts and styles are dropped.
pub fn html_to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 100)
        .unwrap_or_else(|_| html.to_string())
        .trim_end()
        .to_string()
}
