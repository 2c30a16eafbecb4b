//! The web UI over real HTTP: sign-in, rights, CSRF, escaping, actions.

use docket::app::Options;

use crate::both;
use crate::support::{Backend, Served, TestDb, ingest, mail};

const PASSWORD: &str = "correct horse battery";

struct App {
    base: String,
    t: TestDb,
    _served: Served,
}

impl App {
    /// The whole application on a free port, as `serve` builds it.
    async fn start(b: Backend) -> Option<App> {
        let t = TestDb::new(b).await?;
        let served = Served::start(&t, t.config(), Options::default(), |a| a).await;
        Some(App {
            base: served.base.clone(),
            t,
            _served: served,
        })
    }

    async fn staff(&self, email: &str, role: &str, queues: &[i64]) {
        let mut c = self.t.db.pool.acquire().await.expect("conn");
        let hash = docket::service::auth::hash_password(PASSWORD).expect("hash");
        let id = docket::store::users::upsert_staff(&mut c, email, role, Some(&hash), 0)
            .await
            .expect("user");
        for q in queues {
            docket::store::users::add_to_queue(&mut c, *q, id)
                .await
                .expect("member");
        }
    }

    fn client() -> reqwest::Client {
        crate::support::web::client()
    }

    async fn get(&self, c: &reqwest::Client, path: &str) -> reqwest::Response {
        c.get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("get")
    }

    async fn post(
        &self,
        c: &reqwest::Client,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        c.post(format!("{}{path}", self.base))
            .form(form)
            .send()
            .await
            .expect("post")
    }

    /// The CSRF token in the first form of a page.
    async fn csrf(&self, c: &reqwest::Client, path: &str) -> String {
        let html = self.get(c, path).await.text().await.expect("body");
        let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
        html[at..].split('"').next().expect("token").to_string()
    }

    /// A client whose requests come, through a proxy on this host, from `ip`.
    fn client_from(ip: &str) -> reqwest::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-forwarded-for", ip.parse().expect("header value"));
        reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(h)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    async fn sign_in(&self, email: &str, password: &str) -> (reqwest::Client, reqwest::StatusCode) {
        self.sign_in_with(Self::client(), email, password).await
    }

    async fn sign_in_with(
        &self,
        c: reqwest::Client,
        email: &str,
        password: &str,
    ) -> (reqwest::Client, reqwest::StatusCode) {
        let csrf = self.csrf(&c, "/login").await;
        let r = self
            .post(
                &c,
                "/login",
                &[("csrf", &csrf), ("email", email), ("password", password)],
            )
            .await;
        (c, r.status())
    }
}

