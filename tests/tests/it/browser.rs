//! A real browser (Debian's Chromium through chromedriver) clicks through the re-consent flow:
//! link → landing page → sfsim login → Allow → success page.
//!
//! Skipped with a notice when chromedriver is not installed (`.ci/run` installs it). With
//! `REAUTH_UPDATE_SCREENSHOTS=1` the screenshots are written to `docs/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use reauth_tests::TestDb;

use crate::reconsent_flow::{new_link, world_with};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) async fn start_driver() -> Option<(Driver, String)> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        eprintln!(
            "notice: {CHROMEDRIVER} or {CHROMIUM} is missing; skipping the browser test (apt-get install chromium chromium-driver)"
        );
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let driver = Driver(child);
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some((driver, format!("http://127.0.0.1:{port}")));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

/// A headless Chromium session through chromedriver at `url`, with its own profile directory
/// (kept alive by the returned guard).
pub(crate) async fn chromium(url: &str, window: &str) -> (fantoccini::Client, tempfile::TempDir) {
    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--no-first-run", format!("--window-size={window}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(url)
        .await
        .expect("WebDriver session");
    (client, profile)
}

pub(crate) fn screenshots_dir() -> PathBuf {
    if std::env::var("REAUTH_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        std::env::temp_dir().join(format!("reauth-screenshots-{}", std::process::id()))
    }
}

/// Types `text` into the field `css`, replacing what it held.
pub(crate) async fn type_into(
    client: &fantoccini::Client,
    css: &str,
    text: &str,
) -> Result<(), fantoccini::error::CmdError> {
    let e = client.find(Locator::Css(css)).await?;
    e.clear().await?;
    e.send_keys(text).await
}

