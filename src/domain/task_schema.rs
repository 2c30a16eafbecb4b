//! Task types: the fields an application defines, and the rules a value
//! must meet whichever way it arrives (JSON from the API, a web form, a
//! `Label: value` line in a mail reply).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The kinds of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Text,
    Number,
    Date,
    Datetime,
    Enum,
    Boolean,
    Url,
}

/// Who may see a field's value besides the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    App,
    Assignee,
    Requestor,
}

/// One field of a task type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    /// A key for programs: letters, digits and `_`.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    /// What people read (and type before the colon in a mail reply).
    #[serde(default)]
    pub label: String,
    /// The choices of an `enum` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default = "default_audience")]
    pub visible_to: Vec<Audience>,
}

fn default_audience() -> Vec<Audience> {
    vec![Audience::App, Audience::Assignee]
}

impl FieldDef {
    /// The label, or the name when none was given.
    pub fn label(&self) -> &str {
        if self.label.trim().is_empty() {
            &self.name
        } else {
            self.label.trim()
        }
    }

    pub fn visible_to_assignee(&self) -> bool {
        self.visible_to.contains(&Audience::Assignee)
    }
}

/// A problem with one field, for a problem document's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// A schema is usable: names are keys, unique, labels unique, enums have
/// options.
pub fn check_schema(fields: &[FieldDef]) -> Result<(), Vec<FieldError>> {
    let mut errors = Vec::new();
    if fields.is_empty() {
        errors.push(FieldError::new(
            "fields",
            "a task type needs at least one field",
        ));
    }
    for (i, f) in fields.iter().enumerate() {
        let at = format!("fields[{i}]");
        let key_like = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_like {
            errors.push(FieldError::new(
                &at,
                "a field name is 1 to 64 letters, digits or _",
            ));
        }
        if fields[..i].iter().any(|g| g.name == f.name) {
            errors.push(FieldError::new(
                &at,
                format!("{:?} is defined twice", f.name),
            ));
        }
        if fields[..i]
            .iter()
            .any(|g| g.label().eq_ignore_ascii_case(f.label()))
        {
            errors.push(FieldError::new(
                &at,
                format!(
                    "the label {:?} is used twice (mail replies name fields by label)",
                    f.label()
                ),
            ));
        }
        if f.label().contains(':') || f.label().contains('\n') {
            errors.push(FieldError::new(&at, "a label holds no ':' or line break"));
        }
        if f.kind == FieldType::Enum && f.options.iter().all(|o| o.trim().is_empty()) {
            errors.push(FieldError::new(&at, "an enum field needs options"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A JSON value for `def`, checked and normalised (`null` clears).
pub fn check_json(def: &FieldDef, v: &Value) -> Result<Value, String> {
    match (def.kind, v) {
        (_, Value::Null) => Ok(Value::Null),
        (FieldType::Number, Value::Number(n)) => Ok(Value::Number(n.clone())),
        (FieldType::Boolean, Value::Bool(b)) => Ok(Value::Bool(*b)),
        (_, Value::String(s)) => check_text(def, s),
        _ => Err(format!("{} expects {}", def.name, expected(def))),
    }
}

/// A value typed by a person (form or mail), checked and normalised; an
/// empty text clears the field.
pub fn check_text(def: &FieldDef, raw: &str) -> Result<Value, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(Value::Null);
    }
    let bad = || format!("{:?} is not {}", s, expected(def));
    let ok = match def.kind {
        FieldType::String => !s.contains('\n') && s.chars().count() <= 500,
        FieldType::Text => s.chars().count() <= 20_000,
        FieldType::Number => {
            return s
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(|n| match s.parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => Value::Number(n),
                })
                .ok_or_else(bad);
        }
        FieldType::Date => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        FieldType::Datetime => {
            return chrono::DateTime::parse_from_rfc3339(s)
                .map(|d| {
                    Value::String(
                        d.to_utc()
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    )
                })
                .map_err(|_| bad());
        }
        FieldType::Enum => {
            return def
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(s))
                .map(|o| Value::String(o.clone()))
                .ok_or_else(|| format!("{s:?} is not one of {}", def.options.join(", ")));
        }
        FieldType::Boolean => {
            return match s.to_ascii_lowercase().as_str() {
                "yes" | "true" | "on" | "1" => Ok(Value::Bool(true)),
                "no" | "false" | "off" | "0" => Ok(Value::Bool(false)),
                _ => Err(bad()),
            };
        }
        FieldType::Url => url::Url::parse(s)
            .map(|u| matches!(u.scheme(), "http" | "https"))
            .unwrap_or(false),
    };
    if ok {
        Ok(Value::String(s.to_string()))
    } else {
        Err(bad())
    }
}

fn expected(def: &FieldDef) -> &'static str {
    match def.kind {
        FieldType::String => "one line of text (up to 500 characters)",
        FieldType::Text => "text (up to 20,000 characters)",
        FieldType::Number => "a number",
        FieldType::Date => "a date like 2026-12-31",
        FieldType::Datetime => "a date and time like 2026-12-31T09:00:00Z",
        FieldType::Enum => "one of the options",
        FieldType::Boolean => "yes or no",
        FieldType::Url => "an http or https URL",
    }
}

