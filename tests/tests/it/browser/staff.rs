//! A staff member's day in Chromium, one behaviour a test: the first sign-in (one-time password,
//! new password, TOTP enrollment), a later sign-in with a TOTP code, a search, a bulk action run
//! as a job, and an org page with a note. Screenshots of the overview, the org list and an org
//! page. Each test starts from [`signed_in`]: a realistic registry and a staff member who has
//! just signed in for the first time.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Locator;
use fantoccini::error::CmdError;
use reauth_tests::TestDb;

use super::{Driver, chromium, first_sign_in, screenshots_dir, start_driver, type_into};
use crate::reconsent_flow::{World, new_link, world_with};

/// A browser signed in as a new operator, over a registry of 61 orgs in two waves (some
/// progress, an alert, one active connection: Acme Corp's).
struct Day {
    _driver: Driver,
    _profile: tempfile::TempDir,
    w: World,
    client: fantoccini::Client,
    base: String,
    shots: PathBuf,
    /// The TOTP secret enrolled at the first sign-in.
    secret: String,
    /// The recovery codes' text shown at the first sign-in.
    codes: String,
}

/// The registry, and its operator's first sign-in, started from `/orgs`. `None`: no
/// chromedriver (the test is skipped).
async fn signed_in() -> Option<Day> {
    let (driver, url) = start_driver().await?;
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

    let (client, profile) = chromium(&url, "1400,1100").await;
    let shots = screenshots_dir();
    std::fs::create_dir_all(&shots).unwrap();
    let base = w.app.base.clone();
    let (secret, codes) = first_sign_in(
        &client,
        &w.app,
        &format!("{base}/orgs"),
        "casey@partner.example",
        &otp,
    )
    .await
    .unwrap();
    Some(Day {
        _driver: driver,
        _profile: profile,
        w,
        client,
        base,
        shots,
        secret,
        codes,
    })
}

impl Day {
    /// Closes the browser, then fails the test if `result` did, and stops the app.
    async fn end(self, result: Result<(), CmdError>) {
        self.client.close().await.ok();
        result.unwrap();
        self.w.app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_sign_in_shows_ten_recovery_codes_and_returns_to_the_page_asked_for() {
    let Some(day) = signed_in().await else {
        return;
    };
    let result = async {
        let client = &day.client;
        assert_eq!(
            day.codes.lines().filter(|l| !l.trim().is_empty()).count(),
            10,
            "{}",
            day.codes
        );
        client
            .wait()
            .for_element(Locator::Css("#org-table"))
            .await?;
        assert!(client.current_url().await?.as_str().ends_with("/orgs"));
        Ok(())
    }
    .await;
    day.end(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_sign_in_takes_the_password_then_a_totp_code_and_lands_on_the_overview() {
    let Some(day) = signed_in().await else {
        return;
    };
    let result = async {
        let client = &day.client;
        let app = &day.w.app;
        client
            .wait()
            .for_element(Locator::Css("#org-table"))
            .await?;
        client
            .find(Locator::Css("#sign-out"))
            .await?
            .click()
            .await?;
        client.wait().for_element(Locator::Css("#email")).await?;
        app.state.clock.advance(Duration::from_secs(30));
        type_into(client, "#email", "casey@partner.example").await?;
        type_into(client, "#password", "a long and private passphrase").await?;
        client.find(Locator::Css("#sign-in")).await?.click().await?;
        client.wait().for_element(Locator::Css("#code")).await?;
        type_into(
            client,
            "#code",
            &reauth_tests::staff::code(app, &day.secret),
        )
        .await?;
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
        std::fs::write(day.shots.join("overview.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    day.end(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_narrows_the_org_list_to_the_matching_orgs() {
    let Some(day) = signed_in().await else {
        return;
    };
    let result = async {
        let client = &day.client;
        client
            .wait()
            .for_element(Locator::Css("#org-table"))
            .await?;
        client
            .find(Locator::Css("nav.top a[href='/orgs']"))
            .await?
            .click()
            .await?;
        client.wait().for_element(Locator::Css("#search")).await?;
        type_into(client, "#search", "customer 1").await?;
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
        std::fs::write(day.shots.join("orgs.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    day.end(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_action_on_a_whole_filter_runs_as_a_job_over_every_matching_org() {
    let Some(day) = signed_in().await else {
        return;
    };
    let result = async {
        let client = &day.client;
        // Pause notices for the summer wave.
        client
            .goto(&format!("{}/orgs?wave=summer", day.base))
            .await?;
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
        Ok(())
    }
    .await;
    day.end(result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_added_on_an_org_page_appears_on_its_timeline() {
    let Some(day) = signed_in().await else {
        return;
    };
    let result = async {
        let client = &day.client;
        client
            .goto(&format!("{}/orgs?q=acme+corp", day.base))
            .await?;
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
        type_into(client, "#note-text", "Called Dana: all set.").await?;
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
        std::fs::write(day.shots.join("org.png"), client.screenshot().await?).unwrap();
        Ok(())
    }
    .await;
    day.end(result).await;
}
