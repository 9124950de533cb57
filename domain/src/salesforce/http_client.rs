//! The one HTTP client used to talk to Salesforce.

use std::time::Duration;

/// A reqwest client that never follows redirects and gives up after `timeout`.
pub fn build_http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("reauth/", env!("CARGO_PKG_VERSION")))
        .build()
}
