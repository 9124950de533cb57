//! Checks that read the same way on an External Client App and on a Connected App: the
//! refresh-token policy, IP relaxation, scopes, callback URLs and the client type.

use super::super::catalog::{Finding, Rule, Severity};
use super::super::model::Value;

/// Where findings go: the app and file being checked.
pub struct Ctx<'a> {
    pub app: &'a str,
    pub file: &'a str,
    pub out: &'a mut Vec<Finding>,
}

impl Ctx<'_> {
    /// Records a finding at the rule's default severity and returns it for adjustment.
    pub fn push(
        &mut self,
        rule: Rule,
        line: u32,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> &mut Finding {
        self.out.push(Finding::new(
            rule,
            Some(self.app),
            self.file,
            line,
            found,
            fix,
        ));
        let last = self.out.len() - 1;
        &mut self.out[last]
    }
}

/// The unit of a refresh-token validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Hours,
    Days,
    Months,
}

impl Unit {
    /// `HOURS`/`Hours`/… in any case.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "hours" => Some(Self::Hours),
            "days" => Some(Self::Days),
            "months" => Some(Self::Months),
            _ => None,
        }
    }

    /// The longest this many units can be, in hours (a month counts as 31 days).
    fn max_hours(self, n: u64) -> u64 {
        match self {
            Self::Hours => n,
            Self::Days => n.saturating_mul(24),
            Self::Months => n.saturating_mul(31 * 24),
        }
    }
}

/// A refresh-token policy, from either app type's spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPolicy {
    /// Valid until revoked.
    Infinite,
    /// Expires immediately.
    Zero,
    /// Expires when not exchanged for this long.
    Inactivity(u64, Unit),
    /// Expires this long after issue, however often it is used.
    Lifetime(u64, Unit),
}

const THIRTY_DAYS_HOURS: u64 = 30 * 24;

/// Judges a policy against "at most 30 idle days". `shown` is how it is written in the file.
pub fn check_token_policy(
    ctx: &mut Ctx<'_>,
    line: u32,
    policy: &TokenPolicy,
    shown: &str,
    fix: &str,
) {
    match policy {
        TokenPolicy::Zero => {}
        TokenPolicy::Inactivity(n, unit) if *n > 0 && unit.max_hours(*n) <= THIRTY_DAYS_HOURS => {}
        TokenPolicy::Inactivity(n, unit) if *n > 0 => {
            let month = if *unit == Unit::Months {
                " (a month can be 31 days)"
            } else {
                ""
            };
            ctx.push(
                Rule::RefreshTokenPolicy,
                line,
                format!(
                    "the refresh-token policy is {shown}: an idle window longer than 30 days{month}"
                ),
                fix,
            );
        }
        TokenPolicy::Inactivity(..) | TokenPolicy::Lifetime(0, _) => {
            ctx.push(
                Rule::RefreshTokenPolicy,
                line,
                format!("the refresh-token policy {shown} has a period of 0, which Salesforce does not accept"),
                fix,
            );
        }
        TokenPolicy::Lifetime(n, unit) if unit.max_hours(*n) <= THIRTY_DAYS_HOURS => {
            ctx.push(
                Rule::RefreshTokenPolicy,
                line,
                format!("the refresh-token policy is {shown}: it keeps within 30 days, but every grant ends then however often it is refreshed, so every customer must consent again"),
                fix,
            )
            .set_severity(Severity::Warning);
        }
        TokenPolicy::Lifetime(..) => {
            ctx.push(
                Rule::RefreshTokenPolicy,
                line,
                format!("the refresh-token policy is {shown}: a fixed lifetime longer than 30 days with no idle limit in the metadata (the 'limit idle refresh token TTL' switch would add one, but its metadata element is undocumented)"),
                fix,
            );
        }
        TokenPolicy::Infinite => {
            ctx.push(
                Rule::RefreshTokenPolicy,
                line,
                format!("the refresh-token policy is {shown}: refresh tokens stay valid until revoked, with no idle timeout"),
                fix,
            );
        }
    }
}

/// Parses a Connected App `refreshTokenPolicy` (`infinite`, `zero`,
/// `specific_inactivity:N:UNIT`, `specific_lifetime:N:UNIT`).
pub fn parse_connected_app_policy(s: &str) -> Option<TokenPolicy> {
    let mut parts = s.split(':');
    let kind = parts.next()?.to_ascii_lowercase();
    let rest: Vec<&str> = parts.collect();
    match (kind.as_str(), rest.as_slice()) {
        ("infinite", []) => Some(TokenPolicy::Infinite),
        ("zero", []) => Some(TokenPolicy::Zero),
        ("specific_inactivity", [n, u]) => Some(TokenPolicy::Inactivity(
            n.trim().parse().ok()?,
            Unit::parse(u.trim())?,
        )),
        ("specific_lifetime", [n, u]) => Some(TokenPolicy::Lifetime(
            n.trim().parse().ok()?,
            Unit::parse(u.trim())?,
        )),
        _ => None,
    }
}

