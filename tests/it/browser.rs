//! The web UI in a real browser: headless Chromium driven over WebDriver
//! (chromedriver). Screenshots of the main pages land in target/screenshots/.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::both;
use crate::support::peers::free_port;
use crate::support::{Backend, TestDb, ingest, mail, missing_peer};

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub(crate) async fn start() -> Option<Browser> {
        for bin in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
            if !Path::new(bin).exists() {
                missing_peer(
                    "Chromium",
                    &format!("{bin} not installed (apt-get install chromium chromium-driver)"),
                );
                return None;
            }
        }
        let port = free_port();
        let driver = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver");
        let profile = tempfile::tempdir().expect("profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--disable-component-update", "--no-first-run",
                         "--disable-sync", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            let mut b =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
            b.capabilities(caps.clone());
            match b.connect(&url).await {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(e) => last = Some(e.to_string()),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start a WebDriver session: {last:?}");
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    /// Saves the page as the wall screen (1920×1080) and a laptop
    /// (1280×800) show it: `{name}-1920x1080.png`, `{name}-1280x800.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("dir");
        for (w, h) in [(1920, 1080), (1280, 800)] {
            self.client
                .set_window_size(w, h)
                .await
                .expect("window size");
            let png = self.client.screenshot().await.expect("screenshot");
            std::fs::write(dir.join(format!("{name}-{w}x{h}.png")), png).expect("write");
        }
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let e = self.client.find(Locator::Css(css)).await.expect(css);
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    pub(crate) async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .expect(css)
            .click()
            .await
            .expect("click");
    }

    /// Signs in with the test password and lands on the queues.
    pub(crate) async fn sign_in(&self, base: &str, email: &str) {
        self.client
            .goto(&format!("{base}/login"))
            .await
            .expect("goto");
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", PASSWORD).await;
        self.click("button[type=submit]").await;
        self.wait_path("/queues").await;
    }

    /// Waits for a navigation to land on a path ending with `suffix`.
    pub(crate) async fn wait_path(&self, suffix: &str) {
        for _ in 0..100 {
            let url = self.client.current_url().await.expect("url");
            if url.path().ends_with(suffix) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let text = self.text().await;
        panic!("never reached …{suffix}; the page says: {text}");
    }

    /// The page's text; retried while a navigation replaces the document.
    pub(crate) async fn text(&self) -> String {
        for _ in 0..100 {
            if let Ok(body) = self.client.find(Locator::Css("body")).await
                && let Ok(t) = body.text().await
            {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page never settled");
    }

    /// Waits (clicks do not wait for the navigation they cause) until the
    /// page shows `needle`; returns the page text.
    pub(crate) async fn wait_text(&self, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            text = self.text().await;
            if text.contains(needle) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the page never showed {needle:?}; it says: {text}");
    }

    /// No script ran: no alert open and no global set by a payload.
    async fn assert_inert(&self) {
        assert!(
            self.client.get_alert_text().await.is_err(),
            "an alert dialog is open"
        );
        let hit = self
            .client
            .execute("return window.__xss === undefined", vec![])
            .await
            .expect("execute");
        assert_eq!(hit, serde_json::Value::Bool(true), "a payload ran");
    }
}

/// The application as `serve` builds it; it runs while the result lives.
async fn app(t: &TestDb) -> crate::support::Served {
    crate::support::Served::start(t, t.config(), Default::default(), |a| a).await
}

async fn staff(t: &TestDb, email: &str, queue: i64) {
    let mut c = t.db.pool.acquire().await.expect("conn");
    let hash = docket::service::auth::hash_password(PASSWORD).expect("hash");
    let id = docket::store::users::upsert_staff(&mut c, email, "staff", Some(&hash), 0)
        .await
        .expect("user");
    docket::store::users::add_to_queue(&mut c, queue, id)
        .await
        .expect("member");
}

async fn daily_work(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    let q = t.add_queue("help", "help@example.com", None).await;
    staff(&t, "alice@example.com", q).await;
    let ing = t.ingestor();
    let id = ingest(
        &ing,
        &mail(
            "Sam <sam@example.net>",
            "help@example.com",
            "Printer offline",
            "b1@x",
            "",
            "It is offline.",
        ),
        None,
    )
    .await
    .ticket
    .expect("ticket");
    ingest(
        &ing,
        &mail(
            "Kim <kim@example.net>",
            "help@example.com",
            "VPN slow",
            "b2@x",
            "",
            "Slow.",
        ),
        None,
    )
    .await;
    let served = app(&t).await;
    let base = served.base.clone();
    let suffix = b.label();

    br.client
        .goto(&format!("{base}/login"))
        .await
        .expect("goto");
    br.fill("input[name=email]", "alice@example.com").await;
    br.fill("input[name=password]", "not it").await;
    br.click("button[type=submit]").await;
    br.wait_text("Wrong email or password").await;
    br.screenshot(&format!("login-error-{suffix}")).await;

    br.fill("input[name=email]", "alice@example.com").await;
    br.fill("input[name=password]", PASSWORD).await;
    br.click("button[type=submit]").await;
    br.wait_path("/queues").await;
    br.screenshot(&format!("queues-{suffix}")).await;

    br.click("a[href='/queues/help']").await;
    br.wait_path("/queues/help").await;
    br.wait_text("VPN slow").await;
    br.fill(".filters input[name=q]", "printer").await;
    br.click(".filters button[type=submit]").await;
    let mut list = String::new();
    for _ in 0..100 {
        list = br.text().await;
        if !list.contains("VPN slow") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        list.contains("Printer offline") && !list.contains("VPN slow"),
        "the text filter filters: {list}"
    );
    br.screenshot(&format!("queue-{suffix}")).await;

    br.click(&format!("a[href='/tickets/{id}']")).await;
    br.wait_path(&format!("/tickets/{id}")).await;
    br.fill(
        "form[action$='/reply'] textarea",
        "We are restarting the print server.",
    )
    .await;
    br.click("form[action$='/reply'] button[type=submit]").await;
    let page = br.wait_text("Reply recorded").await;
    assert!(
        page.contains("We are restarting the print server."),
        "the reply is in the history"
    );
    let queued = t
        .scalar_i64(&format!(
            "SELECT COUNT(*) FROM outbox WHERE ticket_id = {id} AND kind = 'reply'"
        ))
        .await;
    assert_eq!(queued, 1, "and in the outbox");

    br.click("form.actions button[value=take]").await;
    br.wait_text("The ticket is yours.").await;
    let owner = br
        .client
        .find(Locator::Css("dd.owner"))
        .await
        .expect("owner")
        .text()
        .await
        .expect("text");
    assert_eq!(owner, "alice@example.com", "taken");
    br.screenshot(&format!("ticket-{suffix}")).await;

    // The admin's view of mail that needs a look: a dead outbox row with the
    // server's words and refusals, and a quarantined message.
    // Made admin as an admin would (the password stays as it is).
    crate::support::ok(crate::support::docket(
        &t.url,
        &["user", "add", "alice@example.com", "--role", "admin"],
        b"",
    ));
    sqlx::query(
        "UPDATE outbox SET status = 'dead', attempts = 10, last_error = '451 4.3.0 try again later', \
         refused = 'kim@example.net: 550 5.1.1 <kim@example.net>: User unknown' WHERE id = (SELECT MIN(id) FROM outbox)",
    )
    .execute(&t.db.pool)
    .await
    .expect("dead row");
    ingest(
        &ing,
        b"From: x@example.net\r\nTo: nowhere@else.org\r\nSubject: lost\r\nMessage-ID: <lost@x>\r\n\r\nb\r\n",
        None,
    )
    .await;
    br.client
        .goto(&format!("{base}/admin"))
        .await
        .expect("goto");
    br.wait_text("no queue for recipients").await;
    br.wait_text("staff").await;
    br.screenshot(&format!("admin-{suffix}")).await;
    br.stop().await;
    t.close().await;
}
both!(sign_in_filter_reply_and_take_in_chromium, daily_work);

async fn xss(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    let q = t.add_queue("help", "help@example.com", None).await;
    staff(&t, "alice@example.com", q).await;
    let raw = "From: \"<img src=x onerror=window.__xss=1>\" <evil@example.net>\r\nTo: help@example.com\r\n\
Subject: <script>window.__xss=2;alert('subject')</script>\r\nMessage-ID: <xss@x>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n\
<p>Hello</p><script>window.__xss=3;alert('body')</script><img src=x onerror=\"window.__xss=4;alert(4)\">\r\n\
--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"<img src=x onerror=alert(5)>.txt\"\r\n\r\nx\r\n--b--\r\n";
    let id = ingest(&t.ingestor(), raw.as_bytes(), None)
        .await
        .ticket
        .expect("ticket");
    let served = app(&t).await;
    let base = served.base.clone();
    br.sign_in(&base, "alice@example.com").await;
    for path in [
        format!("/tickets/{id}"),
        "/queues/help".into(),
        "/search?q=xss".into(),
        "/queues".into(),
    ] {
        br.client
            .goto(&format!("{base}{path}"))
            .await
            .expect("goto");
        br.assert_inert().await;
    }
    br.client
        .goto(&format!("{base}/tickets/{id}"))
        .await
        .expect("goto");
    br.wait_text("<script>window.__xss=2").await; // the subject, shown as text
    br.screenshot(&format!("hostile-mail-{}", b.label())).await;
    br.stop().await;
    t.close().await;
}
both!(hostile_mail_renders_inert_in_chromium, xss);

/// Presses one key on the page, as a person would.
async fn press(br: &Browser, key: char) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: key })
        .then(KeyAction::Up { value: key });
    br.client.perform_actions(keys).await.expect("keys");
}

