//! The customer's link pages and the callback's guards, on the real server.

use domain::config::Config;
use domain::events::Actor;
use domain::reconsent::links::NewLink;
use domain::types::OrgId;
use reauth_tests::{TestApp, TestDb, both_backends};
use scraper::{Html, Selector};

const ORGS: &str = "org_id,name,environment,admin_email,secondary_email\n00D4c0000008cs2,Acme Corp,production,admin@acme.com,ops@acme.com\n";

fn acme() -> OrgId {
    OrgId::parse("00D4c0000008cs2").unwrap()
}

async fn seed(db: &TestDb) {
    reauth_tests::import_csv(&db.db, ORGS).await;
}

async fn link(db: &TestDb, ttl_days: u64, created: chrono::DateTime<chrono::Utc>) -> (String, i64) {
    let id = acme();
    let new = NewLink {
        org_id: &id,
        contact: None,
        ttl: std::time::Duration::from_secs(ttl_days * 86_400),
        notice_id: None,
    };
    let (secret, model) =
        domain::reconsent::links::create(&db.db, new, &Actor::Cli("t".into()), created)
            .await
            .unwrap();
    (secret.expose().to_owned(), model.id)
}

fn text(doc: &Html, css: &str) -> String {
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .unwrap_or_default()
}

fn attr(doc: &Html, css: &str, name: &str) -> Option<String> {
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel)
        .next()
        .and_then(|e| e.value().attr(name))
        .map(str::to_owned)
}

async fn page(app: &TestApp, path: &str) -> (u16, Html, reqwest::header::HeaderMap) {
    let r = app.get(path).await;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (
        status,
        Html::parse_document(&r.text().await.unwrap()),
        headers,
    )
}

