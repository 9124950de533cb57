//! Contact email addresses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A syntactically valid email address, normalised to lower case so that one contact is one row.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a string is not a usable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("is empty")]
    Empty,
    #[error("`{0}` is not an email address")]
    Syntax(String),
    #[error("`{0}` has no domain with a dot (e.g. name@example.com)")]
    Domain(String),
}

impl Email {
    /// Parses an address such as `Jane.Doe@Example.com` (stored as `jane.doe@example.com`).
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        // lettre implements the RFC 5321/5322 address grammar; we add what real mail needs.
        let addr = lettre::Address::from_str(s).map_err(|_| EmailError::Syntax(s.to_owned()))?;
        let domain = addr.domain();
        let labels_ok = domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if !domain.contains('.') || !labels_ok || domain.starts_with('[') {
            return Err(EmailError::Domain(s.to_owned()));
        }
        if s.len() > 254 || s.chars().any(char::is_whitespace) {
            return Err(EmailError::Syntax(s.to_owned()));
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl FromStr for Email {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> Self {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Jane.Doe@Example.COM ").unwrap().as_str(),
            "jane.doe@example.com"
        );
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@localhost",
            "ja ne@example.com",
            "jane@@example.com",
            "jane@-x.com",
            "jane@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
