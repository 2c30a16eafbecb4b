//! Input needed: the application opens some fields of a task for its
//! assignee, who fills them in on the web, through the API, or by replying
//! to the task's mail with `Label: value` lines. Submitting checks every
//! value against the schema, stores them in the history, locks the fields
//! again and tells the application (`task.input_submitted`).

use serde_json::{Map, Value, json};

use super::{ServiceError, schema_of, tell};
use crate::config::Config;
use crate::domain::task_schema::{self, FieldDef, FieldError};
use crate::service::tickets::history;
use crate::store::{Db, tasks, tickets, users};

/// What the application asks of the assignee.
pub struct Ask<'a> {
    /// The fields to open.
    pub fields: &'a [String],
    pub message: Option<&'a str>,
    /// When the input is needed by.
    pub due: Option<i64>,
}

/// Opens the asked fields of task `id` for input and mails the assignee a form.
pub async fn request(
    db: &Db,
    cfg: &Config,
    actor: &str,
    id: i64,
    ask: Ask<'_>,
    now: i64,
) -> Result<(), ServiceError> {
    let Ask {
        fields,
        message,
        due,
    } = ask;
    let mut tx = db.begin_write().await?;
    let row = tasks::get(&mut tx, id)
        .await?
        .ok_or(ServiceError::NoTicket(id))?;
    let schema = schema_of(&row.schema)?;
    let unknown: Vec<FieldError> = fields
        .iter()
        .filter_map(|n| match schema.iter().find(|f| &f.name == n) {
            None => Some(FieldError::new(n, "no such field in the task type")),
            Some(f) if !f.visible_to_assignee() => Some(FieldError::new(
                n,
                "the field is not visible to the assignee, who cannot fill it in",
            )),
            Some(_) => None,
        })
        .collect();
    if fields.is_empty() || !unknown.is_empty() {
        return Err(ServiceError::Fields {
            message: "name the fields that need input".into(),
            errors: unknown,
        });
    }
    let (Some(uid), false) = (row.assignee_id, row.hidden != 0) else {
        return Err(ServiceError::refused(
            "no_assignee",
            "the task has no assignee to ask",
        ));
    };
    let names = serde_json::to_string(fields).unwrap_or_else(|_| "[]".into());
    let message = message.map(str::trim).filter(|m| !m.is_empty());
    tasks::set_input(&mut tx, id, &names, message, due).await?;
    let creator = users::ensure(&mut tx, actor, "", now).await?;
    let labels: Vec<&str> = schema
        .iter()
        .filter(|f| fields.contains(&f.name))
        .map(|f| f.label())
        .collect();
    let lead = message.map(|m| format!("{m}\n")).unwrap_or_default();
    let text = format!("{lead}Open for input: {}", labels.join(", "));
    let mut h = history(id, "input-needed", Some(creator), &text, now);
    h.new_value = Some(&names);
    tickets::add_transaction(&mut tx, h).await?;
    let values: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    let body = form_text(cfg, id, &schema, fields, &values, message, due);
    tell(
        &mut tx,
        cfg,
        id,
        uid,
        actor,
        "needs your input on a task",
        &body,
        now,
    )
    .await?;
    let data = json!({"task": id, "fields": fields});
    crate::service::webhooks::emit_for(&mut tx, id, "task.input_needed", data, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The mail's form: one `Label: value` line per open field, to fill in.
fn form_text(
    cfg: &Config,
    id: i64,
    schema: &[FieldDef],
    open: &[String],
    values: &Map<String, Value>,
    message: Option<&str>,
    due: Option<i64>,
) -> String {
    let mut out = String::new();
    if let Some(m) = message {
        out.push_str(m);
        out.push_str("\n\n");
    }
    out.push_str("Reply to this mail with the values after the colons (keep the labels):\n\n");
    for f in schema.iter().filter(|f| open.contains(&f.name)) {
        let current = values
            .get(&f.name)
            .map(task_schema::display)
            .unwrap_or_default();
        out.push_str(&format!("{}: {current}\n", f.label()));
    }
    out.push('\n');
    for f in schema.iter().filter(|f| open.contains(&f.name)) {
        if !f.options.is_empty() {
            out.push_str(&format!("{}: one of {}\n", f.label(), f.options.join(", ")));
        }
    }
    if let Some(d) = due {
        out.push_str(&format!("Needed by {}.\n", crate::store::rfc3339(d)));
    }
    if let Some(base) = &cfg.public_url {
        out.push_str(&format!(
            "Or fill them in on the web: {}/tickets/{id}\n",
            base.trim_end_matches('/')
        ));
    }
    out
}

/// How the values came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Web,
    Api,
    Mail,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Via::Web => "web",
            Via::Api => "API",
            Via::Mail => "mail",
        }
    }
}

/// A value as it arrives: typed text (web, mail) or JSON (API).
pub enum Raw {
    Text(String),
    Json(Value),
}

