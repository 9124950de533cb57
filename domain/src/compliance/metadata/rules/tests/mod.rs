//! Unit tests of every rule, on small projects written to a temporary folder.

mod connected_app;
mod eca;
mod files;
mod org;

use super::super::catalog::{Finding, Severity};

const NS: &str = "xmlns=\"http://soap.sforce.com/2006/04/metadata\"";

/// Writes `files` (relative path, contents) to a fresh folder and audits it.
fn audit(files: &[(&str, String)]) -> Vec<Finding> {
    audit_with(files, None)
}

/// The same with a registry count for the legacy app.
fn audit_with(files: &[(&str, String)], legacy_orgs: Option<u64>) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in files {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let project = super::super::load(dir.path()).unwrap();
    super::check(&project, legacy_orgs)
}

/// A metadata document: the XML declaration on line 1, `<root>` on line 2, `body` from line 3.
fn doc(root: &str, body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} {NS}>\n{body}</{root}>\n")
}

/// (rule id, severity, line) of the findings of one rule.
fn of(findings: &[Finding], rule_id: &str) -> Vec<(Severity, u32)> {
    findings
        .iter()
        .filter(|f| f.rule.id() == rule_id)
        .map(|f| (f.severity, f.line))
        .collect()
}

/// (rule id, severity, line) of every finding.
fn all(findings: &[Finding]) -> Vec<(&'static str, Severity, u32)> {
    findings
        .iter()
        .map(|f| (f.rule.id(), f.severity, f.line))
        .collect()
}

const ECA_HEADER: &str = "force-app/main/default/externalClientApps/App.eca-meta.xml";
const ECA_GLOBAL: &str =
    "force-app/main/default/extlClntAppGlobalOauthSets/App_glbloauth.ecaGlblOauth-meta.xml";
const ECA_OAUTH: &str =
    "force-app/main/default/extlClntAppOauthSettings/App_oauth.ecaOauth-meta.xml";
const ECA_POLICY: &str =
    "force-app/main/default/extlClntAppOauthPolicies/App_oauthPlcy.ecaOauthPlcy-meta.xml";
const ECA_SECURITY: &str = "force-app/main/default/extlClntAppOauthSecuritySettings/App_oauthSecurity.ecaOauthSecurity-meta.xml";
const CA: &str = "force-app/main/default/connectedApps/Old.connectedApp-meta.xml";
const ORG: &str = "force-app/main/default/settings/OauthOidc.settings-meta.xml";

fn header() -> (&'static str, String) {
    (
        ECA_HEADER,
        doc(
            "ExternalClientApplication",
            "    <contactEmail>a@example.com</contactEmail>\n    <distributionState>Packaged</distributionState>\n    <label>App</label>\n",
        ),
    )
}

/// Global settings for `App` that pass every rule, with `lines` added after line 3.
fn global(lines: &str) -> (&'static str, String) {
    (
        ECA_GLOBAL,
        doc(
            "ExtlClntAppGlobalOauthSettings",
            &format!(
                "    <externalClientApplication>App</externalClientApplication>\n{lines}    <callbackUrl>https://reauth.example.com/oauth/callback</callbackUrl>\n    <isConsumerSecretOptional>false</isConsumerSecretOptional>\n    <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>\n    <isSecretRequiredForRefreshToken>true</isSecretRequiredForRefreshToken>\n    <label>App</label>\n"
            ),
        ),
    )
}

/// A retrieved subscriber policy for `App` with the given body lines (from line 4).
fn policy(lines: &str) -> (&'static str, String) {
    (
        ECA_POLICY,
        doc(
            "ExtlClntAppOauthConfigurablePolicies",
            &format!(
                "    <externalClientApplication>App</externalClientApplication>\n{lines}    <label>App</label>\n"
            ),
        ),
    )
}

/// A security settings file with one range row.
fn security() -> (&'static str, String) {
    (
        ECA_SECURITY,
        doc(
            "ExtlClntAppOauthSecuritySettings",
            "    <externalClientApplication>App</externalClientApplication>\n    <tokenIpRanges>\n        <startIpAddress>203.0.113.0</startIpAddress>\n        <endIpAddress>203.0.113.15</endIpAddress>\n    </tokenIpRanges>\n",
        ),
    )
}

fn org(unpw: &str, usragt: &str) -> (&'static str, String) {
    (
        ORG,
        doc(
            "OauthOidcSettings",
            &format!(
                "    <blockOAuthUnPwFlow>{unpw}</blockOAuthUnPwFlow>\n    <blockOAuthUsrAgtFlow>{usragt}</blockOAuthUsrAgtFlow>\n"
            ),
        ),
    )
}

/// A Connected App whose oauthConfig starts on line 4 and holds `config` from line 5, then
/// an oauthPolicy with `policy`.
fn connected_app(config: &str, policy: &str) -> (&'static str, String) {
    (
        CA,
        doc(
            "ConnectedApp",
            &format!(
                "    <label>Old</label>\n    <oauthConfig>\n{config}    </oauthConfig>\n    <oauthPolicy>\n{policy}    </oauthPolicy>\n"
            ),
        ),
    )
}

/// oauthConfig lines that pass every rule (5 lines, from line 5).
const GOOD_CONFIG: &str = "        <callbackUrl>https://reauth.example.com/oauth/callback</callbackUrl>\n        <isPkceRequired>true</isPkceRequired>\n        <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>\n        <scopes>Api</scopes>\n        <scopes>RefreshToken</scopes>\n";

/// oauthPolicy lines that pass every rule.
const GOOD_POLICY: &str = "        <ipRelaxation>ENFORCE</ipRelaxation>\n        <refreshTokenPolicy>specific_inactivity:30:DAYS</refreshTokenPolicy>\n";
