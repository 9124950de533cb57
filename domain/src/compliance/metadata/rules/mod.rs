//! Every rule, applied to a loaded project: per External Client App ([`eca`]), per Connected
//! App ([`connected_app`]), and the org-wide flow blocks, which have no per-app switch.

mod common;
mod connected_app;
mod eca;
#[cfg(test)]
mod tests;

use super::bundle::Project;
use super::catalog::{Finding, Rule};
use super::model::Value;

/// All findings for `project`, sorted by file, line and rule.
pub fn check(project: &Project, legacy_orgs: Option<u64>) -> Vec<Finding> {
    let mut out = project.problems.clone();
    for b in &project.ecas {
        eca::check(b, &mut out);
    }
    for ca in &project.connected_apps {
        connected_app::check(ca, legacy_orgs, &mut out);
    }
    org_flows(project, &mut out);
    out.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.rule, a.found.as_str()).cmp(&(
            b.file.as_str(),
            b.line,
            b.rule,
            b.found.as_str(),
        ))
    });
    out
}

/// Username-password and user-agent flows: only the org's `OauthOidcSettings` can block them.
fn org_flows(project: &Project, out: &mut Vec<Finding>) {
    let flags = [
        (
            Rule::UsernamePasswordFlowBlocked,
            "blockOAuthUnPwFlow",
            "the username-password flow",
        ),
        (
            Rule::UserAgentFlowBlocked,
            "blockOAuthUsrAgtFlow",
            "the user-agent (implicit) flow",
        ),
    ];
    if !project.org_settings.is_empty() {
        for s in &project.org_settings {
            for (rule, element, flow) in flags {
                let value: Option<&Value<bool>> = match rule {
                    Rule::UsernamePasswordFlowBlocked => s.block_oauth_un_pw_flow.as_ref(),
                    _ => s.block_oauth_usr_agt_flow.as_ref(),
                };
                if value.is_some_and(|v| v.value) {
                    continue;
                }
                let (line, state) = match value {
                    Some(v) => (v.line, "false"),
                    None => (s.file.line, "absent (default false)"),
                };
                out.push(Finding::new(
                    rule,
                    None,
                    &s.file.rel,
                    line,
                    format!("{element} is {state}: {flow} is open to every app in the org"),
                    format!(
                        "set <{element}>true</{element}> (and ask subscriber admins to do the same)"
                    ),
                ));
            }
        }
        return;
    }
    // No settings file: say so once per app the flow concerns. External Client Apps do not
    // support the username-password flow at all.
    for ca in project
        .connected_apps
        .iter()
        .filter(|c| c.oauth_config.is_some())
    {
        for (rule, element, flow) in flags {
            let mut f = Finding::new(
                rule,
                Some(&ca.name),
                &ca.file.rel,
                ca.file.line,
                format!(
                    "cannot tell from metadata: {flow} has no per-app switch, and no settings/OauthOidc.settings-meta.xml was found to show the org's {element}"
                ),
                format!("set {element} to true in the org's OAuth and OpenID Connect settings"),
            );
            f.mark_cannot_tell();
            out.push(f);
        }
    }
    for b in &project.ecas {
        let p = b.primary();
        let mut f = Finding::new(
            Rule::UserAgentFlowBlocked,
            Some(&b.name),
            &p.rel,
            p.line,
            "cannot tell from metadata: the user-agent (implicit) flow has no per-app switch, and no settings/OauthOidc.settings-meta.xml was found to show the org's blockOAuthUsrAgtFlow",
            "set blockOAuthUsrAgtFlow to true in the org's OAuth and OpenID Connect settings",
        );
        f.mark_cannot_tell();
        out.push(f);
    }
}
