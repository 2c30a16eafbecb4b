//! The command-line contract: exit codes, JSON shapes, configuration layers.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{TestDb, docket, docket_bin, mail};

/// The last line of a `--json` command's output (the summary).
fn last_json_line(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().last().expect("a line")).expect("json")
}

#[test]
fn migrations_have_the_same_names_on_both_backends() {
    let names = |d: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{d}", env!("CARGO_MANIFEST_DIR")))
                .expect("dir")
                .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
                .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
    assert!(!names("sqlite").is_empty());
}

#[test]
fn mailgate_exit_codes() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("d.db");
    let url = format!("sqlite://{}", path.display());
    let msg = mail("a@b.c", "help@example.com", "s", "i@x", "", "b");
    let code = |url: &str, args: &[&str]| {
        let out = docket(url, args, &msg);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(
        code(&url, &["mailgate", "--bogus"]).0,
        Some(64),
        "bad usage is 64"
    );

    // A database that does not exist: 75, and mailgate never creates one.
    let (c, err) = code(&url, &["mailgate", "--queue", "help"]);
    assert_eq!(c, Some(75), "{err}");
    assert!(
        err.contains("does not exist") && err.contains("docket migrate"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!path.exists(), "mailgate created a database");

    // An empty, unmigrated database: 75 with the fix named.
    std::fs::write(&path, b"").expect("empty file");
    let (c, err) = code(&url, &["mailgate", "--queue", "help"]);
    assert_eq!(c, Some(75), "{err}");
    assert!(
        err.contains("not migrated") && err.contains("docket migrate"),
        "{err}"
    );

    assert_eq!(docket(&url, &["migrate"], b"").status.code(), Some(0));
    // An unknown queue is an operator's mistake, not the sender's: 75.
    let (c, err) = code(&url, &["mailgate", "--queue", "nope"]);
    assert_eq!(c, Some(75), "unknown queue defers: {err}");
    assert!(err.contains("nope"), "{err}");

    // Database unreachable: 75, the MTA keeps the mail and retries.
    let (c, err) = code("postgres://docket@127.0.0.1:1/none", &["mailgate"]);
    assert_eq!(c, Some(75), "{err}");
}

#[test]
fn mailgate_refuses_an_oversize_message_with_65_and_keeps_its_header() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("d.db");
    let url = format!("sqlite://{}", path.display());
    assert_eq!(
        docket(
            &url,
            &["queue", "add", "help", "--address", "help@example.com"],
            b""
        )
        .status
        .code(),
        Some(0)
    );
    // The database holds everyone's mail: owner-only, WAL and shm alike.
    use std::os::unix::fs::PermissionsExt;
    for f in ["d.db", "d.db-wal", "d.db-shm"] {
        if let Ok(meta) = std::fs::metadata(dir.path().join(f)) {
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{f}");
        }
    }
    let mut big = mail(
        "big@example.net",
        "help@example.com",
        "huge",
        "big@x",
        "",
        "",
    );
    big.extend(std::iter::repeat_n(b'x', 30 * 1024 * 1024));
    let out = docket(&url, &["mailgate", "--queue", "help"], &big);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(65), "{err}");
    assert!(
        err.contains("too large") && err.contains("26214400"),
        "{err}"
    );
    let list = docket(&url, &["quarantine", "list", "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    let entries = v.as_array().expect("array");
    assert_eq!(entries.len(), 1);
    assert!(
        entries[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("over the limit")
    );
    let id = entries[0]["id"].as_i64().expect("id").to_string();
    let raw = docket(&url, &["quarantine", "show", &id], b"").stdout;
    assert!(
        raw.starts_with(b"From: big@example.net"),
        "the header is kept"
    );
    assert!(raw.len() < 4096, "only the header: {} bytes", raw.len());
    // The ticket count did not move.
    let tickets = docket(&url, &["ticket", "list", "--json"], b"");
    let v: serde_json::Value = serde_json::from_slice(&tickets.stdout).expect("json");
    assert_eq!(v.as_array().expect("array").len(), 0);
}

#[test]
fn mailgate_logs_without_colour_and_takes_log_format_from_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    docket(
        &url,
        &["queue", "add", "help", "--address", "help@example.com"],
        b"",
    );
    let run = |args: &[&str], envs: &[(&str, &str)]| {
        let mut c = Command::new(docket_bin());
        c.args(args)
            .env("DOCKET_DATABASE_URL", &url)
            .env("DOCKET_LOG", "info")
            .env_remove("DOCKET_LOG_FORMAT")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in envs {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&mail(
                "a@b.c",
                "help@example.com",
                "s",
                &format!("c{}@x", args.len()),
                "",
                "b",
            ))
            .expect("write");
        String::from_utf8(child.wait_with_output().expect("wait").stderr).expect("utf8")
    };
    let text = run(&["mailgate"], &[]);
    assert!(text.contains("mail ingested"), "{text}");
    assert!(
        !text.contains('\x1b'),
        "no ANSI escapes on a pipe: {text:?}"
    );
    let cfg = dir.path().join("docket.toml");
    std::fs::write(&cfg, "log_format = \"json\"\n").expect("write");
    let json = run(&["--config", cfg.to_str().expect("p"), "mailgate"], &[]);
    let line = json
        .lines()
        .find(|l| l.contains("mail ingested"))
        .expect("an ingest line");
    serde_json::from_str::<serde_json::Value>(line).expect("the file's log_format is json");
}

async fn a_failing_ingest_is_quarantined_and_mailgate_exits_0(b: crate::support::Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    // A constraint the code did not foresee, standing in for a bug.
    let ddl: &[&str] = match b {
        crate::support::Backend::Sqlite => &["CREATE TRIGGER refuse BEFORE INSERT ON tickets \
             WHEN new.subject = 'poison' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"],
        crate::support::Backend::Postgres => &[
            "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
             IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; \
             RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse BEFORE INSERT ON tickets FOR EACH ROW EXECUTE FUNCTION refuse()",
        ],
    };
    for sql in ddl {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(&t.db.pool)
            .await
            .expect("trigger");
    }
    let url = t.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        docket(
            &url,
            &["mailgate", "--json"],
            &mail("a@b.c", "help@example.com", "poison", "poison@x", "", "b"),
        )
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stored in quarantine: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(line["outcome"], "quarantined");
    assert!(
        line["reason"]
            .as_str()
            .expect("r")
            .contains("refused by test trigger")
    );
    assert_eq!(t.count("quarantine").await, 1);
    assert_eq!(t.count("tickets").await, 0);
    t.close().await;
}
crate::both!(
    a_failing_ingest_is_quarantined_and_mailgate_exits_0_on,
    a_failing_ingest_is_quarantined_and_mailgate_exits_0
);

#[tokio::test]
async fn mailgate_tempfails_when_sqlite_stays_locked() {
    let Some(t) = TestDb::new(crate::support::Backend::Sqlite).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let cfg_dir = tempfile::tempdir().expect("tmp");
    let cfg = cfg_dir.path().join("docket.toml");
    std::fs::write(&cfg, "busy_timeout_secs = 1\n").expect("write");
    let mut lock = t.db.pool.begin_with("BEGIN EXCLUSIVE").await.expect("lock");
    sqlx::query("INSERT INTO users (email, created_at) VALUES ('lock@x', 0)")
        .execute(&mut *lock)
        .await
        .expect("hold");
    let url = t.url.clone();
    let cfg_s = cfg.display().to_string();
    let out = tokio::task::spawn_blocking(move || {
        docket(
            &url,
            &["--config", &cfg_s, "mailgate", "--json"],
            &mail("a@b.c", "help@example.com", "s", "lk@x", "", "b"),
        )
    })
    .await
    .expect("join");
    assert_eq!(
        out.status.code(),
        Some(75),
        "locked past the timeout: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    lock.rollback().await.expect("unlock");
    // Once the lock is gone the same message goes in.
    let url = t.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        docket(
            &url,
            &["mailgate", "--json"],
            &mail("a@b.c", "help@example.com", "s", "lk@x", "", "b"),
        )
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0));
    t.close().await;
}