async fn landing_shows_the_org_and_opening_never_consumes(db: TestDb) {
    seed(&db).await;
    let (secret, link_id) = link(&db, 14, chrono::Utc::now()).await;
    let app = TestApp::spawn(&db, Config::default()).await;
    let (status, doc, headers) = page(&app, &format!("/r/{secret}")).await;
    assert_eq!(status, 200);
    assert_eq!(text(&doc, "#org-name"), "Acme Corp");
    assert_eq!(text(&doc, "#org-id"), "00D4c0000008cs2EAA");
    assert_eq!(text(&doc, "button#continue"), "Continue to Salesforce");
    assert_eq!(
        attr(&doc, "form", "action").unwrap(),
        format!("/r/{secret}/start")
    );
    assert!(!attr(&doc, "input[name=csrf]", "value").unwrap().is_empty());
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("form-action 'self' https://*.salesforce.com"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let cookie = headers["set-cookie"].to_str().unwrap().to_ascii_lowercase();
    assert!(
        cookie.contains("httponly") && cookie.contains("samesite=lax"),
        "{cookie}"
    );

    // A mail scanner and then the admin: both see the page, the link stays usable.
    let (again, _, _) = page(&app, &format!("/r/{secret}")).await;
    assert_eq!(again, 200);
    let links = domain::reconsent::links::list_for_org(&db.db, &acme())
        .await
        .unwrap();
    let l = links.iter().find(|l| l.id == link_id).unwrap();
    assert_eq!(l.open_count, 2);
    assert!(l.used_at.is_none());
    let org = domain::registry::show(&db.db, &acme()).await.unwrap();
    assert_eq!(org.org.state, domain::registry::state::OrgState::Opened);
    app.stop().await;
}

both_backends!(
    landing_page_shows_the_org_and_opening_never_consumes_the_link,
    landing_shows_the_org_and_opening_never_consumes
);

async fn each_unusable_link_gets_its_own_page(db: TestDb) {
    seed(&db).await;
    let app = TestApp::spawn(&db, Config::default()).await;
    let long_ago = chrono::Utc::now() - chrono::Duration::days(30);
    let (expired, _) = link(&db, 14, long_ago).await;
    let (used, used_id) = link(&db, 14, chrono::Utc::now()).await;
    assert!(
        domain::reconsent::links::consume(&db.db, used_id, chrono::Utc::now())
            .await
            .unwrap()
    );
    let (revoked, revoked_id) = link(&db, 14, chrono::Utc::now()).await;
    domain::reconsent::links::revoke(
        &db.db,
        revoked_id,
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (valid, _) = link(&db, 14, chrono::Utc::now()).await;
    let mut tampered = valid.clone().into_bytes();
    tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();

    for (secret, status, title) in [
        (expired.as_str(), 410, "This link has expired"),
        (used.as_str(), 409, "This link has already been used"),
        (revoked.as_str(), 410, "This link was withdrawn"),
        (tampered.as_str(), 404, "We don't recognise this link"),
        (&valid[..20], 404, "We don't recognise this link"),
        (
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            404,
            "We don't recognise this link",
        ),
    ] {
        let (s, doc, _) = page(&app, &format!("/r/{secret}")).await;
        assert_eq!(
            (s, text(&doc, "h1#title").as_str()),
            (status, title),
            "for {secret}"
        );
    }
    // Expired, used and revoked pages offer a fresh link to the contact on file; unknown does not.
    let (_, doc, _) = page(&app, &format!("/r/{expired}")).await;
    assert_eq!(
        attr(&doc, "form", "action").unwrap(),
        format!("/r/{expired}/fresh")
    );
    let (_, doc, _) = page(&app, &format!("/r/{tampered}")).await;
    assert!(attr(&doc, "form", "action").is_none());
    app.stop().await;
}

both_backends!(
    expired_used_revoked_unknown_and_tampered_links_each_get_their_own_page,
    each_unusable_link_gets_its_own_page
);

async fn fresh_link_goes_to_the_contact_on_file_once_per_hour(db: TestDb) {
    seed(&db).await;
    let app = TestApp::spawn(&db, Config::default()).await;
    let (expired, _) = link(&db, 14, chrono::Utc::now() - chrono::Duration::days(30)).await;
    let (_, doc, _) = page(&app, &format!("/r/{expired}")).await;
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    let url = format!("{}/r/{expired}/fresh", app.base);

    // Without the form's token: refused, nothing queued.
    let r = app
        .client
        .post(&url)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // An address typed on the page is ignored: the form has no such field and the server reads none.
    let r = app
        .client
        .post(&url)
        .form(&[("csrf", csrf.as_str()), ("email", "attacker@evil.example")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let doc = Html::parse_document(&r.text().await.unwrap());
    assert!(
        text(&doc, "main").contains("a•••@acme.com"),
        "{}",
        text(&doc, "main")
    );
    let r = app
        .client
        .post(&url)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    use sea_orm::EntityTrait;
    let notices = domain::entity::notice::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(
        notices.len(),
        1,
        "one fresh link per hour, however often the button is pressed"
    );
    assert_eq!(notices[0].kind, "fresh_link");
    assert_eq!(notices[0].recipient.as_deref(), Some("admin@acme.com"));
    app.stop().await;
}

both_backends!(
    a_fresh_link_goes_only_to_the_contact_on_file,
    fresh_link_goes_to_the_contact_on_file_once_per_hour
);

async fn callback_without_a_flow_or_with_a_forged_state_changes_nothing(db: TestDb) {
    seed(&db).await;
    let mut config = Config::default();
    config.salesforce.client_id = Some("test-client".into());
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let app = TestApp::spawn(&db, config).await;
    let (s, doc, _) = page(&app, "/oauth/callback?code=abc&state=xyz").await;
    assert_eq!(s, 400);
    assert_eq!(text(&doc, "h1#title"), "There is no sign-in to finish here");
    let (s, _, _) = page(&app, "/oauth/callback").await;
    assert_eq!(s, 400);

    // Start a real flow (this browser now holds a state), then come back with another state.
    let (secret, _) = link(&db, 14, chrono::Utc::now()).await;
    let (_, doc, _) = page(&app, &format!("/r/{secret}")).await;
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    let r = app
        .client
        .post(format!("{}/r/{secret}/start", app.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let auth = url::Url::parse(&location).unwrap();
    assert_eq!(auth.host_str(), Some("login.salesforce.com"));
    let q: std::collections::HashMap<_, _> = auth.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["prompt"], "login consent");
    assert_eq!(q["redirect_uri"], format!("{}/oauth/callback", app.base));
    let (s, doc, _) = page(&app, "/oauth/callback?code=abc&state=forged").await;
    assert_eq!(s, 400);
    assert_eq!(
        text(&doc, "h1#title"),
        "This sign-in could not be completed"
    );
    assert!(text(&doc, "#error-message").contains("does not belong to the sign-in started here"));
    // One-shot: even the right state fails once a callback has consumed the flow.
    let (s, _, _) = page(
        &app,
        &format!("/oauth/callback?code=abc&state={}", q["state"]),
    )
    .await;
    assert_eq!(s, 400);
    let org = domain::registry::show(&db.db, &acme()).await.unwrap();
    assert_eq!(
        org.org.state,
        domain::registry::state::OrgState::Opened,
        "nothing moved past opened"
    );
    app.stop().await;
}

both_backends!(
    a_forged_or_missing_state_is_refused_and_changes_nothing,
    callback_without_a_flow_or_with_a_forged_state_changes_nothing
);

async fn start_requires_the_pages_csrf_token(db: TestDb) {
    seed(&db).await;
    let (secret, _) = link(&db, 14, chrono::Utc::now()).await;
    let app = TestApp::spawn(&db, Config::default()).await;
    let r = app
        .client
        .post(format!("{}/r/{secret}/start", app.base))
        .form(&[("csrf", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    app.stop().await;
}

both_backends!(
    starting_without_the_form_token_is_refused,
    start_requires_the_pages_csrf_token
);

async fn fresh_link_is_delivered_with_a_working_link_once(db: TestDb) {
    seed(&db).await;
    let mut config = Config::default();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let outbox = tempfile::tempdir().unwrap();
    config.mail.transport = format!("file://{}", outbox.path().display());
    let app = TestApp::spawn(&db, config).await;
    let (expired, _) = link(&db, 14, chrono::Utc::now() - chrono::Duration::days(30)).await;
    let (_, doc, _) = page(&app, &format!("/r/{expired}")).await;
    let csrf = attr(&doc, "input[name=csrf]", "value").unwrap();
    let r = app
        .client
        .post(format!("{}/r/{expired}/fresh", app.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let cfg = app.state.config.clone();
    let mailer = domain::mail::Mailer::from_config(&cfg.mail).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: app.state.sealer.as_ref().unwrap(),
        config: &cfg,
        owner: "test",
    };
    let report = domain::campaign::notices::send_due(&db.db, &sender, chrono::Utc::now(), 10)
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(
        domain::campaign::notices::send_due(&db.db, &sender, chrono::Utc::now(), 10)
            .await
            .unwrap()
            .sent,
        0,
        "sent once"
    );

    let files: Vec<_> = std::fs::read_dir(outbox.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    // Undo quoted-printable soft breaks and `=3D` before looking for the URL.
    let eml = std::fs::read_to_string(&files[0])
        .unwrap()
        .replace("=\r\n", "")
        .replace("=3D", "=");
    assert!(
        eml.contains("To: admin@acme.com"),
        "goes to the contact on file"
    );
    assert!(
        eml.contains("Message-ID: <notice-"),
        "deterministic Message-ID"
    );
    let start = eml
        .find(&format!("{}/r/", app.base))
        .expect("a link in the mail");
    let url: String = eml[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "/:._-".contains(*c))
        .collect();
    let r = app.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "the mailed link opens the landing page");

    use sea_orm::EntityTrait;
    let n = domain::entity::notice::Entity::find()
        .one(&db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(n.status, "sent");
    assert!(
        n.link_secret_ct.is_none(),
        "the sealed link secret is dropped once the mail is accepted"
    );
    app.stop().await;
}

both_backends!(
    a_requested_fresh_link_is_mailed_once_and_works,
    fresh_link_is_delivered_with_a_working_link_once
);
