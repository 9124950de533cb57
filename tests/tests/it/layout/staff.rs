//! The staff pages at 1280×900: the overview's tiles in at most two rows, the orgs filter row on
//! one line, no element wider than its container; an unknown path and a failing action keep the
//! navigation and say what to do.

use fantoccini::Locator;
use reauth_tests::TestDb;

use super::{overflowing, shoot, viewport};
use crate::browser::start_driver;
use crate::reconsent_flow::world_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_pages_fit_1280_by_900_and_errors_keep_the_navigation() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, true).await;
    let mut csv = String::from("org_id,name,environment,admin_email,wave,csm_email\n");
    for i in 0..12 {
        csv.push_str(&format!(
            "00D000000000{i:03},Customer {i:02},production,admin{i}@customer{i}.example,spring,kim@partner.example\n"
        ));
    }
    reauth_tests::import_csv(&w.db.db, &csv).await;
    let otp =
        reauth_tests::staff::add(&w.app, "ada@partner.example", domain::staff::Role::Admin).await;
    let (client, _profile) = viewport(&url).await;
    let base = w.app.base.clone();
    let app = &w.app;
    let result: Result<(), fantoccini::error::CmdError> = async {
        crate::browser::first_sign_in(
            &client,
            app,
            &format!("{base}/"),
            "ada@partner.example",
            &otp,
        )
        .await?;
        client.wait().for_element(Locator::Css("#state-counts")).await?;

        // The overview's tiles: at most two rows.
        let mut tops = Vec::new();
        for tile in client.find_all(Locator::Css("#state-counts .count")).await? {
            tops.push(tile.rectangle().await?.1.round() as i64);
        }
        tops.sort_unstable();
        tops.dedup();
        assert!(tops.len() <= 2, "the tiles sit in {} rows: {tops:?}", tops.len());

        let pages = [
            ("", "staff-overview"),
            ("orgs", "staff-orgs"),
            ("orgs/00D000000000001", "staff-org"),
            ("waves", "staff-waves"),
            ("legacy", "staff-legacy"),
            ("events", "staff-events"),
            ("security", "staff-security"),
            ("jobs", "staff-jobs"),
            ("incident", "staff-incident"),
            ("compliance", "staff-compliance"),
            ("admin/staff", "staff-admin-staff"),
            ("admin/api-keys", "staff-admin-api-keys"),
            ("admin/settings", "staff-admin-settings"),
            ("no/such/page", "staff-not-found"),
            ("jobs/999", "staff-no-job"),
        ];
        for (path, name) in pages {
            client.goto(&format!("{base}/{path}")).await?;
            client.wait().for_element(Locator::Css("main")).await?;
            shoot(&client, name).await;
            let title = client.title().await?;
            assert!(
                title.ends_with(" · reauth") && !title.contains('<') && title.len() < 60,
                "/{path}: the title is not plain text: {title:?}"
            );
            let bad = overflowing(&client).await;
            assert!(bad.is_empty(), "/{path}: wider than their container: {bad:?}");
        }

        // The orgs filter row is one line.
        client.goto(&format!("{base}/orgs")).await?;
        let mut tops = Vec::new();
        for e in client.find_all(Locator::Css("#filters > *")).await? {
            let (_, y, _, h) = e.rectangle().await?;
            if h > 0.0 {
                tops.push(y);
            }
        }
        let spread = tops.iter().copied().fold(f64::MIN, f64::max)
            - tops.iter().copied().fold(f64::MAX, f64::min);
        assert!(spread < 20.0, "the filter row wraps: tops {tops:?}");

        // An unknown path and a failing action: the navigation and a sentence.
        for path in ["no/such/page", "jobs/999"] {
            client.goto(&format!("{base}/{path}")).await?;
            assert!(client.find(Locator::Css("nav.top")).await.is_ok(), "/{path}");
            assert!(!client.find(Locator::Css("#problem")).await?.text().await?.is_empty());
            let advice = client.find(Locator::Css("#error-advice")).await?.text().await?;
            assert!(advice.ends_with('.') && advice.len() > 20, "/{path}: {advice}");
        }
        client.goto(&format!("{base}/orgs")).await?;
        client.find(Locator::Css("#bulk-review")).await?;
        client
            .execute(
                "document.getElementById('bulk-action').removeAttribute('required'); document.getElementById('scope-filter').checked = true; document.getElementById('bulk').submit();",
                vec![],
            )
            .await?;
        client.wait().for_element(Locator::Css("#error")).await?;
        assert!(client.find(Locator::Css("nav.top")).await.is_ok());
        let message = client.find(Locator::Css("#error-message")).await?.text().await?;
        assert!(message.starts_with("Choose an action"), "{message}");
        shoot(&client, "staff-error").await;
        Ok(())
    }
    .await;
    client.close().await.unwrap();
    result.unwrap();
}
