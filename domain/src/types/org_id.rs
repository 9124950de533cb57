//! Salesforce organization ids.
//!
//! Salesforce ids come in two spellings: 15 characters, case-sensitive, and 18 characters, where
//! the last three characters encode the case of the first fifteen so the id survives systems that
//! ignore case. We accept both, require the organization key prefix `00D`, verify the checksum,
//! and always store and print the 18-character form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The alphabet that maps a 5-bit case mask to one checksum character.
const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
/// Key prefix of the Organization object.
const ORG_PREFIX: &str = "00D";

/// A Salesforce organization id, always held in its canonical 18-character form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(String);

/// Why a string is not an organization id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgIdError {
    #[error("an org id has 15 or 18 characters, this one has {0}")]
    Length(usize),
    #[error("an org id contains only letters and digits")]
    Charset,
    #[error("an org id starts with `00D` (this one starts with `{0}`: not an organization)")]
    Prefix(String),
    #[error("the 18-character checksum does not match the id (a typo?)")]
    Checksum,
}

impl OrgId {
    /// Parses a 15- or 18-character org id (surrounding spaces are ignored).
    pub fn parse(input: &str) -> Result<Self, OrgIdError> {
        let s = input.trim();
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(OrgIdError::Charset);
        }
        let canonical15 = match s.len() {
            15 => s.to_owned(),
            18 => canonical_prefix_of_18(s)?,
            n => return Err(OrgIdError::Length(n)),
        };
        if !canonical15.starts_with(ORG_PREFIX) {
            return Err(OrgIdError::Prefix(canonical15[..3].to_owned()));
        }
        let suffix = checksum(&canonical15);
        Ok(Self(format!("{canonical15}{suffix}")))
    }

    /// The canonical 18-character form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-sensitive 15-character form (as in access tokens `00D…!…`).
    pub fn as_15(&self) -> &str {
        &self.0[..15]
    }
}

/// The three checksum characters of a 15-character id.
fn checksum(id15: &str) -> String {
    id15.as_bytes()
        .chunks(5)
        .map(|chunk| {
            let mask = chunk
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_ascii_uppercase())
                .fold(0usize, |m, (i, _)| m | (1 << i));
            char::from(CHECKSUM_ALPHABET[mask])
        })
        .collect()
}

/// Recovers the case-correct first 15 characters of an 18-character id from its checksum.
///
/// An id spelled in one case throughout (as case-insensitive systems store it) takes its case from
/// the checksum. A mixed-case spelling carries its own case information, which must agree with
/// the checksum: a disagreement is a typo, not a different id.
fn canonical_prefix_of_18(s: &str) -> Result<String, OrgIdError> {
    let (prefix, suffix) = s.split_at(15);
    let mut out = String::with_capacity(15);
    for (chunk_index, c) in suffix.bytes().enumerate() {
        let upper = c.to_ascii_uppercase();
        let mask = CHECKSUM_ALPHABET
            .iter()
            .position(|&a| a == upper)
            .ok_or(OrgIdError::Checksum)?;
        for (i, b) in prefix.as_bytes()[chunk_index * 5..chunk_index * 5 + 5]
            .iter()
            .enumerate()
        {
            let is_upper = mask & (1 << i) != 0;
            if b.is_ascii_digit() {
                if is_upper {
                    return Err(OrgIdError::Checksum);
                }
                out.push(char::from(*b));
            } else if is_upper {
                out.push(char::from(b.to_ascii_uppercase()));
            } else {
                out.push(char::from(b.to_ascii_lowercase()));
            }
        }
    }
    let has_upper = prefix.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = prefix.bytes().any(|b| b.is_ascii_lowercase());
    if has_upper && has_lower && out != prefix {
        return Err(OrgIdError::Checksum);
    }
    Ok(out)
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgId({})", self.0)
    }
}

impl FromStr for OrgId {
    type Err = OrgIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for OrgId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Serialize for OrgId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_org_id_converts_to_its_documented_18_char_form() {
        // From salesforce-facts §1.4: `00D4c0000008cs2` ↔ `00D4c0000008cs2EAA`.
        let id = OrgId::parse("00D4c0000008cs2").unwrap();
        assert_eq!(id.as_str(), "00D4c0000008cs2EAA");
        assert_eq!(id.as_15(), "00D4c0000008cs2");
        assert_eq!(OrgId::parse("00D4c0000008cs2EAA").unwrap(), id);
    }

    #[test]
    fn ids_of_other_objects_are_refused() {
        assert_eq!(
            OrgId::parse("0054c000000etGW").unwrap_err(),
            OrgIdError::Prefix("005".into())
        );
    }

    #[test]
    fn lowercase_prefix_is_a_different_15_char_id() {
        assert!(matches!(
            OrgId::parse("00d4c0000008cs2"),
            Err(OrgIdError::Prefix(_))
        ));
    }

    #[test]
    fn wrong_lengths_and_characters_are_refused() {
        assert_eq!(OrgId::parse("00D4c00").unwrap_err(), OrgIdError::Length(7));
        assert_eq!(
            OrgId::parse("00D4c0000008c-2").unwrap_err(),
            OrgIdError::Charset
        );
        assert_eq!(OrgId::parse("").unwrap_err(), OrgIdError::Length(0));
    }

    #[test]
    fn mixed_case_18_char_id_with_a_wrong_checksum_is_refused() {
        assert_eq!(
            OrgId::parse("00D4c0000008cs2EAB").unwrap_err(),
            OrgIdError::Checksum
        );
        assert_eq!(
            OrgId::parse("00D4c0000008cS2EAA").unwrap_err(),
            OrgIdError::Checksum
        );
    }

    fn arb_id15() -> impl Strategy<Value = String> {
        "[0-9A-Za-z]{12}".prop_map(|tail| format!("00D{tail}"))
    }

    proptest! {
        #[test]
        fn fifteen_to_eighteen_round_trips(id15 in arb_id15()) {
            let id = OrgId::parse(&id15).unwrap();
            prop_assert_eq!(id.as_str().len(), 18);
            prop_assert_eq!(id.as_15(), id15.as_str());
            prop_assert_eq!(OrgId::parse(id.as_str()).unwrap(), id.clone());
        }

        #[test]
        fn eighteen_char_form_is_case_insensitive(id15 in arb_id15()) {
            let id = OrgId::parse(&id15).unwrap();
            let upper = id.as_str().to_ascii_uppercase();
            let lower = id.as_str().to_ascii_lowercase();
            prop_assert_eq!(OrgId::parse(&lower).unwrap(), id.clone());
            // An all-uppercase spelling would start `00D`, a lowercase one `00d`: both carry no
            // case information beyond the checksum.
            prop_assert_eq!(OrgId::parse(&upper).unwrap(), id);
        }

        #[test]
        fn checksum_encodes_the_case_of_every_letter(id15 in arb_id15(), pos in 3usize..15) {
            let bytes = id15.as_bytes();
            prop_assume!(bytes[pos].is_ascii_alphabetic());
            let mut flipped = bytes.to_vec();
            flipped[pos] ^= 0x20; // flip ASCII case
            let flipped = String::from_utf8(flipped).unwrap();
            let a = OrgId::parse(&id15).unwrap();
            let b = OrgId::parse(&flipped).unwrap();
            prop_assert_ne!(&a.as_str()[15..], &b.as_str()[15..]);
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,30}") {
            let _ = OrgId::parse(&s);
        }
    }
}
