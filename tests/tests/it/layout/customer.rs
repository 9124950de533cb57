//! The customer admin's pages at 1280×900: the landing page's button above the fold, and every
//! page the consent flow can end on, none wider than its container.

use reauth_tests::TestDb;

use super::{HEIGHT, bottom_of, overflowing, shoot, viewport};
use crate::browser::start_driver;
use crate::reconsent_flow::{new_link, world_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_pages_button_is_above_the_fold_at_1280_by_900() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, false).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;
    let (client, _profile) = viewport(&url).await;
    client
        .goto(&format!("{}/r/{secret}", w.app.base))
        .await
        .unwrap();
    let bottom = bottom_of(&client, "button#continue").await;
    shoot(&client, "customer-landing").await;
    let bad = overflowing(&client).await;
    client.close().await.unwrap();
    assert!(
        bottom <= HEIGHT as f64,
        "the Continue button ends at {bottom} px, below the fold at {HEIGHT} px"
    );
    assert!(bad.is_empty(), "wider than their container: {bad:?}");
}

/// Landing page → Salesforce (sfsim): sign in as `username`, then Allow or Deny; waits for
/// reauth's page.
async fn consent_as(
    client: &fantoccini::Client,
    landing: &str,
    username: &str,
    allow: bool,
) -> Result<(), fantoccini::error::CmdError> {
    use fantoccini::Locator;
    client.goto(landing).await?;
    client
        .find(Locator::Css("button#continue"))
        .await?
        .click()
        .await?;
    client.wait().for_element(Locator::Css("#username")).await?;
    client
        .find(Locator::Css("#username"))
        .await?
        .send_keys(username)
        .await?;
    client
        .find(Locator::Css("#password"))
        .await?
        .send_keys("password")
        .await?;
    client.find(Locator::Css("#Login")).await?.click().await?;
    let button = if allow { "#oaapprove" } else { "#oadeny" };
    client
        .wait()
        .for_element(Locator::Css(button))
        .await?
        .click()
        .await?;
    client.wait().for_element(Locator::Css("h1#title")).await?;
    Ok(())
}

/// Every page a customer admin can end on, at 1280×900: each has its title, none is wider than
/// its container, and each is photographed for `docs/screenshots/customer-*.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_customer_outcome_page_fits_1280_by_900() {
    use fantoccini::Locator;
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, false).await;
    let base = w.app.base.clone();
    let success = new_link(&w, "00D4c0000008cs2").await;
    let wrong = new_link(&w, "00D4c0000008cs3").await;
    let denied = new_link(&w, "00D4c0000008cs3").await;
    let expired = {
        let id = domain::types::OrgId::parse("00D4c0000008cs3").unwrap();
        let new = domain::reconsent::links::NewLink {
            org_id: &id,
            contact: None,
            ttl: std::time::Duration::from_secs(86_400),
            notice_id: None,
        };
        let created = chrono::Utc::now() - chrono::Duration::days(3);
        let (s, _) = domain::reconsent::links::create(
            &w.db.db,
            new,
            &domain::events::Actor::Cli("t".into()),
            created,
        )
        .await
        .unwrap();
        s.expose().to_owned()
    };
    let (client, _profile) = viewport(&url).await;
    let result: Result<Vec<(String, String)>, fantoccini::error::CmdError> = async {
        let mut seen = Vec::new();
        let mut look = async |name: &str| -> Result<(), fantoccini::error::CmdError> {
            let title = client.find(Locator::Css("h1#title")).await?.text().await?;
            shoot(&client, name).await;
            let bad = overflowing(&client).await;
            assert!(
                bad.is_empty(),
                "{name}: wider than their container: {bad:?}"
            );
            seen.push((name.to_owned(), title));
            Ok(())
        };
        consent_as(
            &client,
            &format!("{base}/r/{success}"),
            "admin@acme.com",
            true,
        )
        .await?;
        look("customer-success").await?;
        client.refresh().await?;
        client
            .wait()
            .for_element(Locator::Css("#error-advice"))
            .await?;
        look("customer-callback-reloaded").await?;
        consent_as(
            &client,
            &format!("{base}/r/{wrong}"),
            "admin@other.example",
            true,
        )
        .await?;
        look("customer-wrong-org").await?;
        consent_as(
            &client,
            &format!("{base}/r/{denied}"),
            "admin@acme.com.uat",
            false,
        )
        .await?;
        look("customer-denied").await?;
        client.goto(&format!("{base}/r/{expired}")).await?;
        look("customer-link-expired").await?;
        client.goto(&format!("{base}/r/{success}x")).await?;
        look("customer-link-tampered").await?;
        client.goto(&format!("{base}/r/{success}")).await?;
        look("customer-link-used").await?;
        client.goto(&format!("{base}/r/{expired}")).await?;
        client
            .find(Locator::Css("button#action"))
            .await?
            .click()
            .await?;
        client
            .wait()
            .for_element(Locator::Css("h1#title.ok"))
            .await?;
        look("customer-fresh-link-sent").await?;
        client.goto(&format!("{base}/r/nothing/here")).await?;
        look("customer-not-found").await?;
        Ok(seen)
    }
    .await;
    client.close().await.unwrap();
    let seen = result.unwrap();
    let titles: Vec<&str> = seen.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        titles,
        [
            "Acme Corp is connected",
            "There is no sign-in to finish here",
            "That was a different Salesforce org",
            "You chose not to allow access",
            "This link has expired",
            "We don't recognise this link",
            "This link has already been used",
            "A fresh link is on its way",
            "We can't find this page",
        ]
    );
}