/// The triage board: thirty and more tickets visible on a 1920×1080 wall,
/// walked with j/k and taken with t; the WIP board beside it.
async fn triage_board(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    let q = t.add_queue("help", "help@example.com", None).await;
    let ops = t.add_queue("ops", "ops@example.com", None).await;
    staff(&t, "alice@example.com", q).await;
    staff(&t, "alice@example.com", ops).await;
    staff(&t, "bob@example.com", q).await;
    let items: Vec<(Vec<u8>, docket::service::ingest::Source)> = (0..45)
        .map(|n| {
            let (who, to) = if n % 3 == 0 {
                ("Kim Lee <kim@example.net>", "ops@example.com")
            } else {
                ("Sam Park <sam@example.net>", "help@example.com")
            };
            let raw = mail(
                who,
                to,
                &format!("Disk filling up on web-{n:02}"),
                &format!("tb{n}@x"),
                "",
                "b",
            );
            (raw, docket::service::ingest::Source::Bench)
        })
        .collect();
    t.ingestor()
        .ingest_batch(&items, &Default::default())
        .await
        .expect("batch");
    let now = docket::store::now_ms();
    let cfg = t.config();
    docket::service::admin::set_queue_wip_limit(&t.db, "help", Some(3))
        .await
        .expect("limit");
    docket::service::ownership::take(&t.db, &cfg, 2, "bob@example.com", false, now)
        .await
        .expect("bob takes one");
    docket::service::ownership::take(&t.db, &cfg, 3, "bob@example.com", false, now)
        .await
        .expect("and another");
    docket::service::status::request_info(&t.db, &cfg, 3, "bob@example.com", "Which host?", now)
        .await
        .expect("needs info");
    docket::service::status::postpone(
        &t.db,
        &cfg,
        5,
        "bob@example.com",
        now + 2 * 86_400_000,
        "after the freeze",
        now,
    )
    .await
    .expect("postpone");
    let served = app(&t).await;
    let base = served.base.clone();
    let suffix = b.label();
    br.sign_in(&base, "alice@example.com").await;
    br.client
        .goto(&format!("{base}/triage"))
        .await
        .expect("triage");
    let board = br.wait_text("New and unowned").await;
    assert!(
        board.contains("bob@example.com 1/3"),
        "an owner's line shows their WIP (from the WIP counts): {board}"
    );
    br.client.set_window_size(1920, 1080).await.expect("size");
    let visible = br
        .client
        .execute(
            "return Array.from(document.querySelectorAll('tr.ticket')).filter(function (r) { \
             var b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= window.innerHeight; }).length",
            vec![],
        )
        .await
        .expect("count");
    let visible = visible.as_i64().expect("a number");
    assert!(
        visible >= 30,
        "only {visible} ticket rows fit on a 1920x1080 screen"
    );
    br.screenshot(&format!("triage-{suffix}")).await;

    // The keyboard walk: j, j, k lands on the second row; t takes it.
    br.client.set_window_size(1920, 1080).await.expect("size");
    for key in ['j', 'j', 'j', 'k'] {
        press(&br, key).await;
    }
    let current = br
        .client
        .execute("var r = document.querySelector('tr.ticket.current'); return r ? r.getAttribute('data-id') : null", vec![])
        .await
        .expect("current");
    let second = br
        .client
        .execute(
            "return document.querySelectorAll('tr.ticket')[1].getAttribute('data-id')",
            vec![],
        )
        .await
        .expect("second");
    assert_eq!(current, second, "j j j k stops on the second row");
    let id: i64 = current.as_str().expect("id").parse().expect("number");
    press(&br, 't').await;
    br.wait_text("The ticket is yours.").await;
    assert_eq!(
        t.show(id).await.ticket.owner.as_deref(),
        Some("alice@example.com")
    );

    br.client
        .goto(&format!("{base}/triage?queue=help&wall=1"))
        .await
        .expect("wall");
    br.wait_text("Leave wall mode").await;
    br.screenshot(&format!("triage-wall-{suffix}")).await;
    br.client.goto(&format!("{base}/wip")).await.expect("wip");
    let text = br.wait_text("Work in progress").await;
    assert!(
        text.contains("bob@example.com") && text.contains("alice@example.com"),
        "{text}"
    );
    br.screenshot(&format!("wip-{suffix}")).await;
    br.stop().await;
    t.close().await;
}
both!(
    triage_board_walks_with_the_keyboard_in_chromium,
    triage_board
);

