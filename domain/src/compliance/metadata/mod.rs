//! `reauth audit metadata`: a linter over the Salesforce metadata the partner ships.
//!
//! It finds every External Client App bundle (`.eca`, `.ecaOauth`, `.ecaGlblOauth`,
//! `.ecaOauthPlcy`, `.ecaPlcy`, `.ecaOauthSecurity`) and every Connected App in an SFDX project
//! or a folder of retrieved metadata ([`discover`]), parses each file with a real XML parser
//! into typed models that keep line numbers ([`xml`], [`model`], [`bundle`]), checks every rule
//! of the [`catalog`] per app (`rules`), and renders the findings as text, JSON or SARIF
//! 2.1.0 ([`render`]). A file that does not parse is a finding, never a failure; only an
//! unreadable audited folder is an error. Where metadata cannot answer (settings that live
//! only in each subscriber org, or whose XML Salesforce does not document) the finding says
//! "cannot tell from metadata" instead of guessing.

pub mod bundle;
pub mod catalog;
pub mod discover;
pub mod model;
mod registry;
pub mod render;
mod rules;
pub mod xml;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use catalog::{Finding, Rule, RuleInfo, Severity};
pub use registry::legacy_org_count;

use crate::config::Config;

/// The audited folder cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: no such folder", .0.display())]
    Missing(PathBuf),
    #[error("{}: not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Which kind of app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AppKind {
    ExternalClientApp,
    ConnectedApp,
}

/// One app the audit looked at.
#[derive(Debug, Clone, Serialize)]
pub struct AppSummary {
    pub name: String,
    pub kind: AppKind,
    /// Its files, relative to the audited folder.
    pub files: Vec<String>,
}

/// Findings per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
}

/// The audit's result (the JSON format is this, serialised).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The audited folder as given.
    pub path: String,
    pub apps: Vec<AppSummary>,
    /// Orgs in the registry with a live connection on the legacy app (`None`: no database
    /// configured, or no Connected App found).
    pub legacy_orgs: Option<u64>,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    /// Whether any finding is at or above `threshold` (the exit code's question).
    pub fn fails_at(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }
}

/// Reads every metadata file under `path`. Fails only when `path` is not a readable folder.
pub fn load(path: &Path) -> Result<bundle::Project, AuditError> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(AuditError::Missing(path.to_owned()));
        }
        Err(source) => {
            return Err(AuditError::Unreadable {
                path: path.to_owned(),
                source,
            });
        }
        Ok(m) if !m.is_dir() => return Err(AuditError::NotAFolder(path.to_owned())),
        Ok(_) => {}
    }
    let found = discover::discover(path).map_err(|source| AuditError::Unreadable {
        path: path.to_owned(),
        source,
    })?;
    Ok(bundle::load(found))
}

/// Checks a loaded project; `legacy_orgs` goes into the legacy-app finding.
pub fn check(path: &Path, project: &bundle::Project, legacy_orgs: Option<u64>) -> Report {
    let findings = rules::check(project, legacy_orgs);
    let mut apps: Vec<AppSummary> = project
        .ecas
        .iter()
        .map(|b| AppSummary {
            name: b.name.clone(),
            kind: AppKind::ExternalClientApp,
            files: b.files(),
        })
        .chain(project.connected_apps.iter().map(|c| AppSummary {
            name: c.name.clone(),
            kind: AppKind::ConnectedApp,
            files: vec![c.file.rel.clone()],
        }))
        .collect();
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let summary = Summary {
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        notes: count(Severity::Note),
    };
    Report {
        path: path.display().to_string(),
        apps,
        legacy_orgs,
        findings,
        summary,
    }
}

/// Audits `path` without a registry (no legacy count).
pub fn audit_dir(path: &Path) -> Result<Report, AuditError> {
    let project = load(path)?;
    Ok(check(path, &project, None))
}

/// Audits `path`; when a Connected App is found and a database is configured, the legacy
/// finding carries the registry's count of orgs still on the legacy app.
pub async fn audit(path: &Path, config: &Config) -> Result<Report, AuditError> {
    let project = load(path)?;
    let legacy_orgs = if project.connected_apps.is_empty() {
        None
    } else {
        registry::count_if_configured(config).await
    };
    Ok(check(path, &project, legacy_orgs))
}