/// Judges a Connected App `ipRelaxation` or an ECA `ipRelaxationPolicyType` (same values in
/// another case). `None` is the default, Enforce.
pub fn check_ip_relaxation(
    ctx: &mut Ctx<'_>,
    value: Option<&Value<String>>,
    element: &str,
    enforce: &str,
) {
    let Some(v) = value else { return };
    let fix = format!("set <{element}>{enforce}</{element}>");
    match v.value.to_ascii_uppercase().as_str() {
        "ENFORCE" => {}
        "ENFORCE_RELAXREFRESH" => {
            ctx.push(
                Rule::IpRelaxation,
                v.line,
                format!("{element} is {}: IP restrictions are enforced at login but relaxed for refresh tokens, so a refresh works from any address (the refresh-token IP allowlist is the control for that)", v.value),
                fix,
            )
            .set_severity(Severity::Note);
        }
        "BYPASS_2FACTOR" => {
            ctx.push(
                Rule::IpRelaxation,
                v.line,
                format!("{element} is {}: IP restrictions are relaxed when the user passes two-factor verification", v.value),
                fix,
            )
            .set_severity(Severity::Warning);
        }
        "BYPASS" => {
            ctx.push(
                Rule::IpRelaxation,
                v.line,
                format!(
                    "{element} is {}: IP restrictions are never enforced",
                    v.value
                ),
                fix,
            );
        }
        _ => {
            ctx.push(
                Rule::IpRelaxation,
                v.line,
                format!(
                    "{element} is `{}`, which is not a value Salesforce knows",
                    v.value
                ),
                fix,
            );
        }
    }
}

/// `Full` is a finding; `Web` needs a justification.
pub fn check_scopes(ctx: &mut Ctx<'_>, scopes: &[Value<String>]) {
    for s in scopes {
        if s.value.eq_ignore_ascii_case("Full") {
            ctx.push(
                Rule::FullScope,
                s.line,
                format!(
                    "the app asks for the `{}` scope: everything the user can reach",
                    s.value
                ),
                "remove Full and list the scopes the integration uses (e.g. Api, RefreshToken)",
            );
        } else if s.value.eq_ignore_ascii_case("Web") {
            ctx.push(
                Rule::WebScope,
                s.line,
                format!(
                    "the app asks for the `{}` scope (browser sessions and Visualforce)",
                    s.value
                ),
                "remove Web, or write down in the security review why the integration needs it",
            );
        }
    }
}

/// Whether a callback URL points at this machine.
fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// HTTPS (or loopback, or a custom scheme) for every URL; loopback not mixed with others.
pub fn check_callbacks(ctx: &mut Ctx<'_>, element: &str, urls: &[Value<String>]) {
    let parsed: Vec<(&Value<String>, Option<url::Url>)> = urls
        .iter()
        .map(|v| (v, url::Url::parse(&v.value).ok()))
        .collect();
    for (v, u) in &parsed {
        if let Some(u) = u
            && u.scheme() == "http"
            && !is_loopback(u)
        {
            ctx.push(
                Rule::HttpsCallback,
                v.line,
                format!("{element} `{}` uses plain http", v.value),
                "use an https:// callback URL",
            );
        }
    }
    let loopback: Vec<&Value<String>> = parsed
        .iter()
        .filter(|(_, u)| u.as_ref().is_some_and(is_loopback))
        .map(|(v, _)| *v)
        .collect();
    if let Some(first) = loopback.first()
        && loopback.len() < parsed.len()
    {
        let listed: Vec<&str> = loopback.iter().map(|v| v.value.as_str()).collect();
        ctx.push(
            Rule::LocalhostCallbackMixed,
            first.line,
            format!(
                "{element} mixes loopback callbacks ({}) with {} other(s)",
                listed.join(", "),
                parsed.len() - loopback.len()
            ),
            "remove the loopback callbacks from this app; use a separate development app for them",
        );
    }
}

/// Public (`isConsumerSecretOptional=true`, default false) versus the secret on refresh
/// (`isSecretRequiredForRefreshToken`, default true).
pub fn check_client_type(
    ctx: &mut Ctx<'_>,
    fallback_line: u32,
    secret_optional: Option<&Value<bool>>,
    secret_for_refresh: Option<&Value<bool>>,
) {
    let public = secret_optional.is_some_and(|v| v.value);
    let refresh_needs_secret = secret_for_refresh.is_none_or(|v| v.value);
    let line = |v: Option<&Value<bool>>| v.map_or(fallback_line, |v| v.line);
    if public && refresh_needs_secret {
        let how = if secret_for_refresh.is_some() {
            "true"
        } else {
            "absent (default true)"
        };
        ctx.push(
            Rule::ClientTypeConsistency,
            line(secret_optional),
            format!("isConsumerSecretOptional is true (a public client) but isSecretRequiredForRefreshToken is {how}: a public client holds no secret, so it cannot refresh"),
            "for a public client set isSecretRequiredForRefreshToken to false; for a confidential one set isConsumerSecretOptional to false",
        );
    } else if !public && !refresh_needs_secret {
        ctx.push(
            Rule::ClientTypeConsistency,
            line(secret_for_refresh),
            "the app is a confidential client (isConsumerSecretOptional is false or absent) but isSecretRequiredForRefreshToken is false: a stolen refresh token works without the secret",
            "set isSecretRequiredForRefreshToken to true",
        );
    }
}
