//! Production or sandbox.

use std::str::FromStr;

crate::entity::snake_case_enum! {
    /// The kind of Salesforce org, which decides the default login host.
    #[derive(Default)]
    pub enum Environment {
        /// A production org (login.salesforce.com).
        #[default]
        Production,
        /// A sandbox (test.salesforce.com).
        Sandbox,
    }
}

/// The text is neither `production` nor `sandbox`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment `{}` (expected production or sandbox{})", .0, did_you_mean(.0))]
pub struct EnvironmentError(pub String);

/// `; did you mean production?` for an abbreviation such as `prod`; nothing otherwise.
fn did_you_mean(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    ["production", "sandbox"]
        .into_iter()
        .find(|full| lower.len() >= 2 && full.starts_with(&lower))
        .map(|full| format!("; did you mean {full}?"))
        .unwrap_or_default()
}

impl Environment {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl FromStr for Environment {
    type Err = EnvironmentError;
    /// Case-insensitive; an empty string means production. Abbreviations such as `prod` are
    /// refused, not guessed: a filter or import spelled `prod` would otherwise mean something
    /// different in each place that reads it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "production" => Ok(Self::Production),
            "sandbox" => Ok(Self::Sandbox),
            _ => Err(EnvironmentError(s.trim().to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_documented_spellings_are_accepted() {
        assert_eq!("Production".parse(), Ok(Environment::Production));
        assert_eq!("".parse(), Ok(Environment::Production));
        assert_eq!(" sandbox ".parse(), Ok(Environment::Sandbox));
        let refused = "prod".parse::<Environment>().map_err(|e| e.to_string());
        assert_eq!(
            refused,
            Err("unknown environment `prod` (expected production or sandbox; did you mean production?)".into())
        );
        let refused = "staging".parse::<Environment>().map_err(|e| e.to_string());
        assert_eq!(
            refused,
            Err("unknown environment `staging` (expected production or sandbox)".into())
        );
    }
}
