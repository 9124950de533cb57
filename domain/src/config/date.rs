//! Dates in the configuration file: a TOML date (`2027-01-15`) or the same as a string.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A TOML date (`2027-01-15`) or the same as a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDate {
    Text(String),
    Toml(toml::value::Datetime),
    Map(BTreeMap<String, String>),
}

impl RawDate {
    fn parse<E: serde::de::Error>(self) -> Result<chrono::NaiveDate, E> {
        let text = match self {
            Self::Text(s) => s,
            Self::Toml(t) => t.to_string(),
            // figment hands TOML datetimes on as a one-entry map.
            Self::Map(m) => m.into_values().next().unwrap_or_default(),
        };
        text.trim()
            .parse()
            .map_err(|_| E::custom(format!("`{text}` is not a date such as 2027-01-15")))
    }
}

pub(super) fn toml_date<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<chrono::NaiveDate, D::Error> {
    RawDate::deserialize(d)?.parse()
}

/// An optional [`toml_date`].
pub(super) fn toml_date_opt<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::NaiveDate>, D::Error> {
    Option::<RawDate>::deserialize(d)?
        .map(RawDate::parse)
        .transpose()
}