#[test]
fn import_mbox_prints_outcomes_and_summary() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    assert!(
        docket(
            &url,
            &["queue", "add", "help", "--address", "help@example.com"],
            b""
        )
        .status
        .success()
    );
    let msgs = docket::mail::generate::messages(40, "help@example.com", 3);
    let mbox = dir.path().join("in.mbox");
    std::fs::write(&mbox, docket::mail::generate::to_mbox(&msgs)).expect("write");
    let out = docket(
        &url,
        &[
            "import",
            mbox.to_str().expect("path"),
            "--json",
            "--batch-size",
            "7",
        ],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 41, "one line per message and a summary");
    let summary = &lines[40]["summary"];
    assert_eq!(summary["messages"], 40);
    let created = summary["created"].as_u64().expect("n");
    let replied = summary["replied"].as_u64().expect("n");
    assert_eq!(created + replied, 40);
    assert!(replied > 0, "the generator makes replies, and they thread");
    // Importing again changes nothing.
    let out = docket(
        &url,
        &["import", mbox.to_str().expect("path"), "--json"],
        b"",
    );
    let last = last_json_line(&out.stdout);
    assert_eq!(last["summary"]["duplicate"], 40);
    let list = docket(&url, &["ticket", "list", "--json"], b"");
    let tickets: serde_json::Value = serde_json::from_slice(&list.stdout).expect("json");
    assert_eq!(tickets.as_array().expect("array").len() as u64, created);
}

