//! Recognises mail that must never be acknowledged: auto-replies (RFC 3834),
//! bounces (DSN), mailing-list and bulk mail, and our own mail coming back.

use super::parse::ParsedMail;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Human,
    AutoReply,
    Bounce,
    Bulk,
    List,
    Loop,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Human => "human",
            Class::AutoReply => "auto-reply",
            Class::Bounce => "bounce",
            Class::Bulk => "bulk",
            Class::List => "list",
            Class::Loop => "loop",
        }
    }

    /// Mail from a machine: never acknowledged, never reopens a ticket.
    pub fn is_automatic(self) -> bool {
        self != Class::Human
    }
}

/// `x_loop_id` is this instance's X-Loop value; `own_addresses` are our queue
/// addresses (mail *from* one of them is our own mail coming back).
pub fn classify(mail: &ParsedMail, x_loop_id: &str, own_addresses: &[String]) -> Class {
    let s = &mail.signals;
    if s.x_loop
        .iter()
        .any(|v| v == &x_loop_id.to_ascii_lowercase())
        || mail
            .from
            .as_ref()
            .is_some_and(|f| own_addresses.iter().any(|a| a == &f.email))
    {
        return Class::Loop;
    }
    if s.report_type.as_deref() == Some("delivery-status")
        || s.delivery_status_part
        || from_daemon(mail)
    {
        return Class::Bounce;
    }
    if s.auto_submitted.as_deref().is_some_and(|v| v != "no")
        || s.x_autoreply
        || (auto_reply_subject(&mail.subject) && !says_person(mail))
        || from_no_reply(mail)
    {
        return Class::AutoReply;
    }
    if s.report_type.is_some() {
        // disposition notifications (read receipts), ARF feedback reports
        return Class::AutoReply;
    }
    if s.list_id || s.precedence.as_deref() == Some("list") {
        return Class::List;
    }
    if matches!(
        s.precedence.as_deref(),
        Some("bulk" | "junk" | "auto_reply")
    ) {
        return Class::Bulk;
    }
    if s.return_path_empty {
        return Class::AutoReply;
    }
    Class::Human
}

fn from_daemon(mail: &ParsedMail) -> bool {
    mail.from.as_ref().is_some_and(|f| {
        let local = f.email.split('@').next().unwrap_or("");
        matches!(
            local,
            "mailer-daemon" | "postmaster" | "post_master" | "mail-daemon"
        )
    }) || {
        // The From header itself, for "MAILER-DAEMON <>" that yields no address.
        let raw = mail.signals.from_header.as_str();
        [
            "mailer-daemon",
            "mail delivery subsystem",
            "mail delivery system",
        ]
        .iter()
        .any(|d| raw.contains(d))
    }
}

/// Mail from an address nobody reads (`no-reply@…`): a machine wrote it, and
/// an acknowledgement would go nowhere.
fn from_no_reply(mail: &ParsedMail) -> bool {
    mail.from.as_ref().is_some_and(|f| {
        let local = f
            .email
            .split('@')
            .next()
            .unwrap_or("")
            .replace(['-', '_', '.'], "");
        matches!(local.as_str(), "noreply" | "donotreply" | "donotrespond")
    })
}

/// Something says a person wrote this, so words in the subject do not make
/// it automatic: `Auto-Submitted: no`, or a reply or forward by subject
/// ("Re: [Docket #5] auto-reply broken").
fn says_person(mail: &ParsedMail) -> bool {
    if mail.signals.auto_submitted.as_deref() == Some("no") {
        return true;
    }
    let s = mail.subject.trim_start().to_ascii_lowercase();
    ["re:", "aw:", "sv:", "antw:", "fwd:", "fw:", "wg:", "tr:"]
        .iter()
        .any(|p| s.starts_with(p))
}

fn auto_reply_subject(subject: &str) -> bool {
    let s = subject.to_lowercase();
    const MARKERS: [&str; 9] = [
        "out of office",
        "out of the office",
        "automatic reply",
        "auto reply",
        "auto-reply",
        "autoreply",
        "abwesenheitsnotiz",
        "[auto generated]",
        "automatische antwort",
    ];
    s.starts_with("auto:") || MARKERS.iter().any(|m| s.contains(m))
}

/// `Final-Recipient` of each per-recipient block whose `Action` is `failed`.
pub fn failed_recipients(dsn: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in dsn.replace("\r\n", "\n").split("\n\n") {
        let mut recipient = None;
        let mut failed = false;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim().to_ascii_lowercase().as_str() {
                "final-recipient" => {
                    let v = v.split_once(';').map(|(_, a)| a).unwrap_or(v);
                    recipient = crate::domain::address::normalise(v);
                }
                "action" => failed = v.trim().eq_ignore_ascii_case("failed"),
                _ => {}
            }
        }
        if let (Some(r), true) = (recipient, failed) {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;

    fn class_of(headers: &str) -> Class {
        let raw = format!("From: Sam <sam@example.net>\r\nSubject: hi\r\n{headers}\r\nbody\r\n");
        classify(
            &parse(raw.as_bytes()).unwrap(),
            "docket.test",
            &["help@example.com".into()],
        )
    }

    #[test]
    fn recognises_robots_and_loops() {
        assert_eq!(class_of(""), Class::Human);
        assert_eq!(class_of("Auto-Submitted: no\r\n"), Class::Human);
        assert_eq!(
            class_of("Auto-Submitted: auto-replied\r\n"),
            Class::AutoReply
        );
        assert_eq!(class_of("X-Autoreply: yes\r\n"), Class::AutoReply);
        assert_eq!(class_of("Precedence: bulk\r\n"), Class::Bulk);
        assert_eq!(class_of("List-Id: <x.lists.example>\r\n"), Class::List);
        assert_eq!(class_of("X-Loop: docket.test\r\n"), Class::Loop);
        assert_eq!(class_of("Return-Path: <>\r\n"), Class::AutoReply);
        assert_eq!(class_of("X-MLServer: fml\r\n"), Class::List);
        assert_eq!(
            class_of("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n"),
            Class::Bounce
        );
    }

    #[test]
    fn subject_words_do_not_outweigh_a_person() {
        let subject = |s: &str, extra: &str| {
            let raw = format!("From: Sam <sam@example.net>\r\nSubject: {s}\r\n{extra}\r\nbody\r\n");
            classify(&parse(raw.as_bytes()).unwrap(), "docket.test", &[])
        };
        assert_eq!(subject("Automatic reply: VPN down", ""), Class::AutoReply);
        assert_eq!(subject("Out of Office: back Monday", ""), Class::AutoReply);
        assert_eq!(
            subject("Re: [Docket #5] auto-reply broken", ""),
            Class::Human
        );
        assert_eq!(subject("Fwd: out of office policy", ""), Class::Human);
        assert_eq!(
            subject("auto reply is broken", "Auto-Submitted: no\r\n"),
            Class::Human
        );
    }

    #[test]
    fn mail_from_our_own_address_is_a_loop() {
        let raw = b"From: help@example.com\r\nSubject: x\r\n\r\nb\r\n";
        assert_eq!(
            classify(
                &parse(raw).unwrap(),
                "docket.test",
                &["help@example.com".into()]
            ),
            Class::Loop
        );
    }

    #[test]
    fn finds_failed_recipients_in_a_dsn() {
        let dsn = "Reporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; Gone@Example.org\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; slow@example.org\nAction: delayed\n";
        assert_eq!(failed_recipients(dsn), vec!["gone@example.org".to_string()]);
    }
}
