//! The house rules ARCHITECTURE.md states, checked on the source: which
//! room may import which, SQL only in `store/`, small files and functions.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (rel, std::fs::read_to_string(&p).expect("read"))
        })
        .collect()
}

/// The room a file belongs to: `store/x.rs` → `store`, `app.rs` → `app`.
fn room(rel: &str) -> &str {
    rel.split('/').next().unwrap_or(rel).trim_end_matches(".rs")
}

/// Rooms each room may import from (besides itself).
fn allowed(room: &str) -> &'static [&'static str] {
    match room {
        "domain" => &[],
        "telemetry" => &[],
        "config" => &["domain", "telemetry"],
        "store" => &["domain", "config"],
        "mail" => &["domain", "store", "config"],
        // The LDAP client: like the mail clients, below the use cases.
        "directory" => &["domain", "config"],
        "service" => &["mail", "directory", "domain", "store", "config"],
        "web" => &["service", "mail", "domain", "store", "config"],
        "app" => &["web", "service", "mail", "domain", "store", "config"],
        "cli" => &[
            "app",
            "web",
            "service",
            "mail",
            "domain",
            "store",
            "config",
            "telemetry",
        ],
        _ => &[
            "app",
            "cli",
            "web",
            "service",
            "mail",
            "domain",
            "store",
            "config",
            "telemetry",
        ],
    }
}

/// Production code only: a file's `#[cfg(test)] mod tests` may reach further.
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]\nmod tests")
        .map_or(text, |i| &text[..i])
}

/// The rooms named by `crate::room` paths, including `use crate::{a, b}`.
fn imported_rooms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for part in group[..end].split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out.retain(|r| !r.is_empty());
    out
}

#[test]
fn lower_rooms_never_import_higher_ones() {
    let mut wrong = Vec::new();
    for (rel, text) in src() {
        let me = room(&rel);
        for r in imported_rooms(without_tests(&text)) {
            if r != me && !allowed(me).contains(&r.as_str()) {
                wrong.push(format!("{rel} imports crate::{r}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layering_check_sees_a_violation() {
    let text = "use crate::{store, web};\nfn f() { crate::cli::run(); }";
    assert_eq!(imported_rooms(text), vec!["store", "web", "cli"]);
    assert!(!allowed("service").contains(&"web"));
}

#[test]
fn the_sql_check_tells_sql_from_prose() {
    assert!(is_sql(r#"sqlx::query("SELECT 1")"#));
    assert!(!is_sql(r#""Select at least one ticket first.""#));
    assert!(!is_sql("// UPDATE the row"));
}

/// SQL is written in capitals here; prose is not.
fn is_sql(line: &str) -> bool {
    [
        "SELECT ",
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
        "sqlx::query",
    ]
    .iter()
    .any(|k| line.contains(k) && !line.trim_start().starts_with("//"))
}

#[test]
fn sql_lives_only_in_store() {
    let mut wrong = Vec::new();
    for (rel, text) in src() {
        if room(&rel) == "store" {
            continue;
        }
        for (n, line) in without_tests(&text).lines().enumerate() {
            let sql = is_sql(line);
            if sql {
                wrong.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL outside store/:\n{}",
        wrong.join("\n")
    );
}

/// `fn` spans: from the signature to the `}` at its indentation.
fn long_functions(text: &str, limit: usize) -> Vec<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let indent = line.len() - t.len();
        let t = t
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub ")
            .trim_start_matches("async ");
        if !t.starts_with("fn ") || t.ends_with(';') {
            continue;
        }
        let close = format!("{}}}", " ".repeat(indent));
        if let Some(len) = lines[i..].iter().position(|l| *l == close)
            && len + 1 > limit
        {
            out.push((i + 1, len + 1));
        }
    }
    out
}

#[test]
fn files_and_functions_stay_small() {
    let mut wrong = Vec::new();
    for (rel, text) in src() {
        let n = text.lines().count();
        if n > 500 {
            wrong.push(format!("{rel}: {n} lines (at most 500)"));
        }
        if matches!(room(&rel), "mail" | "service") {
            for (line, len) in long_functions(without_tests(&text), 80) {
                wrong.push(format!(
                    "{rel}:{line}: a function of {len} lines (at most 80)"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_function_length_check_measures() {
    let body = "    x();\n".repeat(85);
    let text = format!("fn short() {{\n}}\n\npub async fn long() {{\n{body}}}\n");
    assert_eq!(long_functions(&text, 80), vec![(4, 87)]);
}
