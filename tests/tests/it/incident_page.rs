//! The dashboard's incident action in Chromium: an admin types the reason and the confirmation
//! word; a wrong word is refused with a sentence and starts nothing, the right one opens the
//! incident and the page shows its progress, and closing it brings the start form back.

use fantoccini::Locator;
use reauth_tests::TestDb;

use crate::browser::{chromium, first_sign_in, start_driver, type_into};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_starts_in_chromium_only_with_the_typed_word() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let mut config = domain::config::Config::default();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let app = reauth_tests::TestApp::spawn(&db, config).await;
    let otp =
        reauth_tests::staff::add(&app, "ada@partner.example", domain::staff::Role::Admin).await;
    let (client, _profile) = chromium(&url, "1280,900").await;
    let base = app.base.clone();
    let result: Result<(), fantoccini::error::CmdError> = async {
        first_sign_in(
            &client,
            &app,
            &format!("{base}/"),
            "ada@partner.example",
            &otp,
        )
        .await?;
        client
            .wait()
            .for_element(Locator::Css("#state-counts"))
            .await?;
        client.goto(&format!("{base}/incident")).await?;
        client
            .wait()
            .for_element(Locator::Css("#start-incident"))
            .await?;
        assert_eq!(client.title().await?, "Incident · reauth");

        // A wrong word: refused, said why, nothing started.
        type_into(
            &client,
            "#start-incident input[name=reason]",
            "secret found in a log",
        )
        .await?;
        type_into(&client, "#start-incident input[name=confirm]", "start").await?;
        client
            .find(Locator::Css("#start-incident button[type=submit]"))
            .await?
            .click()
            .await?;
        let message = client
            .wait()
            .for_element(Locator::Css("#error-message"))
            .await?
            .text()
            .await?;
        assert!(message.contains("nothing was started"), "{message}");
        assert!(client.find(Locator::Css("nav.top")).await.is_ok());
        let started = domain::security::incident::incidents::current(&db.db)
            .await
            .unwrap();
        assert!(started.is_none(), "a wrong word starts nothing");

        // The right word: the incident is open and its progress shows.
        client.goto(&format!("{base}/incident")).await?;
        client
            .wait()
            .for_element(Locator::Css("#start-incident"))
            .await?;
        type_into(
            &client,
            "#start-incident input[name=reason]",
            "secret found in a log",
        )
        .await?;
        type_into(&client, "#start-incident input[name=confirm]", "START").await?;
        client
            .find(Locator::Css("#start-incident button[type=submit]"))
            .await?
            .click()
            .await?;
        let status = client
            .wait()
            .for_element(Locator::Css("#incident [role=status]"))
            .await?
            .text()
            .await?;
        assert!(status.starts_with("Incident 1 is open"), "{status}");
        assert!(status.ends_with("secret found in a log"), "{status}");
        client.find(Locator::Css("#incident-progress")).await?;
        assert!(
            client.find(Locator::Css("#start-incident")).await.is_err(),
            "one incident at a time"
        );
        crate::layout::shoot(&client, "staff-incident-open").await;

        // Close: the start form is back.
        client
            .find(Locator::Css("#close-incident button"))
            .await?
            .click()
            .await?;
        client
            .wait()
            .for_element(Locator::Css("#start-incident"))
            .await?;
        let text = client.find(Locator::Css("#incident")).await?.text().await?;
        assert!(
            text.contains("incident 1 was closed by ada@partner.example"),
            "{text}"
        );
        Ok(())
    }
    .await;
    client.close().await.unwrap();
    result.unwrap();
    app.stop().await;
}
