//! Staff from a real OpenLDAP directory: sign-in in Chromium, groups to
//! queue roles, removal disabling the account at the next sync, wrong
//! passwords and filter injection refused, and a directory outage that
//! leaves the local admin able to sign in.

use std::process::Command;

use docket::config::{Ldap, LdapGroup};
use docket::domain::secret::Secret;

use crate::both;
use crate::browser::{Browser, PASSWORD};
use crate::support::ldap::{BASE, ROOT_DN, ROOT_PW, Slapd};
use crate::support::{Backend, Served, TestDb, docket, docket_bin, ingest, mail, ok};

both!(ldap_staff_sign_in_with_roles_from_groups, directory);

fn ldif() -> String {
    let person = |uid: &str, name: &str| {
        format!(
            "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n\
             sn: {uid}\nmail: {uid}@example.com\nuserPassword: {PASSWORD}\n\n"
        )
    };
    let group = |cn: &str, member: &str| {
        format!(
            "dn: cn={cn},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {cn}\n\
             member: uid={member},ou=people,{BASE}\n\n"
        )
    };
    format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n{}{}{}{}{}{}",
        person("eve", "Eve Engineer"),
        person("tia", "Tia Triager"),
        person("bob", "Bob Nogroup"),
        group("ops-engineers", "eve"),
        group("ops-triagers", "tia"),
        group("docket-admins", "tia"),
    )
}

fn ldap_config(url: &str) -> Ldap {
    let g = |cn: &str, role: &str| LdapGroup {
        dn: format!("cn={cn},ou=groups,{BASE}"),
        queue: Some("ops".into()),
        role: Some(role.into()),
        admin: false,
    };
    Ldap {
        url: url.into(),
        bind_dn: Some(ROOT_DN.into()),
        bind_password: Some(Secret::new(ROOT_PW)),
        base_dn: BASE.into(),
        user_filter: "(mail={email})".into(),
        group_member_attribute: "member".into(),
        starttls: false,
        tls_ca_file: None,
        groups: vec![g("ops-engineers", "engineer"), g("ops-triagers", "triager")],
    }
}

/// The CLI with the same directory settings from a config file; the
/// service password from the environment, never the file.
fn cli(
    t: &TestDb,
    url: &str,
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    cli_with(t, &format!("url = \"{url}\""), dir, args, stdin)
}

