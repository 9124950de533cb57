//! Salesforce login hosts.
//!
//! The login URL decides where authorization codes and the client secret are sent, so it is
//! parsed strictly: https only (plain http for loopback hosts, which only tests and the simulator
//! use), no credentials, path, query or fragment, and a host under a Salesforce domain or one the
//! operator listed in `salesforce.extra_login_hosts`.

use std::fmt;
use std::net::IpAddr;

use serde::{Serialize, Serializer};
use url::{Host, Url};

/// Domains whose hosts are Salesforce login hosts.
const SALESFORCE_DOMAINS: &[&str] = &["salesforce.com", "force.com", "salesforce.mil"];

/// A Salesforce login base URL such as `https://acme.my.salesforce.com`, without a trailing slash.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LoginUrl(String);

/// Why a string is not an acceptable login URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginUrlError {
    #[error("`{0}` is not a URL")]
    Syntax(String),
    #[error("`{0}` must use https (plain http is allowed only for loopback hosts)")]
    Scheme(String),
    #[error("`{0}` must be a bare host: no user, path, query or fragment")]
    NotBare(String),
    #[error(
        "`{0}` is not a Salesforce host (expected a host under salesforce.com, force.com or salesforce.mil, or one listed in salesforce.extra_login_hosts)"
    )]
    Host(String),
}

impl LoginUrl {
    /// Parses a login URL; `extra_hosts` are `host[:port]` entries allowed besides Salesforce's
    /// own domains (from `salesforce.extra_login_hosts`).
    pub fn parse(input: &str, extra_hosts: &[String]) -> Result<Self, LoginUrlError> {
        let s = input.trim();
        let url = Url::parse(s).map_err(|_| LoginUrlError::Syntax(s.to_owned()))?;
        let host = url
            .host()
            .ok_or_else(|| LoginUrlError::Syntax(s.to_owned()))?;
        let loopback = match &host {
            Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
            Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err(LoginUrlError::Scheme(s.to_owned())),
        }
        if !url.username().is_empty()
            || url.password().is_some()
            || !(url.path().is_empty() || url.path() == "/")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(LoginUrlError::NotBare(s.to_owned()));
        }
        let host_str = host.to_string().to_ascii_lowercase();
        let host_port = match url.port() {
            Some(p) => format!("{host_str}:{p}"),
            None => host_str.clone(),
        };
        let salesforce = matches!(host, Host::Domain(_))
            && SALESFORCE_DOMAINS
                .iter()
                .any(|d| host_str == *d || host_str.ends_with(&format!(".{d}")));
        let listed = extra_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host_port) || h.eq_ignore_ascii_case(&host_str));
        if !salesforce && !listed {
            return Err(LoginUrlError::Host(s.to_owned()));
        }
        Ok(Self(format!("{}://{host_port}", url.scheme())))
    }

    /// The base URL, e.g. `https://login.salesforce.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Joins a path such as `/services/oauth2/token` to the base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for LoginUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LoginUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LoginUrl({})", self.0)
    }
}

impl Serialize for LoginUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salesforce_hosts_are_accepted_and_normalised() {
        let u = LoginUrl::parse("https://Acme.my.salesforce.com/", &[]).unwrap();
        assert_eq!(u.as_str(), "https://acme.my.salesforce.com");
        assert!(LoginUrl::parse("https://login.salesforce.com", &[]).is_ok());
        assert!(LoginUrl::parse("https://acme--uat.sandbox.my.salesforce.com", &[]).is_ok());
        assert!(LoginUrl::parse("https://acme.my.salesforce.mil", &[]).is_ok());
    }

    #[test]
    fn plain_http_is_refused_except_on_loopback() {
        assert!(matches!(
            LoginUrl::parse("http://login.salesforce.com", &[]),
            Err(LoginUrlError::Scheme(_))
        ));
        let extra = vec!["127.0.0.1:4010".to_owned()];
        assert_eq!(
            LoginUrl::parse("http://127.0.0.1:4010", &extra)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:4010"
        );
    }

    #[test]
    fn loopback_must_still_be_listed() {
        assert!(matches!(
            LoginUrl::parse("http://127.0.0.1:4010", &[]),
            Err(LoginUrlError::Host(_))
        ));
    }

    #[test]
    fn lookalike_and_foreign_hosts_are_refused() {
        for bad in [
            "https://salesforce.com.evil.example",
            "https://evilsalesforce.com",
            "https://example.com",
        ] {
            assert!(
                matches!(LoginUrl::parse(bad, &[]), Err(LoginUrlError::Host(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_credentials_and_queries_are_refused() {
        for bad in [
            "https://login.salesforce.com/services",
            "https://u:p@login.salesforce.com",
            "https://login.salesforce.com?x=1",
        ] {
            assert!(
                matches!(LoginUrl::parse(bad, &[]), Err(LoginUrlError::NotBare(_))),
                "{bad}"
            );
        }
    }
}
