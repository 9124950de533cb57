//! Security defects found in review, each with its test: the sign-in's `next`, key rotation of
//! staff two-factor secrets, password hashing off the async threads, URIs kept out of logs,
//! pages never cached, page numbers that overflow, literal `_`/`%` in searches, migrations
//! from several processes at once, and mail that is only logged.

use std::time::Duration;

use domain::staff::Role;
use reauth_tests::staff::{PASSWORD, code, csrf_in, first_sign_in, get, post};
use reauth_tests::{TestApp, TestDb, both_backends, http_client};
use sea_orm::EntityTrait;

use crate::dashboard_auth::config;

/// Signs `email` in afresh, posting `next` with the password, and returns where the second
/// factor sends the browser.
async fn sign_in_with_next(app: &TestApp, email: &str, secret: &str, next: &str) -> String {
    app.state.clock.advance(Duration::from_secs(30));
    let c = http_client();
    let base = &app.base;
    let (_, _, login) = get(&c, &format!("{base}/login")).await;
    let (s, loc, _) = post(
        &c,
        &format!("{base}/login"),
        &[
            ("csrf", &csrf_in(&login)),
            ("email", email),
            ("password", PASSWORD),
            ("next", next),
        ],
    )
    .await;
    assert_eq!((s, loc.as_deref()), (303, Some("/login/second-factor")));
    let (_, _, page) = get(&c, &format!("{base}/login/second-factor")).await;
    let (s, loc, _) = post(
        &c,
        &format!("{base}/login/second-factor"),
        &[("csrf", &csrf_in(&page)), ("code", &code(app, secret))],
    )
    .await;
    assert_eq!(s, 303);
    loc.unwrap()
}

#[tokio::test]
async fn the_sign_in_never_redirects_off_site_whatever_next_says() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let who = first_sign_in(&app, "op@partner.example", Role::Operator).await;
    // A real path inside the dashboard is honoured.
    assert_eq!(
        sign_in_with_next(&app, &who.email, &who.totp_secret, "/orgs?state=pending").await,
        "/orgs?state=pending"
    );
    // `%09`, `%5C` and scheme variants are what a form decodes to these.
    for evil in [
        "/\t/evil.com",
        "/\n/evil.com",
        "/\\evil.com",
        "\\\\evil.com",
        "//evil.com",
        "https://evil.com",
        "https:evil.com",
        "https:/evil.com",
    ] {
        assert_eq!(
            sign_in_with_next(&app, &who.email, &who.totp_secret, evil).await,
            "/",
            "{evil:?}"
        );
    }
    // And through the query string of the sign-in page itself.
    let c = http_client();
    let (_, _, page) = get(&c, &format!("{}/login?next=%2F%09%2Fevil.com", app.base)).await;
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse("input[name=next]").unwrap();
    let value = doc
        .select(&sel)
        .next()
        .and_then(|e| e.value().attr("value"))
        .unwrap_or_default();
    assert_eq!(value, "");
}

async fn rotation_reseals_staff_secrets(db: TestDb) {
    let k1 = domain::security::crypto::Sealer::generate_key("k1");
    let mut cfg = config();
    cfg.crypto.keys = vec![k1.clone()];
    let app = TestApp::spawn(&db, cfg).await;
    let who = first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let k2 = domain::security::crypto::Sealer::generate_key("k2");
    let both = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k1, k2.clone()],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let report = domain::security::keys::rotate(&db.db, &both).await.unwrap();
    assert_eq!(report.staff_users, 1, "{report:?}");
    // With only the new key, the two-factor secret still opens: removing the old key after
    // rotation does not lock staff out.
    let only_new = domain::security::crypto::Sealer::from_config(&domain::config::CryptoConfig {
        keys: vec![k2],
        key_file: None,
        ..Default::default()
    })
    .unwrap();
    let user = domain::staff::find_by_email(&db.db, &who.email)
        .await
        .unwrap()
        .unwrap();
    app.state.clock.advance(Duration::from_secs(30));
    let ok = domain::staff::check_totp(
        &db.db,
        &only_new,
        &user,
        &code(&app, &who.totp_secret),
        "test",
        app.state.clock.now(),
    )
    .await
    .unwrap();
    assert!(ok);
}

both_backends!(
    keys_rotate_reseals_staff_two_factor_secrets,
    rotation_reseals_staff_secrets
);

#[tokio::test(flavor = "current_thread")]
async fn password_checks_hash_off_the_async_threads() {
    let db = TestDb::sqlite().await;
    // How long one hash takes here, measured once on this thread.
    let t = std::time::Instant::now();
    let p = secrecy::SecretString::from("some password".to_owned());
    domain::staff::hash_password(&p).await.unwrap();
    let one_hash = t.elapsed();
    // A sign-in check for an unknown email still verifies a hash; the longest single poll of
    // that future shows whether the hash ran on this (the only async) thread.
    let longest = std::sync::Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let check =
        domain::staff::check_password(&db.db, "nobody@partner.example", &p, chrono::Utc::now());
    let mut check = std::pin::pin!(check);
    let outcome = std::future::poll_fn(|cx| {
        let t = std::time::Instant::now();
        let r = check.as_mut().poll(cx);
        let mut l = longest.lock().unwrap();
        *l = (*l).max(t.elapsed());
        r
    })
    .await
    .unwrap();
    assert!(matches!(outcome, domain::staff::PasswordCheck::Rejected));
    let longest = *longest.lock().unwrap();
    assert!(
        longest * 4 < one_hash,
        "no poll may block for a hash: longest poll {longest:?}, one hash {one_hash:?}"
    );
}

