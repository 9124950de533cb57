//! The public `/ip-ranges` page in Chromium.

use fantoccini::Locator;
use reauth_tests::TestDb;

use super::{chromium, screenshots_dir, start_driver};

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
