//! The audit's output formats: text for people, JSON (the [`Report`] itself) for scripts, and
//! SARIF 2.1.0 ([`sarif`]) for code-scanning UIs.

pub mod sarif;

use super::{AppKind, Report};

/// One line per finding (`FILE:LINE: SEVERITY RULE [APP] what was found`, then the fix), and
/// a summary line.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.findings {
        let app = f
            .app
            .as_deref()
            .map(|a| format!(" [{a}]"))
            .unwrap_or_default();
        s.push_str(&format!(
            "{}:{}: {} {}{app}: {}\n    fix: {}\n",
            f.file,
            f.line,
            f.severity,
            f.rule.id(),
            f.found,
            f.fix
        ));
    }
    if report.apps.is_empty() && report.findings.is_empty() {
        s.push_str(&format!(
            "no External Client App or Connected App metadata found under {}\n",
            report.path
        ));
    }
    let ecas = report
        .apps
        .iter()
        .filter(|a| a.kind == AppKind::ExternalClientApp)
        .count();
    let cas = report.apps.len() - ecas;
    let sum = report.summary;
    s.push_str(&format!(
        "{} app(s) checked ({ecas} External Client App(s), {cas} Connected App(s)): {} error(s), {} warning(s), {} note(s)\n",
        report.apps.len(),
        sum.errors,
        sum.warnings,
        sum.notes
    ));
    s
}

/// The report as pretty-printed JSON.
pub fn json(report: &Report) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(report)
}