#[test]
fn configuration_layers_flag_over_env_over_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("docket.toml");
    std::fs::write(&cfg, "subject_tag = \"FromFile\"\ninstance_name = \"file.example\"\nack_rate_limit_per_hour = 9\n").expect("write");
    let run = |extra_env: &[(&str, &str)], args: &[&str]| {
        let mut c = Command::new(docket_bin());
        c.args(["--config", cfg.to_str().expect("p")])
            .args(args)
            .args(["config", "check"]);
        c.env_remove("DOCKET_SUBJECT_TAG")
            .env_remove("DOCKET_INSTANCE_NAME");
        for (k, v) in extra_env {
            c.env(k, v);
        }
        String::from_utf8(c.output().expect("run").stdout).expect("utf8")
    };
    let out = run(&[], &[]);
    assert!(out.contains("subject_tag = \"FromFile\""), "{out}");
    assert!(out.contains("ack_rate_limit_per_hour = 9"), "{out}");
    let out = run(&[("DOCKET_SUBJECT_TAG", "FromEnv")], &[]);
    assert!(out.contains("subject_tag = \"FromEnv\""), "{out}");
    assert!(out.contains("instance_name = \"file.example\""), "{out}");
    let out = run(
        &[("DOCKET_SUBJECT_TAG", "FromEnv")],
        &["--subject-tag", "FromFlag"],
    );
    assert!(out.contains("subject_tag = \"FromFlag\""), "{out}");
    // A misspelt key is an error, not silently ignored.
    std::fs::write(&cfg, "subjct_tag = \"x\"\n").expect("write");
    let st = Command::new(docket_bin())
        .args(["--config", cfg.to_str().expect("p"), "config", "check"])
        .output()
        .expect("run");
    assert!(!st.status.success());
    assert!(String::from_utf8_lossy(&st.stderr).contains("subjct_tag"));
}

#[test]
fn json_logs_when_asked() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    docket(
        &url,
        &["queue", "add", "help", "--address", "help@example.com"],
        b"",
    );
    let out = Command::new(docket_bin())
        .args(["--log-format", "json", "mailgate"])
        .env("DOCKET_DATABASE_URL", &url)
        .env("DOCKET_LOG", "info")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(&mail(
                "a@b.c",
                "help@example.com",
                "s",
                "log@x",
                "",
                "b",
            ))?;
            c.wait_with_output()
        })
        .expect("run");
    let stderr = String::from_utf8(out.stderr).expect("utf8");
    let line = stderr
        .lines()
        .find(|l| l.contains("mail ingested"))
        .expect("an ingest log line");
    let v: serde_json::Value = serde_json::from_str(line).expect("json log line");
    assert_eq!(v["span"]["mail.message_id"], "log@x", "{line}");
}

