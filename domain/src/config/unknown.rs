//! Finding every key of a configuration file (and every `REAUTH_` variable) that names no
//! setting, with a suggestion of the setting that was probably meant.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key and words it as
//! ``unknown field `clent_id`, expected one of …``; this walks the whole file against the keys
//! [`Config`](super::Config) accepts and reports them all at once.

use std::collections::BTreeMap;

/// Below this Jaro–Winkler similarity a known key is not offered as "did you mean".
const SIMILAR: f64 = 0.8;

/// The keys the configuration accepts: top-level keys, and each section's keys.
pub(super) struct Schema {
    /// Top-level keys that hold a value (`base_url`, `bind`, …).
    top: Vec<String>,
    /// Sections (`salesforce`, `partner`, …) and their keys.
    sections: BTreeMap<String, Vec<String>>,
}

/// One key (or section) of the file that names no setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unknown {
    /// The section it is in, `None` at the top level.
    pub section: Option<String>,
    /// The key (or, for an unknown section, the section's name).
    pub key: String,
    /// Whether the unknown thing is a whole table (`[salesforc]`).
    pub table: bool,
    /// The setting probably meant, already worded: `client_id` or `[salesforce] client_id`.
    pub suggestion: Option<String>,
}

impl Schema {
    /// The schema of a configuration serialised with every optional key set.
    pub(super) fn of(example: &toml::Table) -> Self {
        let mut top = Vec::new();
        let mut sections = BTreeMap::new();
        for (k, v) in example {
            match v {
                toml::Value::Table(t) => {
                    sections.insert(k.clone(), t.keys().cloned().collect());
                }
                _ => top.push(k.clone()),
            }
        }
        Self { top, sections }
    }

    /// Every unknown key and section of `file`, ordered by section and key (as TOML tables are
    /// read), and `file` without them, so the rest can still be checked.
    pub(super) fn unknown_keys(&self, file: &toml::Table) -> (Vec<Unknown>, toml::Table) {
        let mut unknown = Vec::new();
        let mut kept = toml::Table::new();
        for (k, v) in file {
            if let Some(keys) = self.sections.get(k) {
                let toml::Value::Table(t) = v else {
                    // `salesforce = 3`: a type error, which serde words well enough.
                    kept.insert(k.clone(), v.clone());
                    continue;
                };
                let mut inner = toml::Table::new();
                for (ik, iv) in t {
                    if keys.contains(ik) {
                        inner.insert(ik.clone(), iv.clone());
                    } else {
                        unknown.push(Unknown {
                            section: Some(k.clone()),
                            key: ik.clone(),
                            table: false,
                            suggestion: self.suggest(Some(k), ik),
                        });
                    }
                }
                kept.insert(k.clone(), toml::Value::Table(inner));
            } else if self.top.contains(k) {
                kept.insert(k.clone(), v.clone());
            } else {
                let table = matches!(v, toml::Value::Table(_));
                let suggestion = if table {
                    best(k, self.sections.keys()).map(|s| format!("[{s}]"))
                } else {
                    self.suggest(None, k)
                };
                unknown.push(Unknown {
                    section: None,
                    key: k.clone(),
                    table,
                    suggestion,
                });
            }
        }
        (unknown, kept)
    }

    /// The setting `key` in `section` probably meant: a similar key of the same section, or
    /// the same key in another section.
    fn suggest(&self, section: Option<&String>, key: &str) -> Option<String> {
        let same: &[String] = match section {
            Some(s) => self.sections.get(s).map(Vec::as_slice).unwrap_or_default(),
            None => &self.top,
        };
        if let Some(k) = best(key, same.iter()) {
            return Some(k.to_owned());
        }
        if section.is_some() && self.top.iter().any(|t| t == key) {
            return Some(format!("{key} at the top level, before any [section]"));
        }
        // `[salesforce]` first: `[legacy]` repeats its credential keys, and the External Client
        // App's are the ones most people mean.
        self.sections
            .iter()
            .filter(|(s, _)| Some(*s) != section)
            .filter(|(_, keys)| keys.iter().any(|k| k == key))
            .min_by_key(|(s, _)| (s.as_str() != "salesforce", s.as_str()))
            .map(|(s, _)| format!("[{s}] {key}"))
    }
}

/// The candidate most like `word`, if any is like it enough.
fn best<'a>(word: &str, candidates: impl Iterator<Item = &'a String>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= SIMILAR)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.as_str())
}

/// For an unknown `REAUTH_` variable's dotted key, the known dotted key probably meant.
pub(super) fn suggest_dotted(key: &str, known: &[String]) -> Option<String> {
    best(key, known.iter()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        let example = toml::Value::try_from(super::super::Config::example())
            .ok()
            .and_then(|v| v.as_table().cloned())
            .unwrap_or_default();
        Schema::of(&example)
    }

    fn unknown(text: &str) -> Vec<Unknown> {
        let table: toml::Table = text.parse().unwrap_or_default();
        schema().unknown_keys(&table).0
    }

    #[test]
    fn every_unknown_key_is_found_with_what_was_probably_meant() {
        let found = unknown(
            "base_ur = \"x\"\n[salesforce]\nclent_id = \"x\"\nlogin_url = \"https://login.salesforce.com\"\n\
             [partner]\nnmae = \"x\"\nclient_id = \"y\"\nzzzz = 1\n",
        );
        let rendered: Vec<_> = found
            .iter()
            .map(|u| {
                (
                    u.section.as_deref(),
                    u.key.as_str(),
                    u.suggestion.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            rendered,
            [
                (None, "base_ur", Some("base_url")),
                (Some("partner"), "client_id", Some("[salesforce] client_id")),
                (Some("partner"), "nmae", Some("name")),
                (Some("partner"), "zzzz", None),
                (Some("salesforce"), "clent_id", Some("client_id")),
            ]
        );
    }

    #[test]
    fn an_unknown_section_is_one_problem_with_the_section_probably_meant() {
        let found = unknown("[salesforc]\nclient_id = \"x\"\n");
        assert_eq!(
            found,
            [Unknown {
                section: None,
                key: "salesforc".into(),
                table: true,
                suggestion: Some("[salesforce]".into()),
            }]
        );
    }

    #[test]
    fn a_top_level_key_inside_a_section_is_pointed_back_to_the_top() {
        let found = unknown("[partner]\ndatabase_url = \"sqlite://x.db\"\n");
        assert_eq!(
            found[0].suggestion.as_deref(),
            Some("database_url at the top level, before any [section]")
        );
    }

    #[test]
    fn known_keys_are_kept_and_unknown_ones_dropped() {
        let table: toml::Table = "bind = \"127.0.0.1:1\"\n[links]\nttl = \"1d\"\nttll = \"2d\"\n"
            .parse()
            .unwrap_or_default();
        let (_, kept) = schema().unknown_keys(&table);
        assert_eq!(
            kept.to_string(),
            "bind = \"127.0.0.1:1\"\n\n[links]\nttl = \"1d\"\n"
        );
    }
}
