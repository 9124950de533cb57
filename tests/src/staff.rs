//! Staff sign-in for tests: creates a staff user and walks the real sign-in pages (password,
//! new password, TOTP enrollment, second factor) with its own cookie jar, like a browser.

use secrecy::SecretString;

use crate::{TestApp, http_client};

/// The password every test staff user ends up with.
pub const PASSWORD: &str = "correct horse battery staple";

/// A signed-in staff member's browser.
pub struct StaffClient {
    pub client: reqwest::Client,
    pub base: String,
    pub email: String,
    pub totp_secret: String,
    pub recovery_codes: Vec<String>,
}

/// The first `input[name=csrf]` of an HTML page.
pub fn csrf_in(html: &str) -> String {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("input[name=csrf]").expect("selector");
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_default()
        .to_owned()
}

/// The text of the first element matching `css`.
pub fn text_of(html: &str, css: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse(css).expect("selector");
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
}

/// The current TOTP code for a base32 secret at the app's clock.
pub fn code(app: &TestApp, secret: &str) -> String {
    let t = domain::staff::totp(
        &SecretString::from(secret.to_owned()),
        "test",
        "x@example.com",
    )
    .expect("totp");
    let now = u64::try_from(app.state.clock.now().timestamp()).expect("time");
    t.generate(now)
}

/// GET, returning (status, location, body).
pub async fn get(client: &reqwest::Client, url: &str) -> (u16, Option<String>, String) {
    let r = client.get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, loc, r.text().await.expect("body"))
}

/// POST a form, returning (status, location, body).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    fields: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let r = client.post(url).form(fields).send().await.expect("post");
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, loc, r.text().await.expect("body"))
}

/// Adds a staff user with a known one-time password.
pub async fn add(app: &TestApp, email: &str, role: domain::staff::Role) -> String {
    let otp = format!("one-time-{}", uuid::Uuid::new_v4().simple());
    domain::staff::add(
        &app.state.db,
        &domain::types::Email::parse(email).expect("email"),
        role,
        &SecretString::from(otp.clone()),
        &domain::events::Actor::Cli("test".into()),
        app.state.clock.now(),
    )
    .await
    .expect("add staff");
    otp
}

/// Creates a staff user and completes the first sign-in: one-time password, a new password,
/// TOTP enrollment; returns the signed-in browser.
pub async fn first_sign_in(app: &TestApp, email: &str, role: domain::staff::Role) -> StaffClient {
    first_sign_in_with(app, email, role, http_client()).await
}

/// As [`first_sign_in`], in a browser of the caller's (one that sends its own headers, say).
pub async fn first_sign_in_with(
    app: &TestApp,
    email: &str,
    role: domain::staff::Role,
    client: reqwest::Client,
) -> StaffClient {
    let otp = add(app, email, role).await;
    let base = app.base.clone();
    let (_, _, login) = get(&client, &format!("{base}/login")).await;
    let (s, loc, _) = post(
        &client,
        &format!("{base}/login"),
        &[
            ("csrf", &csrf_in(&login)),
            ("email", email),
            ("password", &otp),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login/password")));
    let (_, _, page) = get(&client, &format!("{base}/login/password")).await;
    let (s, loc, body) = post(
        &client,
        &format!("{base}/login/password"),
        &[
            ("csrf", &csrf_in(&page)),
            ("password", PASSWORD),
            ("confirm", PASSWORD),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login/enroll")), "{body}");
    let (_, _, page) = get(&client, &format!("{base}/login/enroll")).await;
    let secret = text_of(&page, "#totp-secret").expect("the enroll page shows the key");
    let (s, _, body) = post(
        &client,
        &format!("{base}/login/enroll"),
        &[("csrf", &csrf_in(&page)), ("code", &code(app, &secret))],
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let doc = scraper::Html::parse_document(&body);
    let sel = scraper::Selector::parse("#recovery-codes code").expect("selector");
    let recovery_codes: Vec<String> = doc.select(&sel).map(|e| e.text().collect()).collect();
    assert_eq!(recovery_codes.len(), domain::staff::RECOVERY_CODES);
    StaffClient {
        client,
        base,
        email: email.to_owned(),
        totp_secret: secret,
        recovery_codes,
    }
}

impl StaffClient {
    /// GET a dashboard path.
    pub async fn get(&self, path: &str) -> (u16, Option<String>, String) {
        get(&self.client, &format!("{}{path}", self.base)).await
    }

    /// POST a form to a dashboard path with this session's CSRF token (taken from `/`).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Option<String>, String) {
        let (_, _, home) = self.get("/").await;
        let csrf = csrf_in(&home);
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(fields);
        post(&self.client, &format!("{}{path}", self.base), &all).await
    }

    /// POST without any CSRF token.
    pub async fn post_without_csrf(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Option<String>, String) {
        post(&self.client, &format!("{}{path}", self.base), fields).await
    }
}

/// Signs in again (password and a fresh TOTP code) in a new browser. The app's clock moves on
/// 30 seconds first, since a code works once.
pub async fn sign_in(app: &TestApp, who: &StaffClient) -> StaffClient {
    app.state.clock.advance(std::time::Duration::from_secs(30));
    let client = http_client();
    let base = app.base.clone();
    let (_, _, login) = get(&client, &format!("{base}/login")).await;
    let (s, loc, _) = post(
        &client,
        &format!("{base}/login"),
        &[
            ("csrf", &csrf_in(&login)),
            ("email", &who.email),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login/second-factor")));
    let (_, _, page) = get(&client, &format!("{base}/login/second-factor")).await;
    let (s, loc, body) = post(
        &client,
        &format!("{base}/login/second-factor"),
        &[
            ("csrf", &csrf_in(&page)),
            ("code", &code(app, &who.totp_secret)),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/")), "{body}");
    StaffClient {
        client,
        base,
        email: who.email.clone(),
        totp_secret: who.totp_secret.clone(),
        recovery_codes: who.recovery_codes.clone(),
    }
}