async fn sign_in_work_and_sign_out(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let q = app.t.add_queue("help", "help@example.com", None).await;
    app.staff("alice@example.com", "staff", &[q]).await;
    let o = ingest(
        &app.t.ingestor(),
        &mail(
            "Sam <sam@example.net>",
            "help@example.com",
            "Printer offline",
            "w1@x",
            "",
            "It is offline.",
        ),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");

    // Not signed in: sent to the sign-in page.
    let r = app.get(&App::client(), "/queues").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login");

    let (_, status) = app.sign_in("alice@example.com", "wrong password").await;
    assert_eq!(status, 401, "a wrong password is refused");
    let (c, status) = app.sign_in("alice@example.com", PASSWORD).await;
    assert_eq!(status, 303);

    let overview = app.get(&c, "/queues").await.text().await.expect("body");
    assert!(overview.contains("href=\"/queues/help\""), "{overview}");
    let list = app
        .get(&c, "/queues/help?status=new")
        .await
        .text()
        .await
        .expect("body");
    assert!(list.contains("Printer offline"));
    let none = app
        .get(&c, "/queues/help?status=resolved")
        .await
        .text()
        .await
        .expect("body");
    assert!(!none.contains("Printer offline"), "the filter filters");
    let bad = app.get(&c, "/queues/help?status=bogus").await;
    assert_eq!(
        bad.status(),
        400,
        "a bad filter gets a message, not a crash"
    );

    let csrf = app.csrf(&c, &format!("/tickets/{id}")).await;
    let r = app
        .post(
            &c,
            &format!("/tickets/{id}/reply"),
            &[("csrf", &csrf), ("body", "Restarting it now.")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = app
        .get(&c, &format!("/tickets/{id}?done=replied"))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        page.contains("Restarting it now."),
        "the reply is in the history"
    );
    assert!(page.contains("Reply recorded"));
    let queued: i64 = app
        .t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {id} AND kind = 'reply'"
        ))
        .await;
    assert_eq!(queued, 1, "and in the outbox");

    let r = app
        .post(
            &c,
            &format!("/tickets/{id}/action"),
            &[("csrf", &csrf), ("action", "take")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let shown = app.t.show(id).await;
    assert_eq!(shown.ticket.owner.as_deref(), Some("alice@example.com"));
    assert_eq!(
        shown.ticket.status, "open",
        "a staff reply opens a new ticket"
    );

    let found = app
        .get(&c, "/search?q=offline")
        .await
        .text()
        .await
        .expect("body");
    assert!(found.contains(&format!("href=\"/tickets/{id}\"")));

    let r = app.post(&c, "/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), 303);
    assert_eq!(app.get(&c, "/queues").await.status(), 303, "signed out");
    app.t.close().await;
}
both!(
    sign_in_work_a_ticket_and_sign_out,
    sign_in_work_and_sign_out
);

async fn rights_and_csrf(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let help = app.t.add_queue("help", "help@example.com", None).await;
    let hr = app.t.add_queue("hr", "hr@example.com", None).await;
    app.staff("alice@example.com", "staff", &[help]).await;
    let raw = b"From: Boss <boss@example.net>\r\nTo: hr@example.com\r\nSubject: salaries\r\nMessage-ID: <hr1@x>\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecret\r\n\
--b\r\nContent-Type: text/html; name=\"x.html\"\r\nContent-Disposition: attachment; filename=\"x.html\"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n";
    let hr_ticket = ingest(&app.t.ingestor(), raw, None)
        .await
        .ticket
        .expect("ticket");
    let att: i64 = app.t.scalar_i64("SELECT id FROM attachments").await;
    let _ = hr;
    let (c, _) = app.sign_in("alice@example.com", PASSWORD).await;
    assert_eq!(
        app.get(&c, &format!("/tickets/{hr_ticket}")).await.status(),
        404,
        "a ticket in another queue is a 404"
    );
    assert_eq!(
        app.get(&c, &format!("/attachments/{att}")).await.status(),
        404,
        "so is its attachment"
    );
    assert_eq!(app.get(&c, "/queues/hr").await.status(), 404);
    let found = app
        .get(&c, "/search?q=salaries")
        .await
        .text()
        .await
        .expect("body");
    assert!(
        !found.contains(&format!("href=\"/tickets/{hr_ticket}\"")),
        "search respects rights"
    );
    assert_eq!(
        app.get(&c, "/admin").await.status(),
        404,
        "staff are not admins"
    );

    // A form without (or with a wrong) CSRF token is refused and changes nothing.
    let o = ingest(
        &app.t.ingestor(),
        &mail("sam@example.net", "help@example.com", "hi", "h1@x", "", "b"),
        None,
    )
    .await;
    let id = o.ticket.expect("ticket");
    let r = app
        .post(&c, &format!("/tickets/{id}/comment"), &[("body", "sneaky")])
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post(
            &c,
            &format!("/tickets/{id}/comment"),
            &[("csrf", "forged"), ("body", "sneaky")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.t
            .scalar_i64("SELECT COUNT(*) FROM transactions WHERE body = 'sneaky'")
            .await,
        0
    );
    // The sign-in form too.
    let r = app
        .post(
            &App::client(),
            "/login",
            &[("email", "alice@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 403);

    // An admin may download the attachment: as a download, with nosniff.
    app.staff("root@example.com", "admin", &[]).await;
    let (admin, _) = app.sign_in("root@example.com", PASSWORD).await;
    let r = app.get(&admin, &format!("/attachments/{att}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .starts_with("attachment;")
    );
    let page = app.get(&admin, &format!("/tickets/{hr_ticket}")).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    app.t.close().await;
}
both!(rights_csrf_downloads_and_headers, rights_and_csrf);

async fn hostile_mail_is_inert(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let q = app.t.add_queue("help", "help@example.com", None).await;
    app.staff("alice@example.com", "staff", &[q]).await;
    let raw = "From: \"<img src=x onerror=alert(1)>\" <evil@example.net>\r\nTo: help@example.com\r\n\
Subject: <script>alert('subject')</script>\r\nMessage-ID: <evil1@x>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<p onclick=alert(2)>Hi</p><script>alert('body')</script><img src=x onerror=alert(3)>\r\n\
--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"<svg onload=alert(4)>.txt\"\r\n\r\nx\r\n--b--\r\n";
    let id = ingest(&app.t.ingestor(), raw.as_bytes(), None)
        .await
        .ticket
        .expect("ticket");
    let (c, _) = app.sign_in("alice@example.com", PASSWORD).await;
    for path in [
        format!("/tickets/{id}"),
        "/queues/help".to_string(),
        "/search?q=alert".to_string(),
    ] {
        let html = app.get(&c, &path).await.text().await.expect("body");
        assert!(!html.contains("<script>alert"), "{path}: a live script tag");
        assert!(!html.contains("<img src=x"), "{path}: a live img tag");
        assert!(!html.contains("<svg"), "{path}: a live svg tag");
        assert!(!html.contains("<p onclick"), "{path}: a live handler");
    }
    app.t.close().await;
}
both!(
    hostile_subject_body_sender_and_filename_render_inert,
    hostile_mail_is_inert
);

#[tokio::test]
async fn failed_sign_ins_are_limited() {
    let Some(app) = App::start(Backend::Sqlite).await else {
        return;
    };
    app.staff("alice@example.com", "staff", &[]).await;
    for _ in 0..5 {
        assert_eq!(app.sign_in("alice@example.com", "nope").await.1, 401);
    }
    assert_eq!(
        app.sign_in("alice@example.com", PASSWORD).await.1,
        429,
        "even the right password waits"
    );
    // The lock is on that address from that client only: Alice at her desk
    // still signs in, and the stranger may still try other addresses.
    let desk = App::client_from("198.51.100.7");
    assert_eq!(
        app.sign_in_with(desk, "alice@example.com", PASSWORD)
            .await
            .1,
        303,
        "a stranger cannot lock Alice out"
    );
    app.staff("bob@example.com", "staff", &[]).await;
    assert_eq!(app.sign_in("bob@example.com", PASSWORD).await.1, 303);
    let stranger = App::client_from("192.0.2.9");
    for _ in 0..5 {
        assert_eq!(
            app.sign_in_with(stranger.clone(), "alice@example.com", "nope")
                .await
                .1,
            401
        );
    }
    assert_eq!(
        app.sign_in_with(stranger, "alice@example.com", PASSWORD)
            .await
            .1,
        429,
        "a forwarded client is limited on its own"
    );
    assert_eq!(
        app.sign_in_with(
            App::client_from("198.51.100.7"),
            "alice@example.com",
            PASSWORD
        )
        .await
        .1,
        303
    );
    let health = app.get(&App::client(), "/healthz").await;
    assert_eq!(health.status(), 200);
    app.t.close().await;
}

async fn paging_sorting_and_fields(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let q = app.t.add_queue("help", "help@example.com", None).await;
    app.staff("alice@example.com", "staff", &[q]).await;
    let items: Vec<(Vec<u8>, docket::service::ingest::Source)> = (0..120)
        .map(|i| {
            (
                mail(
                    &format!("u{i}@example.net"),
                    "help@example.com",
                    &format!("issue {i}"),
                    &format!("p{i}@x"),
                    "",
                    "b",
                ),
                docket::service::ingest::Source::Bench,
            )
        })
        .collect();
    app.t
        .ingestor()
        .ingest_batch(&items, &Default::default())
        .await
        .expect("batch");
    let (c, _) = app.sign_in("alice@example.com", PASSWORD).await;
    for sort in ["oldest", "newest", "updated", "priority"] {
        let mut seen: Vec<i64> = Vec::new();
        let mut next = Some(format!("/queues/help?sort={sort}"));
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            assert!(pages < 10, "pagination loops");
            let html = app
                .get(&c, &path.replace("&amp;", "&").replace("&#38;", "&"))
                .await
                .text()
                .await
                .expect("body");
            for part in html.split("<td><a href=\"/tickets/").skip(1) {
                seen.push(part.split('"').next().expect("id").parse().expect("number"));
            }
            next = html
                .split("rel=\"next\" href=\"")
                .nth(1)
                .map(|r| r.split('"').next().expect("href").to_string());
        }
        seen.dedup(); // each row links its number and its subject
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            (seen.len(), unique.len()),
            (120, 120),
            "{sort}: every ticket once across {pages} pages"
        );
        if sort == "oldest" {
            assert!(seen.windows(2).all(|w| w[0] < w[1]));
        }
    }
    assert_eq!(
        app.get(&c, "/queues/help?sort=sideways").await.status(),
        400
    );
    assert_eq!(
        app.get(&c, "/queues/help?after=garbage").await.status(),
        400
    );

    let csrf = app.csrf(&c, "/tickets/1").await;
    app.post(
        &c,
        "/tickets/1/action",
        &[("csrf", &csrf), ("action", "priority"), ("priority", "7")],
    )
    .await;
    app.post(
        &c,
        "/tickets/1/action",
        &[("csrf", &csrf), ("action", "due"), ("due", "2026-12-31")],
    )
    .await;
    let bad = app
        .post(
            &c,
            "/tickets/1/action",
            &[("csrf", &csrf), ("action", "due"), ("due", "soon")],
        )
        .await;
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text().await.expect("body").contains("2026-12-31"),
        "the message says what a date looks like"
    );
    let assign_bob = [
        ("csrf", csrf.as_str()),
        ("action", "assign"),
        ("owner", "bob@example.com"),
    ];
    // Bob does not work this queue: refused, with the reason on the page.
    let refused = app.post(&c, "/tickets/1/action", &assign_bob).await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.expect("body").contains("cannot own"));
    assert_eq!(app.t.show(1).await.ticket.owner, None);
    app.staff("bob@example.com", "staff", &[q]).await;
    app.post(&c, "/tickets/1/action", &assign_bob).await;
    let t = app.t.show(1).await;
    assert_eq!(t.ticket.priority, 7);
    assert_eq!(t.ticket.due_at.as_deref(), Some("2026-12-31T00:00:00Z"));
    assert_eq!(t.ticket.owner.as_deref(), Some("bob@example.com"));
    app.t.close().await;
}
both!(
    keyset_pages_every_sort_and_ticket_fields,
    paging_sorting_and_fields
);

async fn admin_manages_queues_and_staff(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    app.t.add_queue("help", "help@example.com", None).await;
    app.staff("root@example.com", "admin", &[]).await;
    let (admin, _) = app.sign_in("root@example.com", PASSWORD).await;
    let csrf = app.csrf(&admin, "/admin").await;
    let r = app
        .post(
            &admin,
            "/admin/queues",
            &[
                ("csrf", &csrf),
                ("name", "ops"),
                ("address", "Ops@Example.com"),
                ("comment_address", "ops-comment@example.com"),
                ("tag", "OPS"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let dup = app
        .post(
            &admin,
            "/admin/queues",
            &[
                ("csrf", &csrf),
                ("name", "ops2"),
                ("address", "ops@example.com"),
            ],
        )
        .await;
    assert_eq!(
        dup.status(),
        400,
        "an address in use is refused with a message"
    );
    let bad = app
        .post(
            &admin,
            "/admin/queues",
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("address", "not-an-address"),
            ],
        )
        .await;
    assert!(
        bad.text()
            .await
            .expect("body")
            .contains("is not an e-mail address")
    );
    let r = app
        .post(
            &admin,
            "/admin/users",
            &[
                ("csrf", &csrf),
                ("email", "dana@example.com"),
                ("role", "staff"),
                ("password", PASSWORD),
                ("queues", "ops"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = app.get(&admin, "/admin").await.text().await.expect("body");
    assert!(page.contains("ops@example.com") && page.contains("dana@example.com"));
    // What the admin did is in the role changes: Dana's account, then ops.
    let changes = &page[page.find("Role changes").expect("role changes")..];
    assert!(
        changes.contains(
            "<td>dana@example.com</td><td>queue ops</td><td>—</td><td>engineer</td><td>admin</td>"
        ),
        "{changes}"
    );
    // Dana now works the ops queue, and only it.
    let (dana, status) = app.sign_in("dana@example.com", PASSWORD).await;
    assert_eq!(status, 303);
    assert_eq!(app.get(&dana, "/queues/ops").await.status(), 200);
    assert_eq!(app.get(&dana, "/queues/help").await.status(), 404);
    let dcsrf = app.csrf(&dana, "/queues").await;
    let r = app
        .post(
            &dana,
            "/admin/queues",
            &[
                ("csrf", &dcsrf),
                ("name", "evil"),
                ("address", "evil@example.com"),
            ],
        )
        .await;
    assert_eq!(r.status(), 404, "staff cannot administer");
    app.t.close().await;
}
both!(
    admin_adds_queues_and_staff_with_membership,
    admin_manages_queues_and_staff
);

async fn bulk_and_admin_queues_of_mail(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let q = app.t.add_queue("help", "help@example.com", None).await;
    app.staff("alice@example.com", "staff", &[q]).await;
    app.staff("root@example.com", "admin", &[q]).await;
    let ing = app.t.ingestor();
    let a = ingest(
        &ing,
        &mail("a@example.net", "help@example.com", "one", "bk1@x", "", "b"),
        None,
    )
    .await
    .ticket
    .expect("t");
    let b2 = ingest(
        &ing,
        &mail("b@example.net", "help@example.com", "two", "bk2@x", "", "b"),
        None,
    )
    .await
    .ticket
    .expect("t");
    let (c, _) = app.sign_in("alice@example.com", PASSWORD).await;
    let csrf = app.csrf(&c, "/queues/help").await;
    let (ida, idb) = (a.to_string(), b2.to_string());
    let r = c
        .post(format!("{}/tickets/bulk", app.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("back", "/queues/help"),
            ("ids", &ida),
            ("ids", &idb),
            ("action", "status"),
            ("status", "stalled"),
        ])
        .send()
        .await
        .expect("bulk");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/queues/help?done=bulk");
    assert_eq!(app.t.show(a).await.ticket.status, "stalled");
    assert_eq!(app.t.show(b2).await.ticket.status, "stalled");
    let r = app
        .post(
            &c,
            "/tickets/bulk",
            &[
                ("csrf", &csrf),
                ("back", "/queues/help"),
                ("action", "take"),
            ],
        )
        .await;
    assert_eq!(
        r.headers()["location"],
        "/queues/help?done=nothing-selected",
        "nothing selected: a message, not an error"
    );

    // Admin: a dead outbox row is retried; a quarantined mail is read and retried.
    sqlx::query("UPDATE outbox SET status = 'dead', last_error = '550 no'")
        .execute(&app.t.db.pool)
        .await
        .expect("dead");
    let garbage = b"From: x@example.net\r\nTo: nowhere@else.org\r\nSubject: lost\r\nMessage-ID: <lost@x>\r\n\r\nb\r\n";
    let qid = ingest(&ing, garbage, None)
        .await
        .quarantine_id
        .expect("quarantined");
    let (admin, _) = app.sign_in("root@example.com", PASSWORD).await;
    let page = app.get(&admin, "/admin").await.text().await.expect("body");
    assert!(page.contains("550 no") && page.contains("no queue for recipients"));
    let acsrf = app.csrf(&admin, "/admin").await;
    let row: i64 = app.t.scalar_i64("SELECT MIN(id) FROM outbox").await;
    assert_eq!(
        app.post(
            &admin,
            &format!("/admin/outbox/{row}/retry"),
            &[("csrf", &acsrf)]
        )
        .await
        .status(),
        303
    );
    let pending = app
        .t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE id = {row} AND status = 'pending'"
        ))
        .await;
    assert_eq!(pending, 1);
    let raw = app
        .get(&admin, &format!("/admin/quarantine/{qid}/raw"))
        .await;
    assert_eq!(
        raw.headers()["content-disposition"]
            .to_str()
            .expect("ascii"),
        format!("attachment; filename=\"quarantine-{qid}.eml\"")
    );
    assert_eq!(
        raw.bytes().await.expect("bytes").as_ref(),
        garbage.as_slice(),
        "the raw bytes, unchanged"
    );
    let mut conn = app.t.db.pool.acquire().await.expect("conn");
    docket::store::queues::add(&mut conn, "else", "nowhere@else.org", None, None, 0)
        .await
        .expect("queue");
    drop(conn);
    assert_eq!(
        app.post(
            &admin,
            &format!("/admin/quarantine/{qid}/retry"),
            &[("csrf", &acsrf)]
        )
        .await
        .status(),
        303
    );
    let released = app
        .t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM quarantine WHERE id = {qid} AND status = 'released'"
        ))
        .await;
    assert_eq!(released, 1);
    app.t.close().await;
}
both!(
    bulk_actions_and_admin_outbox_and_quarantine,
    bulk_and_admin_queues_of_mail
);

#[test]
fn serve_demo_starts_a_working_installation() {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(crate::support::docket_bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("DOCKET_LOG", "error")
        .env_remove("DOCKET_DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("serve --demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut addr = None;
    let mut seeded = false;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        seeded |= line.contains("Sign in as admin@example.com");
        if let Some(rest) = line.strip_prefix("Docket is listening on ") {
            addr = Some(rest.trim().trim_end_matches('/').to_string());
            break;
        }
    }
    let addr = addr.expect("a listening line");
    assert!(seeded, "the demo says how to sign in");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    rt.block_on(async {
        let c = App::client();
        let login = c
            .get(format!("{addr}/login"))
            .send()
            .await
            .expect("login")
            .text()
            .await
            .expect("body");
        let at = login.find("name=\"csrf\" value=\"").expect("csrf") + 19;
        let csrf = login[at..].split('"').next().expect("token").to_string();
        let r = c
            .post(format!("{addr}/login"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("email", "admin@example.com"),
                ("password", docket::service::demo::DEMO_PASSWORD),
            ])
            .send()
            .await
            .expect("sign in");
        assert_eq!(r.status(), 303);
        let overview = c
            .get(format!("{addr}/queues"))
            .send()
            .await
            .expect("queues")
            .text()
            .await
            .expect("body");
        assert!(
            overview.contains("helpdesk") && overview.contains("facilities"),
            "seeded queues are there"
        );
    });
    crate::support::terminate(&mut child, "docket serve");
}

/// The href of the admin page's "older" link for `key` (`outbox_before`…).
fn older_link(page: &str, key: &str) -> String {
    let at = page
        .find(&format!("href=\"/admin?{key}="))
        .expect("an older-page link")
        + 6;
    page[at..]
        .split('"')
        .next()
        .expect("link")
        .replace("&amp;", "&")
}

/// The admin page shows the outbox and the quarantine a page at a time,
/// newest first, with totals, so a long-dead SMTP relay or a spam wave does
/// not make it load every row ever written.
async fn admin_lists_are_paged(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    app.t.add_queue("help", "help@example.com", None).await;
    app.staff("root@example.com", "admin", &[]).await;
    let items: Vec<(Vec<u8>, docket::service::ingest::Source)> = (0..60)
        .map(|i| {
            (
                mail(
                    &format!("user{i}@example.net"),
                    "help@example.com",
                    &format!("page {i}"),
                    &format!("page{i}@x"),
                    "",
                    "b",
                ),
                docket::service::ingest::Source::Bench,
            )
        })
        .collect();
    app.t
        .ingestor()
        .ingest_batch(&items, &Default::default())
        .await
        .expect("batch");
    let mut c = app.t.db.pool.acquire().await.expect("conn");
    for i in 0..120 {
        docket::store::quarantine::put(
            &mut c,
            format!("junk {i}").as_bytes(),
            &format!("junk number {i}."),
            "test",
            0,
        )
        .await
        .expect("quarantine");
    }
    drop(c);
    let (admin, _) = app.sign_in("root@example.com", PASSWORD).await;
    let page = app.get(&admin, "/admin").await.text().await.expect("body");
    assert!(page.contains("60 pending"), "outbox totals");
    assert!(page.contains("120 held"), "quarantine totals");
    assert!(
        page.contains("junk number 119.") && !page.contains("junk number 69."),
        "newest 50 only"
    );
    let link = older_link(&page, "quarantine_before");
    let older = app.get(&admin, &link).await.text().await.expect("body");
    assert!(
        older.contains("junk number 69.") && !older.contains("junk number 70."),
        "the next 50"
    );
    assert!(
        older.contains("href=\"/admin\""),
        "a way back to the newest"
    );
    // Outbox: 60 rows make a second page of 10.
    let link = older_link(&page, "outbox_before");
    let older = app.get(&admin, &link).await.text().await.expect("body");
    assert_eq!(
        older.matches("href=\"/tickets/").count(),
        10,
        "the last 10 rows"
    );
    assert_eq!(page.matches("href=\"/tickets/").count(), 50);
    app.t.close().await;
}
both!(admin_outbox_and_quarantine_are_paged, admin_lists_are_paged);

/// The flow from the ticket page: an ETA, a refused move shown as a
/// message, a child, a merge whose old number redirects.
async fn flow_from_the_ticket_page(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let q = app.t.add_queue("help", "help@example.com", None).await;
    app.staff("alice@example.com", "staff", &[q]).await;
    let ing = app.t.ingestor();
    let new =
        |subject: &str, id: &str| mail("sam@example.com", "help@example.com", subject, id, "", "b");
    let a = ingest(&ing, &new("printer", "f1@x"), None)
        .await
        .ticket
        .expect("a");
    let b2 = ingest(&ing, &new("printer again", "f2@x"), None)
        .await
        .ticket
        .expect("b");
    let (c, _) = app.sign_in("alice@example.com", PASSWORD).await;
    let page = format!("/tickets/{a}");
    let csrf = app.csrf(&c, &page).await;
    let act = format!("/tickets/{a}/action");
    let r = app
        .post(
            &c,
            &act,
            &[
                ("csrf", &csrf),
                ("action", "eta"),
                ("at", "2030-01-02T09:30"),
                ("reason", "parts on order"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    let shown = app.t.show(a).await.ticket;
    assert_eq!(
        (shown.eta.as_deref(), shown.eta_reason.as_deref()),
        (Some("2030-01-02T09:30:00Z"), Some("parts on order"))
    );
    let html = app.get(&c, &page).await.text().await.expect("body");
    assert!(
        html.contains("parts on order") && html.contains("Wed 2030-01-02 09:30 UTC"),
        "the ETA shows"
    );
    let r = app
        .post(
            &c,
            &act,
            &[
                ("csrf", &csrf),
                ("action", "status"),
                ("status", "rejected"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text().await.expect("body").contains("needs a reason"),
        "the refusal says why"
    );
    let r = app
        .post(
            &c,
            &act,
            &[("csrf", &csrf), ("action", "child"), ("subject", "toner")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let html = app.get(&c, &page).await.text().await.expect("body");
    assert!(html.contains("Children"), "the child shows on the parent");
    let other = format!("/tickets/{b2}/action");
    let target = a.to_string();
    let r = app
        .post(
            &c,
            &other,
            &[("csrf", &csrf), ("action", "merge"), ("into", &target)],
        )
        .await;
    assert_eq!(r.status(), 303);
    let r = app.get(&c, &format!("/tickets/{b2}")).await;
    assert_eq!(r.status(), 303, "a merged ticket redirects");
    assert_eq!(r.headers()["location"], page.as_str());

    // In her own zone, a time she types is hers, and shows as she wrote it.
    let set = crate::support::docket(
        &app.t.url,
        &[
            "user",
            "set",
            "alice@example.com",
            "--time-zone",
            "Asia/Tokyo",
        ],
        b"",
    );
    assert!(set.status.success(), "{set:?}");
    let bad = crate::support::docket(
        &app.t.url,
        &[
            "user",
            "set",
            "alice@example.com",
            "--time-zone",
            "Mars/Olympus",
        ],
        b"",
    );
    assert!(!bad.status.success(), "an unknown zone is refused");
    let r = app
        .post(
            &c,
            &act,
            &[
                ("csrf", &csrf),
                ("action", "eta"),
                ("at", "2030-01-02T09:30"),
                ("reason", "parts on order"),
            ],
        )
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.t.show(a).await.ticket.eta.as_deref(),
        Some("2030-01-02T00:30:00Z"),
        "09:30 in Tokyo is 00:30 UTC"
    );
    let html = app.get(&c, &page).await.text().await.expect("body");
    assert!(
        html.contains(">Wed 2030-01-02 09:30</time>")
            && html.contains("title=\"Wed 2030-01-02 00:30 UTC\"")
            && html.contains("(Asia/Tokyo)"),
        "local time shown, UTC on hover"
    );
    app.t.close().await;
}
both!(
    the_flow_works_from_the_ticket_page,
    flow_from_the_ticket_page
);

/// A public queue shows all its tickets, read-only and without comments,
/// to anyone signed in and to anyone holding a valid status-page link; a
/// private queue stays hidden from both.
async fn public_queues(b: Backend) {
    let Some(app) = App::start(b).await else {
        return;
    };
    let t = &app.t;
    t.add_queue("outage", "outage@example.com", None).await;
    t.add_queue("hr", "hr@example.com", None).await;
    let set = crate::support::docket(&t.url, &["queue", "set", "outage", "--public", "true"], b"");
    assert!(set.status.success(), "{set:?}");
    app.staff("eve@example.com", "staff", &[]).await;
    let ing = t.ingestor();
    let sam = ingest(
        &ing,
        &mail(
            "sam@example.com",
            "outage@example.com",
            "VPN is down",
            "p1@x",
            "",
            "b",
        ),
        None,
    )
    .await
    .ticket
    .expect("sam's");
    ingest(
        &ing,
        &mail(
            "kim@example.com",
            "outage@example.com",
            "Mail is slow",
            "p2@x",
            "",
            "b",
        ),
        None,
    )
    .await
    .ticket
    .expect("kim's");
    ingest(
        &ing,
        &mail(
            "kim@example.com",
            "hr@example.com",
            "Salary question",
            "p3@x",
            "",
            "b",
        ),
        None,
    )
    .await
    .ticket
    .expect("private");
    let cfg = t.config();
    docket::service::tickets::comment(
        &t.db,
        &cfg,
        sam,
        "eve@example.com",
        "INTERNAL router notes",
        docket::store::now_ms(),
    )
    .await
    .expect("comment");

    // Signed in without being a member: read-only, no comments.
    let (c, _) = app.sign_in("eve@example.com", PASSWORD).await;
    let index = app.get(&c, "/queues").await.text().await.expect("body");
    assert!(index.contains("href=\"/public/outage\""), "{index}");
    assert!(
        !index.contains("/public/hr"),
        "a private queue is not offered"
    );
    let r = app.get(&c, "/public/outage").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("VPN is down") && html.contains("Mail is slow"),
        "{html}"
    );
    assert!(!html.contains("INTERNAL"), "a comment leaked: {html}");
    assert!(
        !html.contains("class=\"respond\"") && !html.contains("class=\"fill\""),
        "the public view is read-only"
    );
    assert_eq!(app.get(&c, "/public/hr").await.status(), 404);
    assert_eq!(
        app.get(&c, &format!("/tickets/{sam}")).await.status(),
        404,
        "the staff view stays for members"
    );
    assert_eq!(
        app.get(&App::client(), "/public/outage").await.status(),
        303,
        "an account is needed"
    );

    // Sam's link opens the queue too; a tampered link does not.
    let secret = t.reply_secret().await;
    let user: i64 = t
        .scalar_i64("SELECT id FROM users WHERE email = 'sam@example.com'")
        .await;
    let now = docket::store::now_ms();
    let token = docket::domain::status_link::issue(secret.expose(), user, now + 86_400_000);
    let anon = App::client();
    let mine = app
        .get(&anon, &format!("/my/{token}"))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        mine.contains(&format!("/my/{token}/queues/outage")),
        "the page offers the public queue"
    );
    assert!(
        !mine.contains("Mail is slow"),
        "his own page lists only his tickets"
    );
    let html = app
        .get(&anon, &format!("/my/{token}/queues/outage"))
        .await
        .text()
        .await
        .expect("body");
    assert!(
        html.contains("Mail is slow")
            && !html.contains("INTERNAL")
            && !html.contains("class=\"respond\""),
        "{html}"
    );
    assert_eq!(
        app.get(&anon, &format!("/my/{token}/queues/hr"))
            .await
            .status(),
        404
    );
    let mut tampered = token.clone();
    let end = if tampered.ends_with('0') { "1" } else { "0" };
    tampered.replace_range(tampered.len() - 1.., end);
    assert_eq!(
        app.get(&anon, &format!("/my/{tampered}/queues/outage"))
            .await
            .status(),
        403
    );
    app.t.close().await;
}
both!(
    public_queues_are_read_only_to_links_and_accounts,
    public_queues
);