/// [`cli`] with more `[ldap]` settings (`url` among them).
fn cli_with(
    t: &TestDb,
    settings: &str,
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    let conf = dir.join("docket.toml");
    std::fs::write(
        &conf,
        format!(
            "[ldap]\n{settings}\nbind_dn = \"{ROOT_DN}\"\nbind_password_env = \"TEST_LDAP_PW\"\n\
         base_dn = \"{BASE}\"\n[[ldap.groups]]\ndn = \"cn=ops-engineers,ou=groups,{BASE}\"\n\
         queue = \"ops\"\nrole = \"engineer\"\n[[ldap.groups]]\n\
         dn = \"cn=ops-triagers,ou=groups,{BASE}\"\nqueue = \"ops\"\nrole = \"triager\"\n"
        ),
    )
    .unwrap();
    let mut all = vec!["--config", conf.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut child = Command::new(docket_bin())
        .args(&all)
        .env("DOCKET_DATABASE_URL", &t.url)
        .env("TEST_LDAP_PW", ROOT_PW)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

async fn login(base: &str, email: &str, password: &str) -> (u16, String) {
    let (status, text, _) = login_client(base, email, password).await;
    (status, text)
}

async fn login_client(base: &str, email: &str, password: &str) -> (u16, String, reqwest::Client) {
    let (r, c) = crate::support::web::sign_in(base, email, password).await;
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_string());
    let text = r.text().await.unwrap();
    (status, location.unwrap_or(text), c)
}

async fn directory(b: Backend) {
    let Some(mut slapd) = Slapd::start(&ldif()).await else {
        return;
    };
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    t.add_queue("ops", "ops@example.com", None).await;
    ok(docket(
        &t.url,
        &["user", "add", "root@example.com", "--role", "admin"],
        format!("{PASSWORD}\n").as_bytes(),
    ));
    let id = ingest(
        &t.ingestor(),
        &mail(
            "Sam <sam@example.net>",
            "ops@example.com",
            "Disk full",
            "d1@x",
            "",
            "On db-3.",
        ),
        None,
    )
    .await
    .ticket
    .unwrap();
    // Eve wrote once before, signing "E."; the directory's name wins.
    ingest(
        &t.ingestor(),
        &mail(
            "E. <eve@example.com>",
            "ops@example.com",
            "Hi",
            "e0@x",
            "",
            "Hello.",
        ),
        None,
    )
    .await;
    let mut cfg = t.config();
    cfg.ldap = Some(ldap_config(&slapd.url));
    let served = Served::start(&t, cfg, Default::default(), |a| a).await;
    let dir = tempfile::tempdir().unwrap();

    // An engineer signs in through the directory in Chromium and sees the
    // mapped queue's ticket.
    br.sign_in(&served.base, "eve@example.com").await;
    br.client
        .goto(&format!("{}/queues/ops", served.base))
        .await
        .unwrap();
    br.wait_text("Disk full").await;
    br.screenshot("ldap-engineer-queue").await;
    let role = t
        .scalar_i64(
            "SELECT COUNT(*) FROM queue_members m JOIN users u ON u.id = m.user_id \
        WHERE u.email = 'eve@example.com' AND m.role = 'engineer'",
        )
        .await;
    assert_eq!(role, 1, "the group maps to the engineer role");
    let named = t
        .scalar_i64(
            "SELECT COUNT(*) FROM users WHERE email = 'eve@example.com'              AND display_name = 'Eve Engineer'",
        )
        .await;
    assert_eq!(named, 1, "the display name comes from the directory");
    ok(docket(
        &t.url,
        &["ticket", "take", &id.to_string(), "--as", "eve@example.com"],
        b"",
    ));
    // A triager (from their group) assigns; an engineer cannot.
    assert_eq!(
        login(&served.base, "tia@example.com", PASSWORD).await.0,
        303
    );
    ok(docket(
        &t.url,
        &[
            "ticket",
            "assign",
            &id.to_string(),
            "eve@example.com",
            "--as",
            "tia@example.com",
        ],
        b"",
    ));
    let out = docket(
        &t.url,
        &[
            "ticket",
            "assign",
            &id.to_string(),
            "tia@example.com",
            "--as",
            "eve@example.com",
        ],
        b"",
    );
    assert!(!out.status.success(), "an engineer does not assign");

    // Refusals: a wrong password, an empty one, an injection.
    assert_eq!(login(&served.base, "eve@example.com", "wrong").await.0, 401);
    assert_eq!(
        login(&served.base, "eve@example.com", "").await.0,
        401,
        "no anonymous bind"
    );
    assert_eq!(login(&served.base, "*)(uid=*", PASSWORD).await.0, 401);
    assert_eq!(login(&served.base, "*", PASSWORD).await.0, 401);

    // `docket ldap test`: the DN, the roles, and whether the bind works.
    let out = cli(
        &t,
        &slapd.url,
        dir.path(),
        &["ldap", "test", "eve@example.com"],
        PASSWORD,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("uid=eve,ou=people") && text.contains("ops: engineer"),
        "{text}"
    );
    let out = cli(
        &t,
        &slapd.url,
        dir.path(),
        &["ldap", "test", "eve@example.com"],
        "wrong",
    );
    assert_eq!(out.status.code(), Some(1));
    // Over TLS: ldaps:// and StartTLS, trusting the directory's CA; a
    // certificate nobody vouches for is refused.
    let ca = slapd.ca_file().display().to_string();
    for settings in [
        format!("url = \"{}\"\ntls_ca_file = \"{ca}\"", slapd.ldaps_url),
        format!(
            "url = \"{}\"\nstarttls = true\ntls_ca_file = \"{ca}\"",
            slapd.url
        ),
    ] {
        let out = cli_with(
            &t,
            &settings,
            dir.path(),
            &["ldap", "test", "eve@example.com"],
            PASSWORD,
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{settings}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("uid=eve,ou=people"), "{text}");
    }
    let untrusted = format!("url = \"{}\"", slapd.ldaps_url);
    let out = cli_with(
        &t,
        &untrusted,
        dir.path(),
        &["ldap", "test", "eve@example.com"],
        PASSWORD,
    );
    assert!(!out.status.success(), "an unknown CA is not trusted");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("certificate") || err.contains("unknownissuer"),
        "{err}"
    );

    // Eve leaves her group: the next sync disables her and gives her
    // ticket back to triage with a note.
    slapd.modify(&format!(
        "dn: cn=ops-engineers,ou=groups,{BASE}\nchangetype: modify\n\
        replace: member\nmember: uid=tia,ou=people,{BASE}\n"
    ));
    let out = cli(&t, &slapd.url, dir.path(), &["ldap", "sync", "--json"], "");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["disabled"], serde_json::json!(["eve@example.com"]), "{r}");
    assert_eq!(r["unowned"], serde_json::json!([id]), "{r}");
    let shown: serde_json::Value = serde_json::from_str(&ok(docket(
        &t.url,
        &["ticket", "show", &id.to_string(), "--json"],
        b"",
    )))
    .unwrap();
    assert!(shown["owner"].is_null(), "{shown}");
    assert!(
        shown.to_string().contains("left their directory group"),
        "{shown}"
    );
    assert_eq!(
        login(&served.base, "eve@example.com", PASSWORD).await,
        (303, "/my".to_string()),
        "no staff power left: the requestor view"
    );
    // Her history keeps what the directory gave and took.
    let h: serde_json::Value = serde_json::from_str(&ok(docket(
        &t.url,
        &["user", "history", "eve@example.com", "--json"],
        b"",
    )))
    .unwrap();
    let said: Vec<(String, String, String, String)> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
            (s("queue"), s("from"), s("to"), s("source"))
        })
        .collect();
    let row = |q: &str, f: &str, to: &str| {
        (
            q.to_string(),
            f.to_string(),
            to.to_string(),
            "directory".to_string(),
        )
    };
    assert_eq!(
        said,
        vec![
            row("-", "requestor", "staff"),
            row("ops", "-", "engineer"),
            row("ops", "engineer", "-"),
            row("-", "staff", "requestor"),
        ],
        "{h}"
    );
    assert!(h.to_string().contains("left their directory groups"), "{h}");

    // Someone the directory knows in no mapped group is a requestor: they
    // see their own tickets only and file one from the web.
    let bob_first = ingest(
        &t.ingestor(),
        &mail(
            "Bob <bob@example.com>",
            "ops@example.com",
            "My laptop",
            "b1@x",
            "",
            "It will not boot.",
        ),
        None,
    )
    .await
    .ticket
    .unwrap();
    ok(docket(
        &t.url,
        &["queue", "set", "ops", "--requestors-may-file", "true"],
        b"",
    ));
    let (status, to, bob) = login_client(&served.base, "bob@example.com", PASSWORD).await;
    assert_eq!((status, to.as_str()), (303, "/my"));
    let page = bob
        .get(format!("{}/my", served.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("My laptop") && !page.contains("Disk full"),
        "{page}"
    );
    let staff = bob
        .get(format!("{}/queues", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(staff.status(), 303, "no staff pages for a requestor");
    let form = bob
        .get(format!("{}/my/new", served.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = form.find("name=\"form\" value=\"").unwrap() + 19;
    let check = form[at..].split('"').next().unwrap().to_string();
    let r = bob
        .post(format!("{}/my/new", served.base))
        .form(&[
            ("form", check.as_str()),
            ("queue", "ops"),
            ("subject", ""),
            ("body", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a missing subject comes back on the form");
    let text = r.text().await.unwrap();
    assert!(text.contains("needs a subject"), "{text}");
    let r = bob
        .post(format!("{}/my/new", served.base))
        .form(&[
            ("form", check.as_str()),
            ("queue", "ops"),
            ("subject", "Printer"),
            ("body", "Out of toner."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/my?done=filed");
    let filed = t.scalar_i64("SELECT MAX(id) FROM tickets").await;
    assert!(filed > bob_first);
    let shown: serde_json::Value = serde_json::from_str(&ok(docket(
        &t.url,
        &["ticket", "show", &filed.to_string(), "--json"],
        b"",
    )))
    .unwrap();
    assert_eq!(
        shown["requestors"],
        serde_json::json!(["bob@example.com"]),
        "{shown}"
    );
    let acks = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'ack' AND ticket_id = {filed}"
        ))
        .await;
    assert_eq!(acks, 1, "acknowledged as mail would be");
    let stranger = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = stranger
        .post(format!("{}/my/new", served.base))
        .form(&[
            ("form", check.as_str()),
            ("queue", "ops"),
            ("subject", "x"),
            ("body", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.headers()["location"], "/login", "no link, no filing");

    // The mailed link works the same: opened once, it keeps `/my` open.
    let bob_id = t
        .scalar_i64("SELECT id FROM users WHERE email = 'bob@example.com'")
        .await;
    let link =
        docket::service::filing::link_for_user(&t.db, &t.config(), bob_id, docket::store::now_ms())
            .await
            .unwrap();
    br.client.delete_all_cookies().await.unwrap();
    br.client
        .goto(&format!("{}/my/{link}", served.base))
        .await
        .unwrap();
    br.client
        .goto(&format!("{}/my/new", served.base))
        .await
        .unwrap();
    br.wait_text("File the request").await;
    br.screenshot("my-new").await;

    // The directory goes away: a clear message; the local admin still signs in.
    slapd.stop();
    let (status, page) = login(&served.base, "tia@example.com", PASSWORD).await;
    assert_eq!(status, 503);
    assert!(page.contains("directory cannot be reached"), "{page}");
    assert_eq!(
        login(&served.base, "root@example.com", PASSWORD).await.0,
        303
    );
    br.stop().await;
    served.stop().await;
    t.close().await;
}
