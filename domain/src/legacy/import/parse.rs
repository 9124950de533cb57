//! Reading and checking a token file (CSV or JSON lines) or one API record: every problem as
//! `FILE:LINE: column: message`, never a token's text.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::Error;
use crate::registry::RowError;
use crate::types::{LoginUrl, OrgId};

/// The columns, in the order the documentation gives them.
pub const COLUMNS: [&str; 8] = [
    "org_id",
    "refresh_token",
    "login_url",
    "instance_url",
    "sf_user_id",
    "sf_username",
    "issued_at",
    "scopes",
];
const REQUIRED: [&str; 4] = ["org_id", "refresh_token", "instance_url", "sf_user_id"];
/// One record as read (CSV or JSON); never printed, since it holds a token.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawRow {
    pub org_id: Option<String>,
    pub refresh_token: Option<String>,
    pub login_url: Option<String>,
    pub instance_url: Option<String>,
    pub sf_user_id: Option<String>,
    pub sf_username: Option<String>,
    pub issued_at: Option<String>,
    pub scopes: Option<String>,
}

/// A checked row, ready to store.
pub struct LegacyRow {
    pub line: u64,
    pub org_id: OrgId,
    pub refresh_token: SecretString,
    pub login_url: Option<LoginUrl>,
    pub instance_url: LoginUrl,
    pub sf_user_id: String,
    pub sf_username: Option<String>,
    pub issued_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for LegacyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyRow")
            .field("line", &self.line)
            .field("org_id", &self.org_id)
            .field("sf_user_id", &self.sf_user_id)
            .finish_non_exhaustive()
    }
}

/// A file's checked rows and every problem found in it.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<LegacyRow>,
    pub errors: Vec<RowError>,
}

/// The two file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    /// JSON lines for `.jsonl`, `.ndjson` and `.json`, else CSV.
    pub fn of_path(path: &str) -> Self {
        let lower = path.to_ascii_lowercase();
        if [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|e| lower.ends_with(e))
        {
            Self::JsonLines
        } else {
            Self::Csv
        }
    }
}

pub(super) fn err(file: &str, line: u64, column: &str, message: impl Into<String>) -> RowError {
    RowError {
        file: file.to_owned(),
        line,
        column: column.to_owned(),
        message: message.into(),
    }
}

/// Reads and checks a file. Errors in the header stop the reading; errors in rows are collected.
pub fn parse<R: Read>(input: R, format: Format, file: &str, extra_hosts: &[String]) -> Parsed {
    let mut out = Parsed::default();
    let mut first_line: HashMap<OrgId, u64> = HashMap::new();
    let mut take = |line: u64, raw: RawRow, out: &mut Parsed| match check(
        raw,
        line,
        file,
        extra_hosts,
    ) {
        Ok(row) => {
            if let Some(first) = first_line.get(&row.org_id) {
                out.errors.push(err(
                    file,
                    line,
                    "org_id",
                    format!(
                        "org {} appears twice (first on line {first}); one legacy connection per org",
                        row.org_id
                    ),
                ));
            } else {
                first_line.insert(row.org_id.clone(), line);
                out.rows.push(row);
            }
        }
        Err(mut e) => out.errors.append(&mut e),
    };
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .trim(csv::Trim::All)
                .flexible(false)
                .from_reader(input);
            let headers = match reader.headers() {
                Ok(h) => h.clone(),
                Err(e) => {
                    out.errors.push(err(file, 1, "header", e.to_string()));
                    return out;
                }
            };
            let mut problems = Vec::new();
            for h in headers.iter() {
                if !COLUMNS.contains(&h) {
                    problems.push(err(
                        file,
                        1,
                        "header",
                        format!(
                            "unknown column `{h}` (the columns are {})",
                            COLUMNS.join(", ")
                        ),
                    ));
                }
            }
            for r in REQUIRED {
                if !headers.iter().any(|h| h == r) {
                    problems.push(err(
                        file,
                        1,
                        "header",
                        format!("the required column `{r}` is missing"),
                    ));
                }
            }
            if !problems.is_empty() {
                out.errors = problems;
                return out;
            }
            for record in reader.records() {
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        let line = e.position().map_or(0, |p| p.line());
                        // The csv crate's message names positions, never field contents.
                        out.errors.push(err(file, line, "row", e.to_string()));
                        continue;
                    }
                };
                let line = record.position().map_or(0, |p| p.line());
                let mut raw = RawRow::default();
                for (h, v) in headers.iter().zip(record.iter()) {
                    let v = (!v.is_empty()).then(|| v.to_owned());
                    match h {
                        "org_id" => raw.org_id = v,
                        "refresh_token" => raw.refresh_token = v,
                        "login_url" => raw.login_url = v,
                        "instance_url" => raw.instance_url = v,
                        "sf_user_id" => raw.sf_user_id = v,
                        "sf_username" => raw.sf_username = v,
                        "issued_at" => raw.issued_at = v,
                        _ => raw.scopes = v,
                    }
                }
                take(line, raw, &mut out);
            }
        }
        Format::JsonLines => {
            let mut text = String::new();
            let mut input = input;
            if let Err(e) = input.read_to_string(&mut text) {
                out.errors.push(err(file, 0, "file", e.to_string()));
                return out;
            }
            for (i, l) in text.lines().enumerate() {
                let line = i as u64 + 1;
                if l.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<RawRow>(l) {
                    Ok(raw) => take(line, raw, &mut out),
                    // serde_json names the field or position, not the value.
                    Err(e) => out.errors.push(err(file, line, "row", json_problem(&e))),
                }
            }
        }
    }
    out
}