#[tokio::test]
async fn request_logs_name_the_route_never_the_uri() {
    let log = crate::logs::Captured::install();
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let link_secret = "Zk9vLWxpbmstc2VjcmV0LXZhbHVlLWZvci10aGUtdGVzdA";
    let code = "aPrEtEnDeDaUtHoRiZaTiOnCoDe";
    app.get(&format!("/r/{link_secret}")).await;
    app.get(&format!("/oauth/callback?code={code}&state=xyz"))
        .await;
    let logged = log.text();
    assert!(logged.contains(r#"route="/r/{secret}""#), "{logged}");
    assert!(logged.contains(r#"route="/oauth/callback""#), "{logged}");
    assert!(!logged.contains(link_secret), "{logged}");
    assert!(!logged.contains(code), "{logged}");
}

#[tokio::test]
async fn pages_that_show_a_secret_once_are_never_stored() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    let admin = first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let (_, _, home) = admin.get("/").await;
    let r = admin
        .client
        .post(format!("{}/admin/api-keys", admin.base))
        .form(&[("csrf", csrf_in(&home).as_str()), ("name", "billing")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body = r.text().await.unwrap();
    assert!(body.contains("rk_"), "the key is shown once");
    let r = app.get("/login").await;
    assert_eq!(r.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_huge_page_number_is_an_empty_page_not_a_crash() {
    let db = TestDb::sqlite().await;
    let app = TestApp::spawn(&db, config()).await;
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme,a@acme.example\n",
    )
    .await;
    let viewer = first_sign_in(&app, "vi@partner.example", Role::Viewer).await;
    let (s, _, page) = viewer.get(&format!("/orgs?page={}", u64::MAX)).await;
    assert_eq!(s, 200, "{page}");
    let doc = scraper::Html::parse_document(&page);
    let rows = scraper::Selector::parse("table tbody tr").unwrap();
    assert_eq!(doc.select(&rows).count(), 0);
}

async fn searches_treat_wildcards_literally(db: TestDb) {
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n\
         00D4c0000008cs2,Acme,it_ops%team@acme.example\n\
         00D4c0000008cs3,Beta,itxopsyteam@beta.example\n",
    )
    .await;
    let found = domain::registry::list(
        &db.db,
        &domain::registry::ListFilter {
            search: Some("it_ops%team".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        found.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["Acme"],
        "`_` and `%` match themselves"
    );
}

both_backends!(
    an_email_search_with_underscore_or_percent_matches_literally,
    searches_treat_wildcards_literally
);

/// Four processes starting at once on an empty database all migrate it without error.
async fn concurrent_migrations(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(reauth_tests::reauth_bin())
                .arg("migrate")
                .current_dir(dir.path())
                .env_clear()
                .env("REAUTH_DATABASE_URL", &url)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let db = domain::db::connect(&url).await.unwrap();
    assert!(
        domain::entity::org::Entity::find()
            .all(&db)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn migrations_from_four_processes_at_once_all_succeed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    concurrent_migrations(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("fresh.db").display()
    ))
    .await;
}

#[tokio::test]
async fn migrations_from_four_processes_at_once_all_succeed_on_postgres() {
    let Some(admin_url) = reauth_tests::postgres_url() else {
        return;
    };
    let name = format!("reauth_m_{}", uuid::Uuid::new_v4().simple());
    let admin = domain::db::connect(&admin_url).await.unwrap();
    use sea_orm::ConnectionTrait;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&format!("/{name}"));
    concurrent_migrations(url.to_string()).await;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .unwrap();
}

#[tokio::test]
async fn mail_that_is_only_logged_is_marked_logged_and_the_dashboard_says_so() {
    let db = TestDb::sqlite().await;
    let mut cfg = config();
    cfg.mail.transport = "log".into();
    let app = TestApp::spawn(&db, cfg.clone()).await;
    reauth_tests::import_csv(
        &db.db,
        "org_id,name,admin_email\n00D4c0000008cs2,Acme,a@acme.example\n",
    )
    .await;
    let now = chrono::Utc::now();
    domain::campaign::notices::enqueue(
        &db.db,
        &domain::types::OrgId::parse("00D4c0000008cs2EAA").unwrap(),
        domain::campaign::notices::NoticeKind::ReauthNeeded,
        "t|reauth_needed|1".into(),
        now,
    )
    .await
    .unwrap();
    let mailer = domain::mail::Mailer::from_config(&cfg.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&cfg.crypto).unwrap();
    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &cfg,
        owner: "test",
    };
    domain::campaign::notices::send_due(&db.db, &sender, now, 10)
        .await
        .unwrap();
    let n = domain::entity::notice::Entity::find()
        .all(&db.db)
        .await
        .unwrap();
    assert_eq!(n[0].status, "logged", "nothing was delivered");
    let admin = first_sign_in(&app, "admin@partner.example", Role::Admin).await;
    let (_, _, page) = admin.get("/").await;
    assert!(
        reauth_tests::staff::text_of(&page, "#mail-warning")
            .unwrap_or_default()
            .contains("No mail is delivered")
    );
}
