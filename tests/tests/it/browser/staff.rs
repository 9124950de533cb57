//! A staff member's day in Chromium: sign-ins, search, a bulk action and an org page.

use std::time::Duration;

use fantoccini::Locator;
use reauth_tests::TestDb;

use super::{chromium, first_sign_in, screenshots_dir, start_driver};
use crate::reconsent_flow::{new_link, world_with};

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