/// The requestor's page through their link: only their tickets, never a
/// comment; a tampered or expired link is refused.
async fn requestor_page(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    let q = t.add_queue("help", "help@example.com", None).await;
    staff(&t, "alice@example.com", q).await;
    let mut cfg = t.config();
    cfg.public_url = Some("http://status.example".into());
    let ing = docket::service::ingest::Ingestor::new(t.db.clone(), Arc::new(cfg.clone()));
    let mine = mail(
        "Sam Park <sam@example.net>",
        "help@example.com",
        "Laptop for Kim",
        "r1@x",
        "",
        "Please order one.",
    );
    let theirs = mail(
        "Lee <lee@example.net>",
        "help@example.com",
        "Lee's secret project",
        "r2@x",
        "",
        "x",
    );
    let id = ingest(&ing, &mine, None).await.ticket.expect("ticket");
    ingest(&ing, &theirs, None).await;
    let now = docket::store::now_ms();
    docket::service::tickets::comment(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        "INTERNAL: vendor is slow",
        now,
    )
    .await
    .expect("comment");
    docket::service::tickets::reply(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        "Ordered; it ships Monday.",
        now,
    )
    .await
    .expect("reply");
    docket::service::status::set_eta(
        &t.db,
        &cfg,
        id,
        "alice@example.com",
        now + 3 * 86_400_000,
        "the vendor ships Monday",
        now,
    )
    .await
    .expect("eta");
    let ack: String =
        sqlx::query_scalar("SELECT body FROM outbox WHERE kind = 'ack' AND ticket_id = $1")
            .bind(id)
            .fetch_one(&t.db.pool)
            .await
            .expect("ack");
    let at = ack
        .find("http://status.example/my/")
        .expect("the ack carries the link");
    let token: String = ack[at + "http://status.example/my/".len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    let served = crate::support::Served::start(&t, cfg, Default::default(), |a| a).await;
    let base = served.base.clone();
    let suffix = b.label();
    br.client
        .goto(&format!("{base}/my/{token}"))
        .await
        .expect("goto");
    let text = br.wait_text("Your requests").await;
    assert!(
        text.contains("Laptop for Kim") && text.contains("Ordered; it ships Monday."),
        "{text}"
    );
    assert!(
        text.contains("the vendor ships Monday"),
        "the ETA and its reason show"
    );
    assert!(
        !text.contains("INTERNAL"),
        "a comment reached the requestor: {text}"
    );
    assert!(
        !text.contains("secret project"),
        "another requestor's ticket shows: {text}"
    );
    br.screenshot(&format!("requestor-{suffix}")).await;
    // An answer from the page lands on the ticket as Sam's.
    br.fill("textarea[name=body]", "Thank you!").await;
    br.click(".respond button[type=submit]").await;
    br.wait_text("your answer is on the request").await;
    let last = t.show(id).await.transactions;
    let last = last.last().expect("history");
    assert_eq!(
        (last.kind.as_str(), last.from.as_deref()),
        ("correspond", Some("sam@example.net"))
    );
    let mut tampered = token.clone();
    let end = if tampered.ends_with('0') { "1" } else { "0" };
    tampered.replace_range(tampered.len() - 1.., end);
    br.client
        .goto(&format!("{base}/my/{tampered}"))
        .await
        .expect("goto");
    br.wait_text("This link is not valid").await;
    let secret = t.reply_secret().await;
    let user: i64 = t
        .scalar_i64("SELECT id FROM users WHERE email = 'sam@example.net'")
        .await;
    let old = docket::domain::status_link::issue(secret.expose(), user, now - 1000);
    br.client
        .goto(&format!("{base}/my/{old}"))
        .await
        .expect("goto");
    br.wait_text("This link has expired").await;
    br.screenshot(&format!("requestor-expired-{suffix}")).await;
    br.stop().await;
    drop(served);
    t.close().await;
}
both!(
    the_requestor_page_shows_only_their_public_history_in_chromium,
    requestor_page
);

/// A history spread over two months in two queues, with owners, SLA
/// policies and resolutions at known times.
async fn history(t: &TestDb) -> i64 {
    let help = t.add_queue("help", "help@example.com", None).await;
    let ops = t.add_queue("ops", "ops@example.com", None).await;
    staff(t, "alice@example.com", help).await;
    staff(t, "alice@example.com", ops).await;
    staff(t, "bob@example.com", help).await;
    let cfg = t.config();
    let now = docket::store::now_ms();
    const H: i64 = 3_600_000;
    let mut ids = Vec::new();
    for n in 0..36i64 {
        let age = (n * n * 37 % 1_440 + 1) * H;
        let to = if n % 3 == 0 {
            "ops@example.com"
        } else {
            "help@example.com"
        };
        let raw = mail(
            "Sam Park <sam@example.net>",
            to,
            &format!("Backup job {n} failing on db-{:02}", n % 7),
            &format!("rh{n}@x"),
            "",
            "b",
        );
        let clock = Arc::new(docket::domain::clock::ManualClock::at(now - age));
        let id = ingest(&t.ingestor().with_clock(clock), &raw, None)
            .await
            .ticket
            .expect("ticket");
        ids.push((id, now - age));
    }
    let office = docket::service::sla::NewCalendar {
        name: "office",
        time_zone: "Europe/Berlin",
        hours: &["mon-fri 09:00-17:00".to_string()],
        holidays: &[],
        holidays_ics: None,
    };
    docket::service::sla::save_calendar(&t.db, office, now)
        .await
        .expect("calendar");
    for (name, queue, fr, res, cal) in [
        ("help-std", "help", "8h", "5d", "24x7"),
        ("ops-std", "ops", "4h", "3d", "office"),
    ] {
        let p = docket::service::sla::NewPolicy {
            name,
            queue,
            priority: None,
            first_response: fr,
            resolve: res,
            next_response: None,
            calendar: cal,
            pause: None,
            at_risk_percent: None,
            escalate_priority: None,
        };
        docket::service::sla::save_policy(&t.db, p, now)
            .await
            .expect("policy");
    }
    for (i, (id, created)) in ids.iter().enumerate() {
        // Bob works help only; ops tickets (every third) are Alice's.
        let who = if i % 2 == 0 || i % 3 == 0 {
            "alice@example.com"
        } else {
            "bob@example.com"
        };
        if i % 4 == 1 {
            continue;
        }
        let at = (created + (i as i64 % 5 + 1) * H).min(now);
        docket::service::ownership::take(&t.db, &cfg, *id, who, true, at)
            .await
            .expect("take");
        docket::service::tickets::reply(&t.db, &cfg, *id, who, "Looking into it.", at)
            .await
            .expect("reply");
        if i % 3 == 0 && created + 30 * H < now {
            let change = docket::service::tickets::StatusChange {
                status: "resolved",
                reason: Some("fixed"),
                eta: None,
                criteria_met: false,
            };
            docket::service::tickets::change_status(
                &t.db,
                &cfg,
                *id,
                who,
                change,
                created + (i as i64 * 7 % 90 + 20) * H,
            )
            .await
            .expect("resolve");
        }
    }
    docket::service::scheduler::run_once(&t.db, &cfg, now)
        .await
        .expect("scheduler");
    now
}

/// A CSV download, fetched by the page itself (with its session), parsed.
async fn csv_rows(br: &Browser, path: &str) -> Vec<Vec<String>> {
    let text = br
        .client
        .execute(
            "var x = new XMLHttpRequest(); x.open('GET', arguments[0], false); x.send(); \
             return x.status === 200 ? x.responseText : 'HTTP ' + x.status",
            vec![serde_json::Value::String(path.to_string())],
        )
        .await
        .expect("fetch");
    let text = text.as_str().expect("text").to_string();
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(|r| {
            r.expect("a CSV record")
                .iter()
                .map(str::to_string)
                .collect()
        })
        .collect()
}

async fn charts_on_page(br: &Browser) -> i64 {
    br.client
        .execute(
            "return document.querySelectorAll('svg.chart').length",
            vec![],
        )
        .await
        .expect("count")
        .as_i64()
        .expect("number")
}

async fn report_pages(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    let Some(br) = Browser::start().await else {
        return;
    };
    history(&t).await;
    let served = app(&t).await;
    let base = served.base.clone();
    let suffix = b.label();
    br.sign_in(&base, "alice@example.com").await;

    br.client.goto(&format!("{base}/sla")).await.expect("sla");
    let text = br.wait_text("At risk").await;
    assert!(text.contains("overdue"), "{text}");
    assert!(charts_on_page(&br).await >= 1);
    br.screenshot(&format!("sla-{suffix}")).await;
    let sla = csv_rows(&br, "/sla.csv").await;
    assert!(!sla.is_empty(), "breached tickets are listed");
    assert!(
        sla.iter()
            .all(|r| r.len() == 10 && (r[1] == "breached" || r[1] == "at_risk")),
        "{sla:?}"
    );
    // The SLA state shows on the ticket, the triage dashboard and the queue.
    br.client
        .goto(&format!("{base}/tickets/{}", sla[0][0]))
        .await
        .expect("ticket");
    br.wait_text("missed:").await;
    br.screenshot(&format!("ticket-sla-{suffix}")).await;
    br.client
        .goto(&format!("{base}/triage"))
        .await
        .expect("triage");
    br.wait_text("SLA missed").await;
    br.client
        .goto(&format!("{base}/queues/help"))
        .await
        .expect("queue");
    br.wait_text("SLA missed").await;

    br.client
        .goto(&format!("{base}/reports/aging"))
        .await
        .expect("aging");
    br.wait_text("Oldest open tickets").await;
    assert!(charts_on_page(&br).await >= 4, "a chart beside each table");
    br.screenshot(&format!("aging-{suffix}")).await;
    let by_queue = csv_rows(&br, "/reports/aging.csv?table=queue").await;
    let open: i64 = t
        .scalar_i64("SELECT COUNT(*) FROM tickets WHERE status NOT IN ('resolved', 'rejected')")
        .await;
    let counted: i64 = by_queue
        .iter()
        .flat_map(|r| r[1..].iter().map(|n| n.parse::<i64>().expect("a count")))
        .sum();
    assert_eq!(counted, open, "{by_queue:?}");
    assert_eq!(
        by_queue.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["help", "ops"]
    );
    br.fill("input[name=at]", "2000-01-01").await;
    br.click(".filters button[type=submit]").await;
    br.wait_text("Open tickets by age, as of").await;
    let bad = br
        .client
        .find(Locator::Css("input[name=at]"))
        .await
        .expect("at");
    bad.clear().await.expect("clear");
    bad.send_keys("last tuesday").await.expect("type");
    br.click(".filters button[type=submit]").await;
    br.wait_text("is not a date").await;

    br.client
        .goto(&format!("{base}/reports/flow"))
        .await
        .expect("flow");
    br.wait_text("Per week").await;
    assert!(charts_on_page(&br).await >= 4);
    br.screenshot(&format!("flow-{suffix}")).await;
    let weeks = csv_rows(&br, "/reports/flow.csv?table=weeks").await;
    assert_eq!(weeks.len(), 12);
    let backlog: i64 = weeks.last().expect("this week")[3]
        .parse()
        .expect("backlog");
    assert_eq!(backlog, open, "the backlog now is the open count");
    br.stop().await;
    drop(served);
    t.close().await;
}
both!(sla_and_report_pages_with_charts_in_chromium, report_pages);
