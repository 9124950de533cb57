//! Checking every configuration value once, reporting all problems together.

use secrecy::ExposeSecret;

use super::{ConfigError, KeyProblem};
use crate::config::{Config, parse_key};
use crate::types::LoginUrl;

/// Checks every value once, reporting all problems together.
pub(super) fn validate(c: &Config) -> Result<(), ConfigError> {
    let mut problems = Vec::new();
    let mut bad = |key: &str, message: String| problems.push(KeyProblem::new(key, message));

    if !matches!(c.base_url.scheme(), "http" | "https")
        || c.base_url.query().is_some()
        || c.base_url.fragment().is_some()
    {
        bad(
            "base_url",
            format!(
                "`{}` must be an http(s) URL without query or fragment",
                c.base_url
            ),
        );
    }
    let db = c.database_url.as_str();
    if !(db.starts_with("sqlite:")
        || db.starts_with("postgres://")
        || db.starts_with("postgresql://"))
    {
        bad(
            "database_url",
            "must start with sqlite:, postgres:// or postgresql://".into(),
        );
    }
    for h in &c.salesforce.extra_login_hosts {
        if h.contains("://") || h.contains('/') || h.trim().is_empty() {
            bad(
                "salesforce.extra_login_hosts",
                format!("`{h}` must be `host` or `host:port`, without scheme or path"),
            );
        }
    }
    if let Err(e) = LoginUrl::parse(&c.salesforce.login_url, &c.salesforce.extra_login_hosts) {
        bad("salesforce.login_url", e.to_string());
    }
    if let Err(e) = LoginUrl::parse(
        &c.salesforce.sandbox_login_url,
        &c.salesforce.extra_login_hosts,
    ) {
        bad("salesforce.sandbox_login_url", e.to_string());
    }
    if !c
        .salesforce
        .scopes
        .iter()
        .any(|s| s == "refresh_token" || s == "offline_access")
    {
        bad(
            "salesforce.scopes",
            "must include refresh_token (or offline_access), or Salesforce issues no refresh token"
                .into(),
        );
    }
    let v = &c.salesforce.api_version;
    let version_ok = v.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.bytes().all(|x| x.is_ascii_digit())
            && b.bytes().all(|x| x.is_ascii_digit())
    });
    if !version_ok {
        bad(
            "salesforce.api_version",
            format!("`{v}` must look like 66.0"),
        );
    }
    if c.salesforce.session_timeout.is_zero() {
        bad(
            "salesforce.session_timeout",
            "must be more than zero".into(),
        );
    }
    if c.mail.timeout.is_zero() {
        bad("mail.timeout", "must be more than zero".into());
    }
    if c.salesforce.http_timeout.is_zero() {
        bad("salesforce.http_timeout", "must be more than zero".into());
    }
    if c.links.ttl.is_zero() {
        bad("links.ttl", "must be more than zero".into());
    }
    if c.crypto.rotate_every < std::time::Duration::from_secs(86_400) {
        bad("crypto.rotate_every", "must be at least 1d".into());
    }
    let hb = &c.heartbeat;
    if hb.interval.is_zero() || hb.interval >= hb.idle_timeout {
        bad(
            "heartbeat.interval",
            format!(
                "must be more than zero and less than heartbeat.idle_timeout ({}), or tokens idle out",
                crate::config::format_duration(hb.idle_timeout)
            ),
        );
    }
    if hb.concurrency == 0 {
        bad("heartbeat.concurrency", "must be at least 1".into());
    }
    if hb.per_instance == 0 {
        bad("heartbeat.per_instance", "must be at least 1".into());
    }
    if hb.sweep_every.is_zero() {
        bad("heartbeat.sweep_every", "must be more than zero".into());
    }
    if c.campaign.tick.is_zero() {
        bad("campaign.tick", "must be more than zero".into());
    }
    if !c.campaign.quiet_hours.is_empty()
        && crate::time::QuietHours::parse(&c.campaign.quiet_hours).is_none()
    {
        bad(
            "campaign.quiet_hours",
            format!("`{}` must be empty or HH:MM-HH:MM", c.campaign.quiet_hours),
        );
    }
    let t = c.mail.transport.as_str();
    if !(t == "log"
        || t.starts_with("file://")
        || t.starts_with("smtp://")
        || t.starts_with("smtps://")
        || t.starts_with("smtp+starttls://"))
    {
        bad(
            "mail.transport",
            format!(
                "`{}` must be log, file:///DIR, smtp://, smtp+starttls:// or smtps://",
                crate::config::redact::hide_password(t)
            ),
        );
    }
    if c.mail.from.parse::<lettre::message::Mailbox>().is_err() {
        bad(
            "mail.from",
            format!(
                "`{}` is not a mailbox such as `Name <noreply@example.com>`",
                c.mail.from
            ),
        );
    }
    for e in &c.alerts.email {
        if crate::types::Email::parse(e).is_err() {
            bad(
                "alerts.email",
                format!("`{e}` is not an email address such as ops@partner.example"),
            );
        }
    }
    if let Some(u) = &c.alerts.webhook_url
        && !matches!(u.scheme(), "http" | "https")
    {
        bad(
            "alerts.webhook_url",
            format!("must be an http(s) URL, not {}://", u.scheme()),
        );
    }
    if let Some(s) = &c.alerts.webhook_secret
        && s.expose_secret().trim().is_empty()
    {
        bad(
            "alerts.webhook_secret",
            "is empty: remove the key or set a secret".into(),
        );
    }
    for u in &c.partner.upcoming_egress_ranges {
        if c.partner.egress_ranges.contains(&u.cidr) {
            bad(
                "partner.upcoming_egress_ranges",
                format!("{} is already in partner.egress_ranges", u.cidr),
            );
        }
    }
    let m = &c.monitor;
    if m.every < std::time::Duration::from_secs(60) {
        bad("monitor.every", "must be at least 1m".into());
    }
    if m.concurrency == 0 {
        bad("monitor.concurrency", "must be at least 1".into());
    }
    if m.per_instance == 0 {
        bad("monitor.per_instance", "must be at least 1".into());
    }
    if !(m.volume_factor.is_finite() && m.volume_factor > 1.0) {
        bad(
            "monitor.volume_factor",
            format!("`{}` must be a number above 1", m.volume_factor),
        );
    }
    if m.volume_floor < 1 {
        bad("monitor.volume_floor", "must be at least 1".into());
    }
    if m.match_window.is_zero() || m.match_window > std::time::Duration::from_secs(3600) {
        bad(
            "monitor.match_window",
            "must be more than zero and at most 1h".into(),
        );
    }
    crate::config::incident::validate(&c.incident, &mut bad);
    if c.api.deadline.is_zero() {
        bad("api.deadline", "must be more than zero".into());
    }
    let mut ids = std::collections::BTreeSet::new();
    for k in &c.crypto.keys {
        match parse_key(k.expose_secret()) {
            Ok((id, _)) => {
                if !ids.insert(id.clone()) {
                    bad("crypto.keys", format!("key id `{id}` appears twice"));
                }
            }
            Err(e) => problems_extend(&mut bad, e),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Keys(problems))
    }
}

fn problems_extend(bad: &mut impl FnMut(&str, String), e: ConfigError) {
    for p in e.problems() {
        bad(&p.key, p.message.clone());
    }
}
