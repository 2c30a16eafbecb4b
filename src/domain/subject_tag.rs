//! The RT-style subject tag `[Docket #123]`: finding it in a subject (tolerant
//! of reply prefixes, case and spacing) and putting it on outgoing subjects.

/// Finds the first `[TAG #N]` in `subject` for any of `tags`, case-insensitive,
/// with any spacing around the tag, the `#` and the number.
pub fn find_ticket_id(subject: &str, tags: &[&str]) -> Option<i64> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        if let Some(id) = parse_inside(&after[..close], tags) {
            return Some(id);
        }
        rest = &after[close + 1..];
    }
    None
}

fn parse_inside(inside: &str, tags: &[&str]) -> Option<i64> {
    let inside = inside.trim();
    let (name, number) = inside.rsplit_once('#')?;
    let name = collapse_spaces(name);
    if !tags
        .iter()
        .any(|t| collapse_spaces(t).eq_ignore_ascii_case(&name))
    {
        return None;
    }
    let number = number.trim();
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok().filter(|n| *n > 0)
}

fn collapse_spaces(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `[TAG #id] subject`, without doubling a tag the subject already carries
/// for this ticket and without stacking reply prefixes in front of it.
pub fn tagged_subject(tag: &str, id: i64, subject: &str) -> String {
    let subject = subject.trim();
    if find_ticket_id(subject, &[tag]) == Some(id) {
        let stripped = strip_reply_prefixes(subject);
        if stripped.starts_with('[') {
            return stripped.to_string();
        }
        return subject.to_string();
    }
    if subject.is_empty() {
        format!("[{tag} #{id}]")
    } else {
        format!("[{tag} #{id}] {subject}")
    }
}

/// Drops leading `Re:`, `AW:`, `Fwd:`, `FW:`, `WG:`, `SV:` … prefixes.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    const PREFIXES: [&str; 9] = ["re", "aw", "fwd", "fw", "wg", "sv", "vs", "antw", "tr"];
    let mut s = subject.trim_start();
    loop {
        let Some(colon) = s.find(':') else { return s };
        let head = s[..colon].trim();
        // "Re[2]" and "RE" alike
        let head = head.split('[').next().unwrap_or(head);
        if PREFIXES.iter().any(|p| p.eq_ignore_ascii_case(head)) {
            s = s[colon + 1..].trim_start();
        } else {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tag_through_prefixes_case_and_spacing() {
        let tags = ["Docket"];
        assert_eq!(find_ticket_id("[Docket #12] Printer", &tags), Some(12));
        assert_eq!(
            find_ticket_id("Re: AW: [docket #12] Printer", &tags),
            Some(12)
        );
        assert_eq!(find_ticket_id("Fwd: [  DOCKET   #  7 ] x", &tags), Some(7));
        assert_eq!(find_ticket_id("[Other #12] Printer", &tags), None);
        assert_eq!(find_ticket_id("[Docket #] x", &tags), None);
        assert_eq!(find_ticket_id("[Docket #1x] x", &tags), None);
        assert_eq!(find_ticket_id("[list] [Docket #3] x", &tags), Some(3));
        assert_eq!(find_ticket_id("[IT Help #4] x", &["it  help"]), Some(4));
    }

    #[test]
    fn tag_is_not_doubled() {
        assert_eq!(
            tagged_subject("Docket", 5, "Printer"),
            "[Docket #5] Printer"
        );
        assert_eq!(
            tagged_subject("Docket", 5, "Re: [Docket #5] Printer"),
            "[Docket #5] Printer"
        );
        assert_eq!(
            tagged_subject("Docket", 5, "[Docket #4] old"),
            "[Docket #5] [Docket #4] old"
        );
    }

    #[test]
    fn strips_prefixes() {
        assert_eq!(strip_reply_prefixes("RE: AW: Fwd: Hello"), "Hello");
        assert_eq!(strip_reply_prefixes("Re[2]: Hello"), "Hello");
        assert_eq!(strip_reply_prefixes("Regarding: x"), "Regarding: x");
    }
}
