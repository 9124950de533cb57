//! Serializers that keep secrets out of `reauth config check` and anything else that prints the
//! configuration.

use secrecy::SecretString;
use serde::Serializer;

const REDACTED: &str = "[redacted]";

pub(super) fn secret_opt<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some(REDACTED),
        None => s.serialize_none(),
    }
}

pub(super) fn secret_list<S: Serializer>(v: &[SecretString], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for _ in v {
        seq.serialize_element(REDACTED)?;
    }
    seq.end()
}

/// Hides the password of a URL such as `postgres://user:pass@host/db`.
pub(super) fn database_url<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hide_password(v))
}

/// A webhook URL's path and query are its credential (Slack's are): only the host is shown.
pub(super) fn url_opt<S: Serializer>(v: &Option<url::Url>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(u) => s.serialize_some(&format!(
            "{}://{}/{REDACTED}",
            u.scheme(),
            u.host_str().unwrap_or_default()
        )),
        None => s.serialize_none(),
    }
}

pub(super) fn url_password<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hide_password(v))
}

/// Replaces the password part of `scheme://user:password@host…` with `[redacted]`.
pub fn hide_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ignored = u.set_password(Some("***"));
            u.to_string()
        }
        // Unparseable strings may still hold credentials: redact after the scheme.
        Err(_) if url.contains('@') => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://{REDACTED}"),
            None => REDACTED.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_hidden() {
        assert_eq!(
            hide_password("postgres://u:hunter2@db/x"),
            "postgres://u:***@db/x"
        );
        assert!(!hide_password("smtps://u:hunter2@mail:465").contains("hunter2"));
        assert_eq!(
            hide_password("sqlite://reauth.db?mode=rwc"),
            "sqlite://reauth.db?mode=rwc"
        );
    }
}
