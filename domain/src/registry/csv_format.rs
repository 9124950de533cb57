//! The org CSV format: columns, header rules and per-row validation.
//!
//! `org_id,name,environment,login_url,wave,admin_email,admin_name,secondary_email,csm_email,timezone`
//! in any order; `org_id`, `name` and `admin_email` are required, unknown columns are an error.
//! A column that is absent leaves that field of existing orgs untouched; a column that is present
//! but empty clears it (except `environment`, where empty means production).

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use chrono_tz::Tz;

use crate::types::{Email, Environment, LoginUrl, OrgId};

/// A column of the org CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    OrgId,
    Name,
    Environment,
    LoginUrl,
    Wave,
    AdminEmail,
    AdminName,
    SecondaryEmail,
    CsmEmail,
    Timezone,
}

impl Column {
    /// Every column, in the order `orgs export` writes them.
    pub const ALL: [Self; 10] = [
        Self::OrgId,
        Self::Name,
        Self::Environment,
        Self::LoginUrl,
        Self::Wave,
        Self::AdminEmail,
        Self::AdminName,
        Self::SecondaryEmail,
        Self::CsmEmail,
        Self::Timezone,
    ];
    const REQUIRED: [Self; 3] = [Self::OrgId, Self::Name, Self::AdminEmail];

    /// The header spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrgId => "org_id",
            Self::Name => "name",
            Self::Environment => "environment",
            Self::LoginUrl => "login_url",
            Self::Wave => "wave",
            Self::AdminEmail => "admin_email",
            Self::AdminName => "admin_name",
            Self::SecondaryEmail => "secondary_email",
            Self::CsmEmail => "csm_email",
            Self::Timezone => "timezone",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// The header row is unusable; nothing else is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError {
    pub file: String,
    pub problems: Vec<String>,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}:1: header: {p}", self.file)?;
        }
        Ok(())
    }
}

impl std::error::Error for HeaderError {}

/// One problem in one row, reported as `FILE:LINE: column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub file: String,
    /// Line in the file where the record starts (the header is line 1).
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// A valid row. `Option<Option<T>>` fields: outer `None` = the column is absent from the file
/// (leave the field alone), `Some(None)` = present but empty (clear it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub org_id: OrgId,
    pub name: String,
    pub environment: Option<Environment>,
    pub login_url: Option<Option<LoginUrl>>,
    pub wave: Option<Option<String>>,
    pub admin_email: Email,
    pub admin_name: Option<Option<String>>,
    pub secondary_email: Option<Option<Email>>,
    pub csm_email: Option<Option<Email>>,
    pub timezone: Option<Option<String>>,
}

/// The result of reading a file: valid rows and every problem found.
#[derive(Debug, Clone)]
pub struct ParsedCsv {
    pub columns: Vec<Column>,
    pub rows: Vec<ImportRow>,
    pub errors: Vec<RowError>,
}

impl ParsedCsv {
    /// Whether the file had this column.
    pub fn has(&self, c: Column) -> bool {
        self.columns.contains(&c)
    }
}

/// Reads and validates an org CSV. `file` names the source in messages; `extra_login_hosts`
/// comes from `salesforce.extra_login_hosts`. `on_bytes` is told how far into the input the
/// reader is (for a progress bar).
pub fn parse_csv<R: Read>(
    input: R,
    file: &str,
    extra_login_hosts: &[String],
    mut on_bytes: impl FnMut(u64),
) -> Result<ParsedCsv, HeaderError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(input);
    let header_err = |problems| HeaderError {
        file: file.to_owned(),
        problems,
    };
    let headers = reader
        .byte_headers()
        .map_err(|e| header_err(vec![format!("cannot read the header row: {e}")]))?
        .clone();
    if headers.is_empty() || headers.iter().all(|h| h.is_empty()) {
        return Err(header_err(vec![
            "the file is empty; a header row is required".into(),
        ]));
    }

    let mut problems = Vec::new();
    let mut columns = Vec::new();
    for (i, raw) in headers.iter().enumerate() {
        // A UTF-8 byte order mark may precede the first header.
        let raw = if i == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        let name = String::from_utf8_lossy(raw).trim().to_ascii_lowercase();
        match Column::parse(&name) {
            Some(c) if columns.contains(&c) => {
                problems.push(format!("column `{name}` appears twice"))
            }
            Some(c) => columns.push(c),
            None => {
                let expected: Vec<_> = Column::ALL.iter().map(|c| c.as_str()).collect();
                problems.push(format!(
                    "unknown column `{name}` (expected: {})",
                    expected.join(", ")
                ));
                columns.push(Column::OrgId); // placeholder; the file is refused anyway
            }
        }
    }
    for req in Column::REQUIRED {
        if !columns.contains(&req) {
            problems.push(format!("missing required column `{}`", req.as_str()));
        }
    }
    if !problems.is_empty() {
        return Err(header_err(problems));
    }

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<OrgId, u64> = HashMap::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(line, csv::Position::line);
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => {
                        format!("expected {expected_len} fields as in the header, found {len}")
                    }
                    _ => e.to_string(),
                };
                errors.push(RowError {
                    file: file.to_owned(),
                    line,
                    column: "row".into(),
                    message,
                });
                continue;
            }
        }
        on_bytes(reader.position().byte());
        let line = record.position().map_or(line, csv::Position::line);
        let mut row_errors = Vec::new();
        let mut fields: HashMap<Column, String> = HashMap::with_capacity(columns.len());
        for (col, raw) in columns.iter().zip(record.iter()) {
            match std::str::from_utf8(raw) {
                Ok(s) => {
                    fields.insert(*col, s.trim().to_owned());
                }
                Err(_) => row_errors.push((col.as_str(), "is not valid UTF-8".to_owned())),
            }
        }
        if let Some(row) = validate_row(line, &fields, &columns, extra_login_hosts, &mut row_errors)
        {
            if let Some(first) = seen.get(&row.org_id) {
                row_errors.push((
                    "org_id",
                    format!("org {} already appears on line {first}", row.org_id),
                ));
            } else if row_errors.is_empty() {
                seen.insert(row.org_id.clone(), line);
                rows.push(row);
            }
        }
        errors.extend(row_errors.into_iter().map(|(column, message)| RowError {
            file: file.to_owned(),
            line,
            column: column.to_owned(),
            message,
        }));
    }
    Ok(ParsedCsv {
        columns,
        rows,
        errors,
    })
}

