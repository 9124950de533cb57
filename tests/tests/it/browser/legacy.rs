//! The legacy-to-ECA switch as staff see it in Chromium, around a real consent.

use fantoccini::Locator;
use reauth_tests::TestDb;

use super::{chromium, first_sign_in, screenshots_dir, start_driver};
use crate::reconsent_flow::new_link;

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