/// A JSON error without any of the input's text.
pub fn json_problem(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    // "invalid type: string \"…\", expected …" quotes the value: keep only what was expected.
    match msg.split_once(", expected") {
        Some((_, rest)) if msg.starts_with("invalid") => format!("expected{rest}"),
        _ => msg,
    }
}

/// Checks one record (`line` names it in errors).
pub fn check(
    raw: RawRow,
    line: u64,
    file: &str,
    extra_hosts: &[String],
) -> std::result::Result<LegacyRow, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut e = |column: &str, message: String| errors.push(err(file, line, column, message));
    let org_id = match raw.org_id.as_deref().map(str::trim) {
        None | Some("") => {
            e("org_id", "is required".into());
            None
        }
        Some(s) => match OrgId::parse(s) {
            Ok(o) => Some(o),
            Err(x) => {
                e("org_id", format!("`{s}`: {x}"));
                None
            }
        },
    };
    let refresh_token = match raw.refresh_token {
        None => {
            e("refresh_token", "is required".into());
            None
        }
        Some(t) if t.trim().is_empty() => {
            e("refresh_token", "is empty".into());
            None
        }
        Some(t) if t.trim().chars().any(char::is_whitespace) => {
            e("refresh_token", "contains whitespace".into());
            None
        }
        Some(t) => Some(SecretString::from(t.trim().to_owned())),
    };
    let url = |column: &str, v: Option<String>, e: &mut dyn FnMut(&str, String)| match v {
        None => None,
        Some(s) => match LoginUrl::parse(s.trim(), extra_hosts) {
            Ok(u) => Some(u),
            Err(x) => {
                e(column, x.to_string());
                None
            }
        },
    };
    let login_url = url("login_url", raw.login_url, &mut e);
    let instance_url = if raw.instance_url.is_none() {
        e("instance_url", "is required".into());
        None
    } else {
        url("instance_url", raw.instance_url, &mut e)
    };
    let sf_user_id = match raw.sf_user_id.as_deref().map(str::trim) {
        None | Some("") => {
            e("sf_user_id", "is required".into());
            None
        }
        Some(u)
            if u.starts_with("005")
                && matches!(u.len(), 15 | 18)
                && u.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            Some(u.to_owned())
        }
        Some(u) => {
            e(
                "sf_user_id",
                format!("`{u}` is not a Salesforce user id (15 or 18 characters starting 005)"),
            );
            None
        }
    };
    let issued_at = match raw.issued_at.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(x) => {
                e(
                    "issued_at",
                    format!("`{s}` is not an RFC 3339 time such as 2026-11-02T09:30:00Z: {x}"),
                );
                None
            }
        },
    };
    let scopes = raw
        .scopes
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let sf_username = raw.sf_username.map(|s| s.trim().to_owned());
    match (org_id, refresh_token, instance_url, sf_user_id) {
        (Some(org_id), Some(refresh_token), Some(instance_url), Some(sf_user_id))
            if errors.is_empty() =>
        {
            Ok(LegacyRow {
                line,
                org_id,
                refresh_token,
                login_url,
                instance_url,
                sf_user_id,
                sf_username,
                issued_at,
                scopes,
            })
        }
        _ => Err(errors),
    }
}

/// A single record from the API, checked like a file's line 1.
pub fn check_one(raw: RawRow, extra_hosts: &[String]) -> std::result::Result<Parsed, Error> {
    match check(raw, 1, "request", extra_hosts) {
        Ok(row) => Ok(Parsed {
            rows: vec![row],
            errors: Vec::new(),
        }),
        Err(errors) => Err(Error::Invalid(
            errors
                .iter()
                .map(|e| format!("{}: {}", e.column, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        )),
    }
}
