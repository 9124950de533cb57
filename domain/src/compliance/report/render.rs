//! The report as a document: Markdown and HTML from `templates/compliance/` (the wording lives
//! there, `_wording.txt` shared by both), JSON through serde. [`View`] is what the templates
//! read; the staff page's template includes `compliance/_body.html` with the same view.

use askama::Template;

use super::{Age, Report, Verdict};
use crate::error::{Error, Result};

/// Which check a row of the report is (the templates' wording is keyed by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckId {
    Pkce,
    Rotation,
    Idle,
    Egress,
    AtRest,
    Staff,
    ClientSecret,
    EncryptionKey,
    Alerts,
}

/// One row of the summary table.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    pub id: CheckId,
    pub verdict: Verdict,
    /// For the age checks, the secret whose age the row shows.
    pub age: Option<&'a Age>,
}

/// The report and what its templates show besides it.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub r: &'a Report,
    pub rows: Vec<Row<'a>>,
    pub generated: String,
    pub from: String,
    pub to: String,
}

fn stamp(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The rows in the report's order.
pub fn view(r: &Report) -> View<'_> {
    let row = |id, verdict| Row {
        id,
        verdict,
        age: None,
    };
    let mut rows = vec![
        row(CheckId::Pkce, r.pkce.verdict),
        row(CheckId::Rotation, r.rotation.verdict),
        row(CheckId::Idle, r.idle.verdict),
        row(CheckId::Egress, r.egress.share.verdict),
        row(CheckId::AtRest, r.at_rest.verdict),
        row(CheckId::Staff, r.staff.verdict),
    ];
    rows.extend(r.client_secrets.iter().map(|a| Row {
        id: CheckId::ClientSecret,
        verdict: a.verdict,
        age: Some(a),
    }));
    rows.push(Row {
        id: CheckId::EncryptionKey,
        verdict: r.encryption_key.verdict,
        age: Some(&r.encryption_key),
    });
    rows.push(row(CheckId::Alerts, r.alerts.verdict));
    View {
        r,
        rows,
        generated: stamp(&r.generated_at),
        from: stamp(&r.period.from),
        to: stamp(&r.period.to),
    }
}

#[derive(Template)]
#[template(path = "compliance/report.md", escape = "none")]
struct Markdown<'a> {
    v: &'a View<'a>,
}

#[derive(Template)]
#[template(path = "compliance/report.html")]
struct Html<'a> {
    v: &'a View<'a>,
}

fn rendered(r: askama::Result<String>) -> Result<String> {
    r.map_err(|e| Error::Internal(format!("the compliance report did not render: {e}")))
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> Result<String> {
    rendered(Markdown { v: &view(r) }.render())
}

/// The report as a standalone HTML document (styles inline, no external resources).
pub fn html(r: &Report) -> Result<String> {
    rendered(Html { v: &view(r) }.render())
}

/// The report as pretty-printed JSON.
pub fn json(r: &Report) -> Result<String> {
    serde_json::to_string_pretty(r)
        .map_err(|e| Error::Internal(format!("the compliance report did not serialise: {e}")))
}
