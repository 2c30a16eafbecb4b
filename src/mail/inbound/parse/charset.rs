//! Text whose charset was declared wrongly or not at all: encoded words with bad charsets, ISO-2022 runs, guessing.

use encoding_rs::Encoding;
use mail_parser::{HeaderName, MessageParser, MimeHeaders};

/// RFC 2047 words whose declared charset is wrong (Shift_JIS labelled
/// ISO-2022-JP is common): decode the payload and let the detector choose.
/// `None` when the header has no encoded words.
pub(super) fn redecode_encoded_words(header: &str) -> Option<String> {
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

pub(super) fn quoted_printable_word(s: &str) -> Vec<u8> {
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

/// Text as stored: without NUL characters (PostgreSQL text cannot hold them).
pub(super) fn clean_text(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "")
    } else {
        s.to_string()
    }
}

/// The charset a message declares somewhere, used for 8-bit headers that
/// declare none (RFC 2047 was ignored by the sender).
pub(super) fn charset_hint(msg: &mail_parser::Message) -> Option<&'static Encoding> {
    msg.parts
        .iter()
        .filter_map(|p| p.content_type()?.attribute("charset"))
        .filter_map(|c| Encoding::for_label(c.trim().as_bytes()))
        .find(|e| *e != encoding_rs::UTF_8)
}

/// Re-reads a part's Content-Disposition/Content-Type in the declared charset
/// when its filename was raw 8-bit text.
pub(super) fn redecoded_part_name(
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
pub(super) fn decode_with(bytes: &[u8], hint: Option<&'static Encoding>) -> String {
    let guessed = guess_decode(bytes);
    match hint {
        Some(enc) if guessed.contains('\u{FFFD}') => {
            let (text, _, errors) = enc.decode(bytes);
            if errors { guessed } else { text.into_owned() }
        }
        _ => guessed,
    }
}

/// Text the parser could not decode cleanly (replacement characters): the
/// charset was missing or wrong. Mislabelled UTF-8 (declared Big5, sent as
/// UTF-8) is common; otherwise undeclared 8-bit text gets a detector's guess.
pub(super) fn fix_undeclared_charset(
    part: &mail_parser::MessagePart,
    decoded: &str,
    raw: &[u8],
) -> String {
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
pub(super) fn decode_iso2022_runs(name: &str) -> String {
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
pub(super) fn redecode_header(
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
