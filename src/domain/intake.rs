//! Intake: the fields a complete request needs, as a requestor writes them
//! in mail (`Drop-dead date: 2026-12-01`), and what is still missing.

/// Every field Docket knows: its key, and the label a person writes.
pub const FIELDS: [(&str, &str); 7] = [
    ("description", "Description"),
    ("drop_dead_date", "Drop-dead date"),
    ("nice_to_have_date", "Nice-to-have date"),
    ("capacity", "Capacity"),
    ("security", "Security"),
    ("dependencies", "Dependencies"),
    ("acceptance_criteria", "Acceptance criteria"),
];

/// The label of a known key.
pub fn label(key: &str) -> Option<&'static str> {
    FIELDS.iter().find(|(k, _)| *k == key).map(|(_, l)| *l)
}

/// Keys from a comma list (`drop_dead_date, capacity`), each known, once.
pub fn parse_keys(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for k in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        if label(k).is_none() {
            let known: Vec<&str> = FIELDS.iter().map(|(k, _)| *k).collect();
            return Err(format!(
                "unknown intake field {k:?}; one of {}",
                known.join(", ")
            ));
        }
        if !out.iter().any(|o| o == k) {
            out.push(k.to_string());
        }
    }
    Ok(out)
}

/// `Label: value` lines anywhere in a body (labels case-insensitive, the
/// value runs to the end of the line). Dates become `YYYY-MM-DD` when they
/// can be read; otherwise the words are kept as written.
pub fn parse(body: &str) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for line in body.lines() {
        // Quoted text is someone else's earlier mail.
        let line = line.trim();
        if line.starts_with('>') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let Some((key, _)) = FIELDS
            .iter()
            .find(|(k, l)| *k != "description" && l.eq_ignore_ascii_case(name.trim()))
        else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let value = if key.ends_with("_date") {
            read_date(value).unwrap_or_else(|| value.to_string())
        } else {
            value.to_string()
        };
        out.retain(|(k, _)| k != key);
        out.push((key, value));
    }
    out
}

/// ISO dates and the common written forms, as `YYYY-MM-DD`.
pub fn read_date(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('.');
    const FORMS: [&str; 9] = [
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%d %B %Y",
        "%d %b %Y",
        "%B %d, %Y",
        "%b %d, %Y",
        "%B %d %Y",
        "%d.%m.%Y",
        "%e %B %Y",
    ];
    FORMS
        .iter()
        .find_map(|f| chrono::NaiveDate::parse_from_str(s, f).ok())
        .map(|d| d.format("%Y-%m-%d").to_string())
}

/// The required keys not given (the description is given by a first mail
/// with a body).
pub fn missing(required: &[String], given: &[(String, String)]) -> Vec<String> {
    required
        .iter()
        .filter(|k| !given.iter().any(|(g, v)| g == *k && !v.trim().is_empty()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_label_lines_in_any_case() {
        let body = "Hello,\n\nDROP-DEAD DATE: 1 December 2026\ncapacity: 200 req/s at peak\n\
                    > Security: quoted, not ours\nAcceptance criteria: the site answers in 1 s\n\
                    Nice-to-have date: sometime soon\n";
        let got = parse(body);
        assert_eq!(
            got,
            vec![
                ("drop_dead_date", "2026-12-01".to_string()),
                ("capacity", "200 req/s at peak".to_string()),
                ("acceptance_criteria", "the site answers in 1 s".to_string()),
                ("nice_to_have_date", "sometime soon".to_string()),
            ]
        );
    }

    #[test]
    fn written_dates_become_iso() {
        for s in [
            "2026-12-01",
            "2026/12/01",
            "1 December 2026",
            "Dec 1, 2026",
            "01.12.2026",
        ] {
            assert_eq!(read_date(s).as_deref(), Some("2026-12-01"), "{s}");
        }
        assert_eq!(read_date("next week"), None);
    }

    #[test]
    fn missing_lists_what_is_required_and_absent() {
        let required = parse_keys("description, capacity, security").expect("keys");
        let mut given = vec![("capacity".to_string(), "10".to_string())];
        assert_eq!(missing(&required, &given), vec!["description", "security"]);
        given.push(("description".to_string(), "the body".to_string()));
        assert_eq!(missing(&required, &given), vec!["security"]);
        assert!(parse_keys("capacity, colour").is_err());
    }
}
