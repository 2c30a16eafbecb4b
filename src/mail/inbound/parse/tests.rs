//! Parsing the fields Docket needs from real and hostile mail.

use super::body::html_depth;
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
    let lf = b"From: a@b.c\nSubject: a long subject\nMessage-ID: <x@y>\n\nline one\n\nline two\n";
    assert_eq!(
        parse(crlf).unwrap().fingerprint,
        parse(lf).unwrap().fingerprint
    );
    let other = b"From: a@b.c\nSubject: a long subject\nMessage-ID: <x@y>\n\nline one\nline two\n";
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
    let raw = b"From: MAILER-DAEMON <>\r\nReturn-Path: <>\r\nSubject: failure\r\n\r\nbounced\r\n";
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
