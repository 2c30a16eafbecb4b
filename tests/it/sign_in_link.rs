//! Without a directory, a requestor proves their address by a mailed
//! one-time link: asked for on the sign-in page, opened (a button, so a
//! mail scanner's visit does not use it up), it keeps their status link and
//! they file a new ticket at `/my/new`; it never works twice, nor after an
//! hour, nor for an address that may not file, and an address gets at most
//! three an hour.

use docket::app::Options;
use docket::store;

use crate::both;
use crate::support::{Backend, Served, TestDb, docket, ok, web};

both!(a_mailed_one_time_link_signs_a_requestor_in, one_time_link);

/// The links mailed to `to` so far, newest last.
async fn links(t: &TestDb, to: &str) -> Vec<String> {
    let mut c = t.db.pool.acquire().await.unwrap();
    let bodies: Vec<String> = sqlx::query_scalar(
        "SELECT body FROM outbox WHERE kind = 'sign_in_link' AND to_addrs = $1 ORDER BY id",
    )
    .bind(to)
    .fetch_all(&mut *c)
    .await
    .unwrap();
    bodies
        .iter()
        .map(|b| {
            let at = b.find("/my/signin/").expect("a link in the mail");
            b[at..].split_whitespace().next().unwrap().to_string()
        })
        .collect()
}

/// The page answers before the link is made: wait for its mail.
async fn mailed_link(t: &TestDb, to: &str) -> String {
    for _ in 0..200 {
        if let Some(l) = links(t, to).await.pop() {
            return l;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("no sign-in link was mailed to {to}");
}

async fn one_time_link(b: Backend) {
    let Some(t) = TestDb::new(b).await else {
        return;
    };
    t.add_queue("help", "help@example.com", None).await;
    let mut cfg = t.config();
    cfg.public_url = Some("http://docket.test".into());
    let served = Served::start(&t, cfg.clone(), Options::default(), |a| a).await;
    let base = &served.base;
    let session = web::client();
    let login = session.get(format!("{base}/login")).send().await.unwrap();
    assert!(
        login
            .text()
            .await
            .unwrap()
            .contains("Mail me a sign-in link")
    );
    let send = |email: &'static str| {
        let (db, cfg) = (t.db.clone(), cfg.clone());
        async move {
            docket::service::sign_in_link::send(&db, &cfg, email, store::now_ms())
                .await
                .unwrap()
        }
    };

    // No queue takes requests from the web yet: nothing for a stranger.
    send("new@example.com").await;
    assert!(links(&t, "new@example.com").await.is_empty());
    ok(docket(
        &t.url,
        &["queue", "set", "help", "--requestors-may-file", "true"],
        b"",
    ));
    let users_before = t.scalar_i64("SELECT COUNT(*) FROM users").await;
    let r = session
        .post(format!("{base}/my/resend"))
        .form(&[("email", "new@example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your mail"));
    let link = mailed_link(&t, "new@example.com").await;
    assert_eq!(
        t.scalar_i64("SELECT COUNT(*) FROM users").await,
        users_before,
        "no account for an address until its link is used"
    );

    // Opening the link shows a button; only pressing it signs in.
    let Some(br) = crate::browser::Browser::start().await else {
        return;
    };
    br.client.goto(&format!("{base}{link}")).await.unwrap();
    br.wait_text("Sign in to see your requests").await;
    br.screenshot("my-signin").await;
    let page = session.get(format!("{base}{link}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Sign in"));
    let r = session.post(format!("{base}{link}")).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed in");
    assert_eq!(r.headers()["location"], "/my");
    let form = session
        .get(format!("{base}/my/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form_token = web::hidden(&form, "form");
    let r = session
        .post(format!("{base}/my/new"))
        .form(&[
            ("form", form_token.as_str()),
            ("queue", "help"),
            ("subject", "VPN drops every hour"),
            ("body", "Since Monday."),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let filed = t
        .scalar_i64(
            "SELECT COUNT(*) FROM tickets t JOIN ticket_requestors r ON r.ticket_id = t.id \
             JOIN users u ON u.id = r.user_id \
             WHERE u.email = 'new@example.com' AND t.subject = 'VPN drops every hour'",
        )
        .await;
    assert_eq!(filed, 1, "filed through the same pipeline as mail");

    // Once only.
    let again = web::client()
        .post(format!("{base}{link}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 410);
    assert!(again.headers().get("set-cookie").is_none());
    assert!(again.text().await.unwrap().contains("has been used"));
    br.click("form[action^='/my/signin'] button").await;
    br.wait_text("has been used").await;
    br.screenshot("my-signin-spent").await;
    br.stop().await;
    let used = t
        .scalar_i64("SELECT COUNT(*) FROM sign_in_links WHERE used_at IS NOT NULL")
        .await;
    assert_eq!(used, 1);

    // Three an hour for an address, whatever is asked.
    for _ in 0..4 {
        send("new@example.com").await;
    }
    assert_eq!(links(&t, "new@example.com").await.len(), 3);

    // An hour old: refused.
    let hours_ago = store::now_ms() - 2 * 3_600_000;
    docket::service::sign_in_link::send(&t.db, &cfg, "late@example.com", hours_ago)
        .await
        .unwrap();
    let late = links(&t, "late@example.com").await.pop().expect("mailed");
    let r = web::client()
        .post(format!("{base}{late}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410, "too old");
    assert!(r.headers().get("set-cookie").is_none());

    served.stop().await;
    t.close().await;
}