/// A value as people read it (and as a form or mail shows it to edit).
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `Label: value` lines of a mail reply that name a field of the
/// schema, in order: `(field name, value text)`. Lines naming no field are
/// left alone (they are the person's words); quoted text is not read.
pub fn reply_lines(body: &str, fields: &[FieldDef]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in body.lines() {
        let line = line.trim_end();
        if line.starts_with('>') {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if let Some(f) = fields
            .iter()
            .find(|f| f.label().eq_ignore_ascii_case(key) || f.name.eq_ignore_ascii_case(key))
            && !out.iter().any(|(n, _): &(String, String)| n == &f.name)
        {
            out.push((f.name.clone(), value.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: FieldType) -> FieldDef {
        FieldDef {
            name: name.into(),
            kind,
            required: false,
            label: String::new(),
            options: vec![],
            visible_to: default_audience(),
        }
    }

    #[test]
    fn values_are_checked_by_type() {
        let date = field("window", FieldType::Date);
        assert_eq!(
            check_text(&date, "2026-12-10"),
            Ok(Value::from("2026-12-10"))
        );
        assert!(check_text(&date, "next tuesday").is_err());
        let n = field("n", FieldType::Number);
        assert_eq!(check_text(&n, " 42 "), Ok(Value::from(42)));
        assert!(check_json(&n, &Value::from("x")).is_err());
        assert!(check_json(&n, &Value::Bool(true)).is_err());
        let mut e = field("mode", FieldType::Enum);
        e.options = vec!["async".into(), "sync".into()];
        assert_eq!(check_text(&e, "SYNC"), Ok(Value::from("sync")));
        assert!(check_text(&e, "maybe").unwrap_err().contains("async, sync"));
        let u = field("u", FieldType::Url);
        assert!(check_text(&u, "javascript:alert(1)").is_err());
        assert!(check_text(&u, "https://x.example/a").is_ok());
        let b = field("b", FieldType::Boolean);
        assert_eq!(check_text(&b, "Yes"), Ok(Value::Bool(true)));
        let t = field("t", FieldType::Datetime);
        assert_eq!(
            check_text(&t, "2026-12-10T10:00:00+01:00"),
            Ok(Value::from("2026-12-10T09:00:00Z"))
        );
        assert_eq!(
            check_text(&field("s", FieldType::String), "  "),
            Ok(Value::Null)
        );
    }

    #[test]
    fn schemas_need_unique_keys_and_labels() {
        let mut a = field("date", FieldType::Date);
        a.label = "Migration date".into();
        let mut b = field("date2", FieldType::Date);
        b.label = "migration DATE".into();
        let errs = check_schema(&[a.clone(), b]).unwrap_err();
        assert!(errs[0].message.contains("used twice"));
        assert!(check_schema(&[field("bad name", FieldType::String)]).is_err());
        assert!(check_schema(&[field("e", FieldType::Enum)]).is_err());
        assert!(check_schema(&[a]).is_ok());
        assert!(check_schema(&[]).is_err());
    }

    #[test]
    fn reply_lines_name_fields_by_label_and_skip_quotes() {
        let mut a = field("date", FieldType::Date);
        a.label = "Migration date".into();
        let b = field("ticket_ref", FieldType::String);
        let body = "migration date: 2026-12-10\nThanks!\n> Ticket_ref: old\nticket_ref: CHG-1\nMigration date: 2027-01-01\n";
        assert_eq!(
            reply_lines(body, &[a, b]),
            vec![
                ("date".to_string(), "2026-12-10".to_string()),
                ("ticket_ref".to_string(), "CHG-1".to_string())
            ]
        );
    }
}
