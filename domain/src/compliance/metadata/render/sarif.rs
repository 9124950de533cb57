//! SARIF 2.1.0 output: one run whose tool driver lists every rule, and one result per finding
//! with its rule, level, message and location (the file relative to the audited folder, which
//! is `%SRCROOT%` when the folder is the repository, and the start line).

use serde_json::{Value, json};

use super::super::Report;
use super::super::catalog::Rule;

/// The schema the output declares (the OASIS 2.1.0 errata 01 schema).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The report as a SARIF 2.1.0 log.
pub fn sarif(report: &Report) -> Value {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            let i = r.info();
            json!({
                "id": i.id,
                "name": i.name,
                "shortDescription": { "text": i.title },
                "fullDescription": { "text": i.help },
                "help": { "text": i.help },
                "helpUri": i.help_uri,
                "defaultConfiguration": { "level": i.severity.as_str() },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let index = Rule::ALL.iter().position(|r| *r == f.rule).unwrap_or(0);
            json!({
                "ruleId": f.rule.id(),
                "ruleIndex": index,
                "level": f.severity.as_str(),
                "message": { "text": format!("{}. Fix: {}.", f.found, f.fix) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.file), "uriBaseId": "%SRCROOT%" },
                        "region": { "startLine": f.line.max(1) },
                    }
                }],
                "properties": {
                    "app": f.app,
                    "cannotTell": f.cannot_tell,
                },
            })
        })
        .collect();
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "reauth audit metadata",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// A relative path as a URI reference: every byte outside the unreserved set and `/` is
/// percent-encoded.
pub fn uri(rel: &str) -> String {
    let mut s = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            uri("force-app/a b/X.eca-meta.xml"),
            "force-app/a%20b/X.eca-meta.xml"
        );
        assert_eq!(uri("é"), "%C3%A9");
    }
}