/// The assignee submits values for the open fields. Naming a locked field,
/// or a value the schema refuses, fails the whole submission with what is
/// wrong per field; nothing is stored then.
pub async fn submit(
    db: &Db,
    id: i64,
    user: i64,
    values: Vec<(String, Raw)>,
    via: Via,
    now: i64,
) -> Result<(), ServiceError> {
    let mut tx = db.begin_write().await?;
    let row = tasks::get(&mut tx, id)
        .await?
        .filter(|r| r.hidden == 0)
        .ok_or(ServiceError::NoTicket(id))?;
    if row.assignee_id != Some(user) {
        return Err(ServiceError::refused(
            "not_assignee",
            "only the task's assignee may fill in its fields",
        ));
    }
    let schema = schema_of(&row.schema)?;
    let open: Vec<String> = serde_json::from_str(&row.input_needed).unwrap_or_default();
    let checked = check_submission(&schema, &open, values)?;
    let mut stored: Map<String, Value> = serde_json::from_str(&row.fields).unwrap_or_default();
    stored.extend(checked.clone());
    let missing: Vec<FieldError> = schema
        .iter()
        .filter(|f| f.required && open.contains(&f.name))
        .filter(|f| stored.get(&f.name).is_none_or(Value::is_null))
        .map(|f| FieldError::new(&f.name, format!("{} is required", f.label())))
        .collect();
    if !missing.is_empty() {
        return Err(ServiceError::Fields {
            message: "Some required fields are empty".into(),
            errors: missing,
        });
    }
    tasks::set_values(&mut tx, id, &Value::Object(stored).to_string(), now).await?;
    tasks::set_input(&mut tx, id, "[]", None, None).await?;
    let lines: Vec<String> = schema
        .iter()
        .filter_map(|f| {
            checked
                .get(&f.name)
                .map(|v| format!("{}: {}", f.label(), task_schema::display(v)))
        })
        .collect();
    let note = format!("input submitted by {}", via.as_str());
    let text = lines.join("\n");
    let mut h = history(id, "input", Some(user), &text, now);
    h.thread_note = Some(&note);
    tickets::add_transaction(&mut tx, h).await?;
    let data = json!({"task": id, "fields": Value::Object(checked), "via": via.as_str()});
    crate::service::webhooks::emit_for(&mut tx, id, "task.input_submitted", data, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Every value names an open field and meets its type.
fn check_submission(
    schema: &[FieldDef],
    open: &[String],
    values: Vec<(String, Raw)>,
) -> Result<Map<String, Value>, ServiceError> {
    if open.is_empty() {
        return Err(ServiceError::refused(
            "locked",
            "the task's fields are locked: no input is needed now",
        ));
    }
    let mut out = Map::new();
    let mut errors = Vec::new();
    let mut locked = Vec::new();
    for (name, raw) in values {
        let Some(def) = schema.iter().find(|f| f.name == name) else {
            errors.push(FieldError::new(&name, "no such field in the task type"));
            continue;
        };
        if !open.contains(&def.name) {
            locked.push(format!("{} is locked", def.label()));
            continue;
        }
        let checked = match raw {
            Raw::Text(t) => task_schema::check_text(def, &t),
            Raw::Json(v) => task_schema::check_json(def, &v),
        };
        match checked {
            Ok(v) => {
                out.insert(name, v);
            }
            Err(m) => errors.push(FieldError::new(&name, format!("{}: {m}", def.label()))),
        }
    }
    if !locked.is_empty() {
        // A locked field is a right, not a typo: refused as such (403).
        return Err(ServiceError::refused(
            "locked",
            format!(
                "{}: only the fields open for input can be changed",
                locked.join(", ")
            ),
        ));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ServiceError::Fields {
            message: "The values were not accepted".into(),
            errors,
        })
    }
}

/// A reply by mail from the task's assignee: its `Label: value` lines are
/// submitted; what is refused is mailed back, naming the field and why.
/// A reply that names no field is only a reply.
pub async fn submit_by_mail(
    db: &Db,
    cfg: &Config,
    id: i64,
    user: i64,
    body: &str,
    now: i64,
) -> Result<bool, ServiceError> {
    let Some(row) = super::find(db, id).await? else {
        return Ok(false);
    };
    let schema = schema_of(&row.schema)?;
    let lines = task_schema::reply_lines(body, &schema);
    if lines.is_empty() || row.hidden != 0 || row.assignee_id != Some(user) {
        return Ok(false);
    }
    let values = lines.into_iter().map(|(n, v)| (n, Raw::Text(v))).collect();
    match submit(db, id, user, values, Via::Mail, now).await {
        Ok(()) => Ok(true),
        Err(e @ (ServiceError::Fields { .. } | ServiceError::Refused { .. })) => {
            let text = match &e {
                ServiceError::Fields { message, errors } => std::iter::once(message.clone())
                    .chain(errors.iter().map(|f| format!("- {}", f.message)))
                    .collect::<Vec<_>>()
                    .join("\n"),
                other => other.to_string(),
            };
            let mut tx = db.begin_write().await?;
            let body = format!("Your reply was not taken:\n\n{text}\n\nNothing was changed.");
            tell(
                &mut tx,
                cfg,
                id,
                user,
                "Docket",
                "could not take your reply",
                &body,
                now,
            )
            .await?;
            tx.commit().await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The open fields of a task with their current text, for a form.
pub fn open_fields(
    schema: &[FieldDef],
    open: &[String],
    values: &Map<String, Value>,
) -> Vec<(FieldDef, String)> {
    schema
        .iter()
        .filter(|f| open.contains(&f.name))
        .map(|f| {
            (
                f.clone(),
                values
                    .get(&f.name)
                    .map(task_schema::display)
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Whether ticket `id` is a task whose assignee is `user`.
pub async fn is_assignee(db: &Db, id: i64, user: i64) -> Result<bool, ServiceError> {
    let mut conn = db.conn().await?;
    Ok(tasks::visible_assignee(&mut conn, id).await? == Some(user))
}