#[test]
fn import_maildir_and_mailgate_comment_action() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    assert!(
        docket(
            &url,
            &["queue", "add", "help", "--address", "help@example.com"],
            b""
        )
        .status
        .success()
    );
    let maildir = dir.path().join("Maildir");
    for (sub, n) in [("new", 3), ("cur", 2)] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
        for i in 0..n {
            let raw = mail(
                "a@example.net",
                "help@example.com",
                &format!("{sub} {i}"),
                &format!("{sub}{i}@x"),
                "",
                "b",
            );
            std::fs::write(maildir.join(sub).join(format!("{i}.eml:2,S")), raw).expect("write");
        }
    }
    std::fs::create_dir_all(maildir.join("tmp")).expect("mkdir");
    let out = docket(
        &url,
        &["import", maildir.to_str().expect("p"), "--json"],
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = last_json_line(&out.stdout);
    assert_eq!(
        last["summary"]["created"], 5,
        "new/ and cur/ both read: {last}"
    );

    // RT's --action comment: the mail from staff of the queue becomes an
    // internal comment.
    assert!(
        docket(
            &url,
            &["user", "add", "staff@example.com", "--queue", "help"],
            b""
        )
        .status
        .success()
    );
    let raw = mail(
        "staff@example.com",
        "help@example.com",
        "Re: [Docket #1] x",
        "cm1@x",
        "",
        "internal note",
    );
    let out = docket(&url, &["mailgate", "--action", "comment", "--json"], &raw);
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (line["outcome"].as_str(), line["ticket"].as_i64()),
        (Some("commented"), Some(1))
    );
    let show = docket(&url, &["ticket", "show", "1", "--json"], b"");
    let t: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(t["transactions"][1]["type"], "comment");
    assert_eq!(t["transactions"][1]["thread_rule"], "subject-tag");
}

/// An over-size message inside an mbox is quarantined with its header only
/// and the messages after it are imported as usual.
#[test]
fn import_quarantines_an_oversize_message_and_goes_on() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    assert!(
        docket(
            &url,
            &["queue", "add", "help", "--address", "help@example.com"],
            b""
        )
        .status
        .success()
    );
    let mut msgs = docket::mail::generate::messages(3, "help@example.com", 0);
    let mut big = mail(
        "big@example.net",
        "help@example.com",
        "huge attachment",
        "big@x",
        "",
        "",
    );
    big.extend(std::iter::repeat_n(b'x', 300_000));
    big.extend_from_slice(b"\r\n");
    msgs.insert(1, big);
    let mbox = dir.path().join("in.mbox");
    std::fs::write(&mbox, docket::mail::generate::to_mbox(&msgs)).expect("write");
    let out = Command::new(docket_bin())
        .args(["import", mbox.to_str().expect("path"), "--json"])
        .env("DOCKET_DATABASE_URL", &url)
        .env("DOCKET_MAX_MESSAGE_BYTES", "100000")
        .env("DOCKET_LOG", "error")
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = last_json_line(&out.stdout);
    assert_eq!(
        (
            last["summary"]["messages"].as_u64(),
            last["summary"]["quarantined"].as_u64()
        ),
        (Some(4), Some(1)),
        "{last}"
    );
    let q = docket(&url, &["quarantine", "list", "--json"], b"");
    let q: serde_json::Value = serde_json::from_slice(&q.stdout).expect("json");
    let entry = &q.as_array().expect("array")[0];
    assert!(
        entry["reason"]
            .as_str()
            .expect("reason")
            .contains("over the limit"),
        "{entry}"
    );
}
