//! Production or sandbox.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of Salesforce org, which decides the default login host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A production org (login.salesforce.com).
    #[default]
    Production,
    /// A sandbox (test.salesforce.com).
    Sandbox,
}

/// The text is neither `production` nor `sandbox`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{0}` (expected production or sandbox)")]
pub struct EnvironmentError(pub String);

impl Environment {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Sandbox => "sandbox",
        }
    }
}

impl FromStr for Environment {
    type Err = EnvironmentError;
    /// Case-insensitive; an empty string means production.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "production" | "prod" => Ok(Self::Production),
            "sandbox" => Ok(Self::Sandbox),
            _ => Err(EnvironmentError(s.trim().to_owned())),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
