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

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_driver() -> Option<(Driver, String)> {
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

fn screenshots_dir() -> PathBuf {
    if std::env::var("REAUTH_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots")
    } else {
        std::env::temp_dir().join(format!("reauth-screenshots-{}", std::process::id()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reconnects_through_the_real_pages_in_chromium() {
    let Some((_driver, url)) = start_driver().await else {
        return;
    };
    let w = world_with(TestDb::sqlite().await, false).await;
    let secret = new_link(&w, "00D4c0000008cs2").await;

    let profile = tempfile::tempdir().unwrap();
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                "--no-first-run", "--window-size=1100,1300", format!("--user-data-dir={}", profile.path().display()),
            ],
        }),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .expect("WebDriver session");
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
    let org = domain::orgs::show(
        &w.db.db,
        &domain::types::OrgId::parse("00D4c0000008cs2").unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(org.org.state, domain::state::OrgState::Verified);
    w.app.stop().await;
}
