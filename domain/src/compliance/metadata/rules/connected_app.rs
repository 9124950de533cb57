//! The rules for one legacy Connected App: the mandate's controls sit in `oauthConfig` (PKCE,
//! rotation, flows, callbacks, scopes) and `oauthPolicy` (refresh-token policy, IP relaxation),
//! and the app itself is due to retire once every org is on the External Client App.

use super::super::catalog::{Finding, Rule};
use super::super::model::ConnectedApp;
use super::common::{
    Ctx, check_callbacks, check_client_type, check_ip_relaxation, check_scopes, check_token_policy,
    parse_connected_app_policy,
};

const POLICY_FIX: &str = "set <refreshTokenPolicy>specific_inactivity:30:DAYS</refreshTokenPolicy> (or zero) in oauthPolicy";

/// Checks one Connected App. `legacy_orgs` is the registry's count of orgs still connected
/// through the legacy app, when a database is configured.
pub fn check(ca: &ConnectedApp, legacy_orgs: Option<u64>, out: &mut Vec<Finding>) {
    let mut ctx = Ctx {
        app: &ca.name,
        file: &ca.file.rel,
        out,
    };
    let root = ca.file.line;
    let count = match legacy_orgs {
        Some(n) => format!("; the registry has {n} org(s) still connected through the legacy app"),
        None => String::new(),
    };
    ctx.push(
        Rule::LegacyConnectedApp,
        root,
        format!("the legacy Connected App {} is still here{count}", ca.name),
        "keep it only until every org has consented to the External Client App, then remove it from the package",
    );
    let Some(c) = &ca.oauth_config else {
        // Not an OAuth app: nothing of the mandate applies.
        return;
    };
    match &c.is_pkce_required {
        Some(v) if v.value => {}
        Some(v) => {
            ctx.push(
                Rule::PkceRequired,
                v.line,
                "oauthConfig/isPkceRequired is false",
                "set <isPkceRequired>true</isPkceRequired> in oauthConfig",
            );
        }
        None => {
            ctx.push(
                Rule::PkceRequired,
                c.line,
                "oauthConfig/isPkceRequired is absent, and a Connected App defaults to false: PKCE is optional",
                "add <isPkceRequired>true</isPkceRequired> to oauthConfig",
            );
        }
    }
    let misplaced = ca
        .oauth_policy
        .as_ref()
        .and_then(|p| p.misplaced_rotation.as_ref());
    match &c.is_refresh_token_rotation_enabled {
        Some(v) if v.value => {}
        Some(v) => {
            ctx.push(
                Rule::RefreshTokenRotation,
                v.line,
                "oauthConfig/isRefreshTokenRotationEnabled is false",
                "set <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled> in oauthConfig",
            );
        }
        None => {
            ctx.push(
                Rule::RefreshTokenRotation,
                c.line,
                "oauthConfig/isRefreshTokenRotationEnabled is absent: rotation is not turned on",
                "add <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled> to oauthConfig",
            );
        }
    }
    if let Some(v) = misplaced {
        ctx.push(
            Rule::RefreshTokenRotation,
            v.line,
            "isRefreshTokenRotationEnabled is under oauthPolicy, where Salesforce does not read it",
            "move it into oauthConfig",
        );
    }
    ctx.push(
        Rule::DeviceFlowOff,
        c.line,
        "cannot tell from metadata: Connected App metadata has no device-flow element",
        "check in Setup that 'Enable for Device Flow' is off for the app",
    )
    .mark_cannot_tell();
    if let Some(v) = c.is_client_credential_enabled.as_ref().filter(|v| v.value) {
        ctx.push(
            Rule::ClientCredentialsOff,
            v.line,
            "oauthConfig/isClientCredentialEnabled is true",
            "set <isClientCredentialEnabled>false</isClientCredentialEnabled>",
        );
    }
    if let Some(v) = &c.oauth_client_credential_user {
        ctx.push(
            Rule::ClientCredentialsOff,
            v.line,
            format!("oauthClientCredentialUser names a run-as user (`{}`) for the client credentials flow", v.value),
            "remove <oauthClientCredentialUser>",
        );
    }
    ctx.push(
        Rule::RefreshTokenIpAllowlist,
        c.line,
        "cannot tell from metadata: no refresh-token IP allowlist is documented for Connected Apps (top-level <ipRanges> are login ranges, not this)",
        "move the org to the External Client App, whose refresh-token IP allowlist can be enforced",
    )
    .mark_cannot_tell();
    match &ca.oauth_policy {
        None => {
            ctx.push(
                Rule::RefreshTokenPolicy,
                root,
                "there is no oauthPolicy, so refreshTokenPolicy is the default: infinite (valid until revoked)",
                POLICY_FIX,
            );
        }
        Some(p) => {
            match &p.refresh_token_policy {
                None => {
                    ctx.push(
                        Rule::RefreshTokenPolicy,
                        p.line,
                        "oauthPolicy has no refreshTokenPolicy, so it is the default: infinite (valid until revoked)",
                        POLICY_FIX,
                    );
                }
                Some(v) => match parse_connected_app_policy(&v.value) {
                    Some(policy) => {
                        check_token_policy(&mut ctx, v.line, &policy, &v.value, POLICY_FIX)
                    }
                    None => {
                        ctx.push(
                            Rule::RefreshTokenPolicy,
                            v.line,
                            format!("refreshTokenPolicy `{}` is not a value Salesforce knows (infinite, zero, specific_inactivity:N:UNIT, specific_lifetime:N:UNIT)", v.value),
                            POLICY_FIX,
                        );
                    }
                },
            }
            check_ip_relaxation(
                &mut ctx,
                p.ip_relaxation.as_ref(),
                "ipRelaxation",
                "ENFORCE",
            );
        }
    }
    check_scopes(&mut ctx, &c.scopes);
    check_callbacks(&mut ctx, "callbackUrl", &c.callback_urls);
    check_client_type(
        &mut ctx,
        c.line,
        c.is_consumer_secret_optional.as_ref(),
        c.is_secret_required_for_refresh_token.as_ref(),
    );
    if let Some(line) = c.consumer_secret_line {
        ctx.push(
            Rule::SecretInMetadata,
            line,
            "<consumerSecret> holds a value (not shown)",
            "rotate the secret now and remove <consumerSecret> from the file",
        );
    }
}
