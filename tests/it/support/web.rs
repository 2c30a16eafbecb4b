//! The web UI over plain HTTP, as a browser without JavaScript uses it: a
//! cookie jar, redirects seen (not followed), hidden form fields read back.

/// A client that keeps cookies and shows redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The value of the first hidden field `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} field in {html}"))
        + key.len();
    html[at..].split('"').next().unwrap_or("").to_string()
}

/// Signs in through `/login` on a fresh client: the answer, and the client.
pub async fn sign_in(
    base: &str,
    email: &str,
    password: &str,
) -> (reqwest::Response, reqwest::Client) {
    let c = client();
    let page = c
        .get(format!("{base}/login"))
        .send()
        .await
        .expect("login page");
    let csrf = hidden(&page.text().await.expect("body"), "csrf");
    let r = c
        .post(format!("{base}/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign in");
    (r, c)
}
