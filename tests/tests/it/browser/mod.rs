//! A real browser (Debian's Chromium through chromedriver) clicks through reauth's pages: the
//! re-consent flow (`reconsent`), a staff member's day (`staff`), the legacy-to-ECA switch
//! (`legacy`) and the public IP ranges page (`ip_ranges`). The helpers here (a chromedriver
//! that dies with its guard, a headless session, a staff member's first sign-in) serve every
//! browser test, here and in other modules.
//!
//! Skipped with a notice when chromedriver is not installed (`.ci/run` installs it). With
//! `REAUTH_UPDATE_SCREENSHOTS=1` the screenshots are written to `docs/screenshots/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

mod ip_ranges;
mod legacy;
mod reconsent;
mod staff;

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
