//! `salesforce.proxy`: the forward proxy every call to Salesforce goes through, so reauth's
//! egress is the proxy's static address. Its credentials never reach a log, a page or an error:
//! `Debug`, `Display` and the printed configuration show `***` for the password.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A proxy URL: `http://[user:pass@]host:port` or `https://…`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl(url::Url);

/// Why a proxy URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyUrlError {
    #[error("not a URL such as http://proxy.internal:3128")]
    NotAUrl,
    #[error("socks5:// is not built into this reauth; use an http:// or https:// forward proxy")]
    Socks,
    #[error("`{0}://` is not a proxy scheme: use http:// or https://")]
    Scheme(String),
    #[error("has no host")]
    NoHost,
    #[error("must not have a path, query or fragment")]
    Path,
}

impl ProxyUrl {
    pub fn parse(s: &str) -> Result<Self, ProxyUrlError> {
        let u = url::Url::parse(s.trim()).map_err(|_| ProxyUrlError::NotAUrl)?;
        match u.scheme() {
            "http" | "https" => {}
            "socks5" | "socks5h" => return Err(ProxyUrlError::Socks),
            other => return Err(ProxyUrlError::Scheme(other.to_owned())),
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(ProxyUrlError::NoHost);
        }
        if !(u.path().is_empty() || u.path() == "/")
            || u.query().is_some()
            || u.fragment().is_some()
        {
            return Err(ProxyUrlError::Path);
        }
        Ok(Self(u))
    }

    /// The URL with its credentials, for building the HTTP client only.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The URL with the password shown as `***`.
    pub fn redacted(&self) -> String {
        let mut u = self.0.clone();
        if u.password().is_some() {
            let _ignored = u.set_password(Some("***"));
        }
        u.to_string()
    }
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProxyUrl({})", self.redacted())
    }
}

impl std::fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for ProxyUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for ProxyUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(|e| serde::de::Error::custom(format!("salesforce.proxy {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_and_bad_proxies_are_refused() {
        let p = ProxyUrl::parse("http://egress:s3cr3t-pw@proxy.internal:3128")
            .unwrap_or_else(|e| panic!("{e}"));
        for shown in [format!("{p:?}"), p.to_string(), p.redacted()] {
            assert!(!shown.contains("s3cr3t-pw"), "{shown}");
            assert!(shown.contains("proxy.internal:3128"), "{shown}");
        }
        assert_eq!(p.expose().password(), Some("s3cr3t-pw"));
        assert_eq!(ProxyUrl::parse("socks5://h:1"), Err(ProxyUrlError::Socks));
        assert_eq!(
            ProxyUrl::parse("ftp://h:1"),
            Err(ProxyUrlError::Scheme("ftp".into()))
        );
        assert_eq!(ProxyUrl::parse("http://h:1/x"), Err(ProxyUrlError::Path));
        assert_eq!(ProxyUrl::parse("nope"), Err(ProxyUrlError::NotAUrl));
    }
}
