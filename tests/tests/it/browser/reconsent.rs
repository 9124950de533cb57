//! The re-consent flow in Chromium: link → landing page → sfsim login → Allow → success page.

use fantoccini::Locator;
use reauth_tests::TestDb;

use super::{chromium, screenshots_dir, start_driver};
use crate::reconsent_flow::{new_link, world_with};

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
