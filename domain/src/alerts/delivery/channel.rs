//! The two channels an alert delivery goes out on: the webhook (POST, signed when a secret is
//! set) and mail (one message per recipient).

use askama::Template as _;
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;

use super::{Dispatcher, Failure, headline, payload, signature, text};
use crate::entity::{alert, alert_delivery};

/// An alert mail's HTML body: its plain text, escaped by askama like every page and email.
#[derive(askama::Template)]
#[template(path = "email/alert/body.html")]
struct AlertHtml<'a> {
    text: &'a str,
}

/// A client for webhooks: no redirects, a short time limit.
pub fn webhook_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(5))
        .timeout(std::time::Duration::from_secs(10))
        .user_agent(concat!("reauth/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub(super) async fn send_webhook(
    d: &Dispatcher<'_>,
    row: &alert_delivery::Model,
    a: &alert::Model,
    org_name: Option<&str>,
    now: DateTime<Utc>,
) -> std::result::Result<(), Failure> {
    let Some(url) = &d.config.alerts.webhook_url else {
        return Err(Failure::GiveUp(
            "alerts.webhook_url is no longer configured".into(),
        ));
    };
    let body = serde_json::to_vec(&payload(d.config, a, org_name))
        .map_err(|e| Failure::GiveUp(e.to_string()))?;
    let ts = now.timestamp().to_string();
    let mut req = d
        .http
        .post(url.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-Reauth-Delivery", row.id.to_string())
        .header("X-Reauth-Timestamp", &ts);
    if let Some(secret) = &d.config.alerts.webhook_secret {
        req = req.header(
            "X-Reauth-Signature",
            signature(secret.expose_secret().as_bytes(), &ts, &body),
        );
    }
    // The URL is the credential of Slack-style webhooks: errors name the host only.
    let host = url.host_str().unwrap_or_default().to_owned();
    match req.body(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let s = r.status();
            let msg = format!("the webhook at {host} answered {s}");
            if s.is_client_error()
                && s != http::StatusCode::REQUEST_TIMEOUT
                && s != http::StatusCode::TOO_MANY_REQUESTS
            {
                Err(Failure::GiveUp(msg))
            } else {
                Err(Failure::Retry(msg))
            }
        }
        Err(e) => Err(Failure::Retry(format!(
            "the webhook at {host} could not be reached ({})",
            if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "connection failed"
            } else {
                "request failed"
            }
        ))),
    }
}

pub(super) async fn send_mail(
    d: &Dispatcher<'_>,
    row: &alert_delivery::Model,
    a: &alert::Model,
    org_name: Option<&str>,
) -> std::result::Result<(), Failure> {
    let text = text(d.config, a, org_name);
    let html = AlertHtml { text: &text }
        .render()
        .map_err(|e| Failure::GiveUp(format!("the alert mail did not render: {e}")))?;
    let host = d.config.base_url.host_str().unwrap_or("reauth");
    let message_id = format!("<alert-{}-{}-{}@{host}>", a.id, row.round, row.id);
    let msg = crate::mail::build(
        &d.config.mail.from,
        &row.target,
        &message_id,
        crate::mail::Rendered {
            subject: headline(a, org_name),
            text,
            html,
        },
    )
    .map_err(Failure::GiveUp)?;
    d.mailer.send(msg).await.map_err(|e| match e {
        crate::mail::SendError::Transient(m) => Failure::Retry(m),
        crate::mail::SendError::Permanent(m) => Failure::GiveUp(m),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_mail_html_escapes_the_alert_text() {
        let html = AlertHtml {
            text: "<script>x</script> & \"quoted\"",
        }
        .render()
        .unwrap();
        // askama writes numeric character references.
        assert!(
            html.contains("&#60;script&#62;x&#60;/script&#62; &#38; &#34;quoted&#34;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.starts_with("<!doctype html><html><body><pre "),
            "{html}"
        );
        assert!(html.ends_with("</pre></body></html>"), "{html}");
    }
}