/// A staff member's first sign-in in Chromium, from `start` (any dashboard URL, which sends the
/// browser to the sign-in page): the one-time password, a new password, TOTP enrollment (a QR
/// code and its secret), the recovery codes, then Continue. Returns the TOTP secret and the
/// recovery codes' text.
pub(crate) async fn first_sign_in(
    client: &fantoccini::Client,
    app: &reauth_tests::TestApp,
    start: &str,
    email: &str,
    otp: &str,
) -> Result<(String, String), fantoccini::error::CmdError> {
    client.goto(start).await?;
    client.wait().for_element(Locator::Css("#email")).await?;
    type_into(client, "#email", email).await?;
    type_into(client, "#password", otp).await?;
    client.find(Locator::Css("#sign-in")).await?.click().await?;
    client
        .wait()
        .for_element(Locator::Css("#new-password"))
        .await?;
    type_into(client, "#new-password", "a long and private passphrase").await?;
    type_into(client, "#confirm-password", "a long and private passphrase").await?;
    client
        .find(Locator::Css("#save-password"))
        .await?
        .click()
        .await?;
    let secret = client
        .wait()
        .for_element(Locator::Css("#totp-secret"))
        .await?
        .text()
        .await?;
    assert!(
        client.find(Locator::Css(".qr svg")).await.is_ok(),
        "a QR code to scan"
    );
    type_into(client, "#code", &reauth_tests::staff::code(app, &secret)).await?;
    client
        .find(Locator::Css("#verify-code"))
        .await?
        .click()
        .await?;
    let codes = client
        .wait()
        .for_element(Locator::Css("#recovery-codes"))
        .await?
        .text()
        .await?;
    client
        .find(Locator::Css("#continue"))
        .await?
        .click()
        .await?;
    Ok((secret, codes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reconnects_through_the_real_pages_in_chromium() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, false).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;

    let (client, _profile) = chromium(&url, "1100,1300").await;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();

    let result: Result<(), fantoccini::error::CmdError> = async {
        client.goto(&format!("{}/r/{secret}", w.app.base)).await?;
        assert_eq!(
            client.find(Locator::Css("#org-name")).await?.text().await?,
            "Acme Corp"
        );
        std::fs::write(shots.join("landing.png"), client.screenshot().await?).unwrap();
        client
            .find(Locator::Css("button#continue"))
            .await?
            .click()
            .await?;

        // Salesforce (sfsim): log in, then Allow.
        client.wait().for_element(Locator::Css("#username")).await?;
        assert!(
            client
                .current_url()
                .await?
                .as_str()
                .starts_with(w.sim.base_url())
        );
        client
            .find(Locator::Css("#username"))
            .await?
            .send_keys("admin@acme.com")
            .await?;
        client
            .find(Locator::Css("#password"))
            .await?
            .send_keys("password")
            .await?;
        client.find(Locator::Css("#Login")).await?.click().await?;
        client
            .wait()
            .for_element(Locator::Css("#oaapprove"))
            .await?
            .click()
            .await?;

        // Back at reauth.
        let title = client.wait().for_element(Locator::Css("h1#title")).await?;
        assert_eq!(title.text().await?, "Acme Corp is connected");
        assert!(
            client
                .current_url()
                .await?
                .as_str()
                .starts_with(&w.app.base)
        );
        std::fs::write(shots.join("success.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    client.close().await.ok();
    result.unwrap();
    let org = domain::registry::show(
        &w.db.db,
        &domain::types::OrgId::parse("00D4c0000008cs2").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(org.org.state, domain::registry::state::OrgState::Verified);
    w.app.stop().await;
}

/// A staff member's day in Chromium: first sign-in (one-time password, new password, TOTP
/// enrollment), a later sign-in with a TOTP code, a search, a bulk action run as a job, and an
/// org page with a note. Screenshots of the overview, the org list and an org page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_search_bulk_action_and_org_page_in_chromium() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, true).await;
    // A realistic registry: 60 more orgs in two waves, some progress, an alert, one connection.
    let mut csv = String::from("org_id,name,environment,admin_email,wave,csm_email\n");
    for i in 0..60 {
        csv.push_str(&format!(
            "00D000000000{i:03},Customer {i:02},{},admin{i}@customer{i}.example,{},{}\n",
            if i % 4 == 0 { "sandbox" } else { "production" },
            if i < 40 { "spring" } else { "summer" },
            if i % 2 == 0 {
                "kim@partner.example"
            } else {
                "lee@partner.example"
            },
        ));
    }
    reauth_tests::import_csv(&w.db.db, &csv).await;
    let now = chrono::Utc::now();
    let system = domain::events::Actor::System;
    domain::campaign::set_schedule(
        &w.db.db,
        "spring",
        Some(now - chrono::Duration::days(20)),
        Some(now + chrono::Duration::days(10)),
        &system,
        now,
    )
    .await
    .unwrap();
    domain::campaign::set_schedule(
        &w.db.db,
        "summer",
        Some(now - chrono::Duration::days(5)),
        Some(now + chrono::Duration::days(40)),
        &system,
        now,
    )
    .await
    .unwrap();
    for i in 0..40 {
        let id = domain::types::OrgId::parse(&format!("00D000000000{i:03}")).unwrap();
        let to = match i % 5 {
            0 | 1 => domain::registry::state::OrgState::Verified,
            2 => domain::registry::state::OrgState::Opened,
            3 => domain::registry::state::OrgState::Notified,
            _ => continue,
        };
        domain::registry::state::apply(
            &w.db.db,
            &id,
            domain::registry::state::Change::Advance(to),
            &system,
            now - chrono::Duration::days(18 - (i as i64 % 18)),
        )
        .await
        .unwrap();
    }
    domain::alerts::raise(
        &w.db.db,
        "refresh_failures",
        domain::alerts::Severity::Warning,
        Some(&domain::types::OrgId::parse("00D000000000007").unwrap()),
        "Refresh failed: ip restricted",
        serde_json::json!({}),
        now,
    )
    .await
    .unwrap();
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let auth = crate::reconsent_flow::start(&w, &secret).await;
    let cb = crate::reconsent_flow::authorize_as(auth, "admin@acme.com").await;
    assert_eq!(crate::reconsent_flow::callback(&w, &cb).await.0, 200);
    let otp = reauth_tests::staff::add(
        &w.app,
        "casey@partner.example",
        domain::staff::Role::Operator,
    )
    .await;

    let (client, _profile) = chromium(&url, "1400,1100").await;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let base = w.app.base.clone();
    let app = &w.app;
    let code = |secret: &str| reauth_tests::staff::code(app, secret);

    let result: Result<(), fantoccini::error::CmdError> = async {
        let type_into = |css: &'static str, text: String| {
            let client = client.clone();
            async move {
                let e = client.find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(&text).await
            }
        };
        // First sign-in: the dashboard sends us to the sign-in page.
        let (secret, codes) = first_sign_in(
            &client,
            app,
            &format!("{base}/orgs"),
            "casey@partner.example",
            &otp,
        )
        .await?;
        assert_eq!(
            codes.lines().filter(|l| !l.trim().is_empty()).count(),
            10,
            "{codes}"
        );

        // Back where we were going.
        client
            .wait()
            .for_element(Locator::Css("#org-table"))
            .await?;
        assert!(client.current_url().await?.as_str().ends_with("/orgs"));

        // Sign out, and in again: password, then a TOTP code.
        client
            .find(Locator::Css("#sign-out"))
            .await?
            .click()
            .await?;
        client.wait().for_element(Locator::Css("#email")).await?;
        app.state.clock.advance(Duration::from_secs(30));
        type_into("#email", "casey@partner.example".into()).await?;
        type_into("#password", "a long and private passphrase".into()).await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        client.wait().for_element(Locator::Css("#code")).await?;
        type_into("#code", code(&secret)).await?;
        client
            .find(Locator::Css("#verify-code"))
            .await?
            .click()
            .await?;
        client
            .wait()
            .for_element(Locator::Css("#state-counts"))
            .await?;
        assert_eq!(
            client.find(Locator::Css("#who")).await?.text().await?,
            "casey@partner.example · operator"
        );
        assert!(
            client
                .find(Locator::Css("#burn-down svg polyline.actual"))
                .await
                .is_ok()
        );
        std::fs::write(shots.join("overview.png"), client.screenshot().await?).unwrap();

        // Search.
        client
            .find(Locator::Css("nav.top a[href='/orgs']"))
            .await?
            .click()
            .await?;
        client.wait().for_element(Locator::Css("#search")).await?;
        type_into("#search", "customer 1".into()).await?;
        client
            .find(Locator::Css("#apply-filters"))
            .await?
            .click()
            .await?;
        // The list reloads in place: wait for the new page before reading it.
        for _ in 0..50 {
            if client.current_url().await?.as_str().contains("q=customer") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let count = client
            .wait()
            .for_element(Locator::Css("#result-count"))
            .await?
            .text()
            .await?;
        // Customer 10–19.
        assert!(count.starts_with("1–10 of 10 orgs"), "{count}");
        std::fs::write(shots.join("orgs.png"), client.screenshot().await?).unwrap();

        // A bulk action on a whole filter: pause notices for the summer wave.
        client.goto(&format!("{base}/orgs?wave=summer")).await?;
        client
            .wait()
            .for_element(Locator::Css("#bulk-action"))
            .await?;
        client
            .find(Locator::Css("#bulk-action option[value='pause_notices']"))
            .await?
            .click()
            .await?;
        client
            .find(Locator::Css("#scope-filter"))
            .await?
            .click()
            .await?;
        client
            .find(Locator::Css("#bulk-review"))
            .await?
            .click()
            .await?;
        let title = client
            .wait()
            .for_element(Locator::Css("#confirm-title"))
            .await?
            .text()
            .await?;
        assert_eq!(title, "Pause notices for 20 orgs?");
        client
            .find(Locator::Css("#bulk-confirm"))
            .await?
            .click()
            .await?;
        client
            .wait()
            .for_element(Locator::Css("#job-status"))
            .await?;
        // The page refreshes itself while the job runs; load it afresh each time instead.
        let job_url = client.current_url().await?;
        let mut status = String::new();
        for _ in 0..50 {
            client.goto(job_url.as_str()).await?;
            status = client
                .wait()
                .for_element(Locator::Css("#job-status"))
                .await?
                .attr("data-status")
                .await?
                .unwrap_or_default();
            if status == "done" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(status, "done");
        assert_eq!(
            client.find(Locator::Css("#job-done")).await?.text().await?,
            "20"
        );

        // The org page, and a note on its timeline.
        client.goto(&format!("{base}/orgs?q=acme+corp")).await?;
        client
            .wait()
            .for_element(Locator::Css("a.org-link"))
            .await?
            .click()
            .await?;
        let name = client
            .wait()
            .for_element(Locator::Css("#org-name"))
            .await?
            .text()
            .await?;
        assert_eq!(name, "Acme Corp");
        let conn = client
            .find(Locator::Css("#connections tbody tr"))
            .await?
            .text()
            .await?;
        assert!(conn.contains("active"), "{conn}");
        type_into("#note-text", "Called Dana: all set.".into()).await?;
        client
            .find(Locator::Css("#add-note"))
            .await?
            .click()
            .await?;
        // Wait for the reloaded page that has the note (the old page's table is still there).
        let note = client
            .wait()
            .for_element(Locator::XPath(
                "//table[@id='events']//td[contains(., 'Called Dana: all set.')]",
            ))
            .await?;
        assert!(note.text().await?.contains("Called Dana"));
        client.execute("window.scrollTo(0, 0)", vec![]).await?;
        std::fs::write(shots.join("org.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    client.close().await.ok();
    result.unwrap();
    w.app.stop().await;
}

/// The demo's data path (the partner's legacy token imported and activated): staff see the org
/// served by the legacy app; the admin consents in Chromium through the real pages; the org page
/// now shows the External Client App connection serving, and `/legacy` counts the org as "both".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_to_eca_switch_is_seen_on_the_org_page_in_chromium() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = crate::reconsent_flow::world_custom(
        TestDb::sqlite().await,
        false,
        |_| {},
        crate::legacy::legacy_config,
    )
    .await;
    let m = crate::legacy::mint(&w, "admin@acme.com");
    crate::legacy::import_text(
        &w,
        &format!(
            "{}{}",
            crate::legacy::HEADER,
            crate::legacy::csv_line("00D4c0000008cs2", &m)
        ),
        domain::legacy::import::Options {
            activate: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let otp = reauth_tests::staff::add(
        &w.app,
        "casey@partner.example",
        domain::staff::Role::Operator,
    )
    .await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let (client, _profile) = chromium(&url, "1280,1000").await;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let base = w.app.base.clone();
    let app = &w.app;
    let result: Result<(), fantoccini::error::CmdError> = async {
        let type_into = |css: &'static str, text: String| {
            let client = client.clone();
            async move {
                let e = client.find(Locator::Css(css)).await?;
                e.clear().await?;
                e.send_keys(&text).await
            }
        };
        first_sign_in(
            &client,
            app,
            &format!("{base}/orgs/00D4c0000008cs2"),
            "casey@partner.example",
            &otp,
        )
        .await?;
        let serving = client
            .wait()
            .for_element(Locator::Css("#connections tr.serving"))
            .await?;
        assert_eq!(serving.attr("data-app").await?.as_deref(), Some("legacy"));

        // The customer admin consents on the real pages.
        client.goto(&format!("{base}/r/{secret}")).await?;
        client
            .find(Locator::Css("button#continue"))
            .await?
            .click()
            .await?;
        client.wait().for_element(Locator::Css("#username")).await?;
        type_into("#username", "admin@acme.com".into()).await?;
        type_into("#password", "password".into()).await?;
        client.find(Locator::Css("#Login")).await?.click().await?;
        client
            .wait()
            .for_element(Locator::Css("#oaapprove"))
            .await?
            .click()
            .await?;
        let title = client.wait().for_element(Locator::Css("h1#title")).await?;
        assert_eq!(title.text().await?, "Acme Corp is connected");

        client.goto(&format!("{base}/orgs/00D4c0000008cs2")).await?;
        let serving = client
            .wait()
            .for_element(Locator::Css("#connections tr.serving"))
            .await?;
        assert_eq!(serving.attr("data-app").await?.as_deref(), Some("eca"));
        let legacy_row = client
            .find(Locator::Css("#connections tr[data-app='legacy']"))
            .await?;
        assert_eq!(
            legacy_row.attr("data-status").await?.as_deref(),
            Some("active")
        );
        std::fs::write(shots.join("org-cut-over.png"), client.screenshot().await?).unwrap();

        client.goto(&format!("{base}/legacy")).await?;
        let both = client
            .wait()
            .for_element(Locator::Css("#buckets tr[data-bucket='both'] td.num"))
            .await?
            .text()
            .await?;
        assert_eq!(both, "1");
        let verdict = client.find(Locator::Css("#verdict")).await?.text().await?;
        assert!(
            verdict.contains("not ready: 1 org still depends"),
            "{verdict}"
        );
        std::fs::write(shots.join("legacy.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    client.close().await.ok();
    result.unwrap();
    w.app.stop().await;
}

/// The public `/ip-ranges` page as a customer admin sees it, with an upcoming change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ip_ranges_page_renders_in_chromium() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let mut config = domain::config::Config::default();
    config.partner.name = "Example Integrations".into();
    config.partner.egress_ranges = vec!["203.0.113.0/28".parse().unwrap()];
    config.partner.upcoming_egress_ranges = vec![domain::config::UpcomingRange {
        cidr: "198.51.100.0/29".parse().unwrap(),
        from: chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
    }];
    let app = reauth_tests::TestApp::spawn(&db, config).await;
    let (client, _profile) = chromium(&url, "1100,1400").await;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let result: Result<(), fantoccini::error::CmdError> = async {
        client.goto(&format!("{}/ip-ranges", app.base)).await?;
        let current = client.find(Locator::Css("#current")).await?.text().await?;
        assert!(current.contains("203.0.113.0/28"), "{current}");
        let upcoming = client.find(Locator::Css("#upcoming")).await?.text().await?;
        assert!(
            upcoming.contains("198.51.100.0/29 from January 15, 2027"),
            "{upcoming}"
        );
        let token = client
            .find(Locator::Css("#sync-token"))
            .await?
            .text()
            .await?;
        assert_eq!(token.len(), 16, "{token}");
        std::fs::write(shots.join("ip-ranges.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    client.close().await.ok();
    result.unwrap();
    app.stop().await;
}