/// Validates one record; pushes every problem and returns the row only if there were none.
fn validate_row(
    line: u64,
    f: &HashMap<Column, String>,
    columns: &[Column],
    extra_login_hosts: &[String],
    errs: &mut Vec<(&'static str, String)>,
) -> Option<ImportRow> {
    let get = |c: Column| f.get(&c).map(String::as_str).unwrap_or("");
    let present = |c: Column| columns.contains(&c);
    let before = errs.len();

    let org_id = match OrgId::parse(get(Column::OrgId)) {
        Ok(id) => Some(id),
        Err(e) => {
            let raw = get(Column::OrgId);
            errs.push((
                "org_id",
                if raw.is_empty() {
                    "is required".into()
                } else {
                    format!("`{raw}`: {e}")
                },
            ));
            None
        }
    };
    let name = get(Column::Name).to_owned();
    if name.is_empty() {
        errs.push(("name", "is required".into()));
    } else if name.chars().any(char::is_control) {
        errs.push(("name", "contains a line break or control character".into()));
    } else if name.chars().count() > 255 {
        errs.push(("name", "is longer than 255 characters".into()));
    }
    let environment = if present(Column::Environment) {
        match get(Column::Environment).parse::<Environment>() {
            Ok(e) => Some(e),
            Err(e) => {
                errs.push(("environment", e.to_string()));
                None
            }
        }
    } else {
        None
    };
    let login_url = present(Column::LoginUrl).then(|| match get(Column::LoginUrl) {
        "" => None,
        s => LoginUrl::parse(s, extra_login_hosts)
            .map_err(|e| errs.push(("login_url", e.to_string())))
            .ok(),
    });
    let wave = present(Column::Wave).then(|| {
        let w = get(Column::Wave);
        if w.chars().count() > 100 || w.chars().any(char::is_control) {
            errs.push(("wave", "must be at most 100 characters on one line".into()));
        }
        (!w.is_empty()).then(|| w.to_owned())
    });
    let admin_email = match Email::parse(get(Column::AdminEmail)) {
        Ok(e) => Some(e),
        Err(e) => {
            errs.push(("admin_email", e.to_string()));
            None
        }
    };
    let admin_name = present(Column::AdminName)
        .then(|| Some(get(Column::AdminName).to_owned()).filter(|s| !s.is_empty()));
    let mut optional_email = |col: Column, label: &'static str| {
        present(col).then(|| match get(col) {
            "" => None,
            s => Email::parse(s)
                .map_err(|e| errs.push((label, e.to_string())))
                .ok(),
        })
    };
    let secondary_email = optional_email(Column::SecondaryEmail, "secondary_email");
    let csm_email = optional_email(Column::CsmEmail, "csm_email");
    if let (Some(Some(sec)), Some(admin)) = (&secondary_email, &admin_email)
        && sec == admin
    {
        errs.push(("secondary_email", "is the same as admin_email".into()));
    }
    let timezone = present(Column::Timezone).then(|| match get(Column::Timezone) {
        "" => None,
        s => match s.parse::<Tz>() {
            Ok(tz) => Some(tz.name().to_owned()),
            Err(_) => {
                errs.push((
                    "timezone",
                    format!("`{s}` is not an IANA time zone such as Europe/Paris"),
                ));
                None
            }
        },
    });
    if errs.len() > before {
        return None;
    }
    Some(ImportRow {
        line,
        org_id: org_id?,
        name,
        environment,
        login_url,
        wave,
        admin_email: admin_email?,
        admin_name,
        secondary_email,
        csm_email,
        timezone,
    })
}

#[cfg(test)]
mod tests;
