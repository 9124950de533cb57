//! The one HTTP client used to talk to Salesforce, through `salesforce.proxy` when set.

use std::time::Duration;

use crate::config::SalesforceConfig;

/// A reqwest client that never follows redirects and gives up after `timeout`.
pub fn build_http_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    builder(timeout).build()
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("reauth/", env!("CARGO_PKG_VERSION")))
}

/// The client for every call to Salesforce: `salesforce.proxy` (minus `salesforce.no_proxy`)
/// when set, which also turns off the `HTTPS_PROXY`-style variables; unset, those apply as
/// before. Errors never carry the proxy's credentials.
pub fn salesforce_http_client(c: &SalesforceConfig) -> crate::Result<reqwest::Client> {
    let mut b = builder(c.http_timeout);
    if let Some(p) = &c.proxy {
        let mut proxy = reqwest::Proxy::all(p.expose().as_str())
            .map_err(|_| crate::Error::Invalid(format!("salesforce.proxy {p} is not usable")))?;
        if !c.no_proxy.is_empty() {
            proxy = proxy.no_proxy(reqwest::NoProxy::from_string(&c.no_proxy.join(",")));
        }
        b = b.proxy(proxy);
    }
    b.build()
        .map_err(|_| crate::Error::Invalid("cannot build the Salesforce HTTP client".into()))
}

/// What `reauth egress check` saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EgressCheck {
    pub ip: std::net::IpAddr,
    /// Through `salesforce.proxy` (its redacted URL), or `None`: direct.
    pub proxy: Option<String>,
    pub in_egress_ranges: bool,
}

/// Calls `salesforce.egress_check_url` through the Salesforce client and reads the address it
/// saw: `{"ip": "…"}` or the bare address.
pub async fn egress_check(config: &crate::config::Config) -> crate::Result<EgressCheck> {
    let Some(url) = &config.salesforce.egress_check_url else {
        return Err(crate::Error::Invalid(
            "set salesforce.egress_check_url to a URL that answers the caller's address".into(),
        ));
    };
    let http = salesforce_http_client(&config.salesforce)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let res = http.get(url.clone()).send().await.map_err(|e| {
        crate::Error::Invalid(format!(
            "could not reach {host}{}: {}",
            config
                .salesforce
                .proxy
                .as_ref()
                .map(|p| format!(" through {p}"))
                .unwrap_or_default(),
            if e.is_connect() {
                "connection failed"
            } else if e.is_timeout() {
                "timed out"
            } else {
                "request failed"
            }
        ))
    })?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(crate::Error::Invalid(format!("{host} answered {status}")));
    }
    let text = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["ip"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    let ip: std::net::IpAddr = text.parse().map_err(|_| {
        crate::Error::Invalid(format!(
            "{host} did not answer an address (expected {{\"ip\": \"…\"}} or a bare address)"
        ))
    })?;
    Ok(EgressCheck {
        ip,
        proxy: config.salesforce.proxy.as_ref().map(ToString::to_string),
        in_egress_ranges: config.partner.egress_ranges.iter().any(|r| r.contains(&ip)),
    })
}
