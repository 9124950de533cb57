//! The rules for one External Client App bundle.
//!
//! The developer's files (`.eca`, `.ecaOauth`, and a retrieved `.ecaGlblOauth`) are checked
//! directly. The OAuth policy (`.ecaOauthPlcy`) belongs to each subscriber org, so it is checked
//! only when a retrieved copy is present and otherwise reported as "verify in each org".

use super::super::bundle::EcaBundle;
use super::super::catalog::{Finding, Rule};
use super::super::model::{EcaOauthPolicy, GlobalOauth, Value};
use super::common::{
    Ctx, TokenPolicy, Unit, check_callbacks, check_client_type, check_ip_relaxation, check_scopes,
    check_token_policy,
};

const POLICY_FIX: &str = "set <refreshTokenPolicyType>SpecificInactivity</refreshTokenPolicyType> with <refreshTokenValidityPeriod>30</refreshTokenValidityPeriod> and <refreshTokenValidityUnit>Days</refreshTokenValidityUnit> (or Zero), or turn on 'Limit the idle refresh token TTL' for the app";

/// `isClientCredentialsFlowEnabled` is true in `place` (the global OAuth settings, the OAuth
/// policy).
fn check_client_credentials_off(ctx: &mut Ctx<'_>, flag: Option<&Value<bool>>, place: &str) {
    if let Some(v) = flag.filter(|v| v.value) {
        ctx.push(
            Rule::ClientCredentialsOff,
            v.line,
            format!("isClientCredentialsFlowEnabled is true in {place}"),
            "set <isClientCredentialsFlowEnabled>false</isClientCredentialsFlowEnabled>",
        );
    }
}

/// Checks one bundle.
pub fn check(b: &EcaBundle, out: &mut Vec<Finding>) {
    let primary = b.primary();
    let mut at_primary = Ctx {
        app: &b.name,
        file: &primary.rel,
        out: &mut *out,
    };
    if b.globals.is_empty() {
        at_primary.push(
            Rule::GlobalSettingsAbsent,
            primary.line,
            format!("no .ecaGlblOauth file references {}: PKCE, refresh token rotation, the device and client-credentials flows, callback URLs, the client type and on-deploy secret rotation cannot be checked from these files (the global OAuth settings are neither packaged nor kept in source control)", b.name),
            format!("retrieve a copy (e.g. `sf project retrieve start --metadata ExtlClntAppGlobalOauthSettings:{}_glbloauth --output-dir retrieved`) into the audited folder; keep it out of source control", b.name),
        );
    }
    if b.policies.is_empty() {
        at_primary.push(
            Rule::RefreshTokenPolicy,
            primary.line,
            "subscriber-owned: verify in each org. The refresh-token policy is in the subscriber's .ecaOauthPlcy (the generated default is a 365-day lifetime with no idle limit), which is not among these files",
            format!("{POLICY_FIX}; or retrieve a subscriber's ExtlClntAppOauthConfigurablePolicies for {} into the audited folder to have it checked", b.name),
        )
        .mark_cannot_tell();
        at_primary.push(
            Rule::IpRelaxation,
            primary.line,
            "subscriber-owned: verify in each org. IP relaxation is in the subscriber's .ecaOauthPlcy, which is not among these files",
            "ipRelaxationPolicyType should be Enforce in each subscriber org",
        )
        .mark_cannot_tell();
    }
    if b.security.is_empty() {
        Ctx {
            app: &b.name,
            file: &primary.rel,
            out: &mut *out,
        }
        .push(
            Rule::RefreshTokenIpAllowlist,
            primary.line,
            format!("cannot tell from metadata: looked for an extlClntAppOauthSecuritySettings/*.ecaOauthSecurity-meta.xml file for {} (retrieve-only, not created by default) and found none", b.name),
            "turn on 'Enforce Refresh Token IP Allowlist' for the app and list the partner's egress ranges; retrieve the ExtlClntAppOauthSecuritySettings into the audited folder to have it looked at",
        )
        .mark_cannot_tell();
    }
    for s in &b.security {
        let mut ctx = Ctx {
            app: &b.name,
            file: &s.file.rel,
            out: &mut *out,
        };
        let found = if s.ranges.is_empty() {
            "cannot tell from metadata: the file has no element with both <startIpAddress> and <endIpAddress> children (the field names of the ExtlClntAppOauthSecurityTokenIpRange setup object); its XML schema is undocumented".to_owned()
        } else {
            format!(
                "found {} refresh-token IP range(s); whether 'Enforce Refresh Token IP Allowlist' is on cannot be told from metadata (its element is undocumented)",
                s.ranges.len()
            )
        };
        ctx.push(
            Rule::RefreshTokenIpAllowlist,
            s.ranges.first().copied().unwrap_or(s.file.line),
            found,
            "check in Setup → External Client App Manager → the app → OAuth settings that the refresh-token IP allowlist is enforced",
        )
        .mark_cannot_tell();
    }
    for g in &b.globals {
        check_global(&b.name, g, out);
    }
    for o in &b.oauth {
        check_scopes(
            &mut Ctx {
                app: &b.name,
                file: &o.file.rel,
                out: &mut *out,
            },
            &o.scopes,
        );
    }
    for p in &b.policies {
        check_policy(&b.name, p, out);
    }
}

fn check_global(app: &str, g: &GlobalOauth, out: &mut Vec<Finding>) {
    let mut ctx = Ctx {
        app,
        file: &g.file.rel,
        out,
    };
    let root = g.file.line;
    if let Some(v) = g.is_pkce_required.as_ref().filter(|v| !v.value) {
        ctx.push(
            Rule::PkceRequired,
            v.line,
            "isPkceRequired is false: PKCE is optional",
            "set <isPkceRequired>true</isPkceRequired> (or remove it: true is the default)",
        );
    }
    match &g.is_refresh_token_rotation_enabled {
        Some(v) if v.value => {}
        Some(v) => {
            ctx.push(
                Rule::RefreshTokenRotation,
                v.line,
                "isRefreshTokenRotationEnabled is false: a refresh token can be used again and again",
                "set <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>",
            );
        }
        None => {
            ctx.push(
                Rule::RefreshTokenRotation,
                root,
                "isRefreshTokenRotationEnabled is absent: rotation is not turned on",
                "add <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>",
            );
        }
    }
    if let Some(v) = g.is_device_flow_enabled.as_ref().filter(|v| v.value) {
        ctx.push(
            Rule::DeviceFlowOff,
            v.line,
            "isDeviceFlowEnabled is true",
            "set <isDeviceFlowEnabled>false</isDeviceFlowEnabled>",
        );
    }
    check_client_credentials_off(
        &mut ctx,
        g.is_client_credentials_flow_enabled.as_ref(),
        "the global OAuth settings",
    );
    if let Some(v) = g.should_rotate_consumer_secret.as_ref().filter(|v| v.value) {
        ctx.push(
            Rule::ConsumerSecretRotationOnDeploy,
            v.line,
            "shouldRotateConsumerSecret is true: every deploy replaces the consumer secret, and every connection holding the old one breaks",
            "set <shouldRotateConsumerSecret>false</shouldRotateConsumerSecret> and rotate with staged credentials when it is time",
        );
    }
    if let Some(v) = g.should_rotate_consumer_key.as_ref().filter(|v| v.value) {
        ctx.push(
            Rule::ConsumerKeyRotationOnDeploy,
            v.line,
            "shouldRotateConsumerKey is true: every deploy replaces the consumer key, and every client configured with the old one breaks",
            "set <shouldRotateConsumerKey>false</shouldRotateConsumerKey>",
        );
    }
    if let Some(line) = g.consumer_secret_line {
        ctx.push(
            Rule::SecretInMetadata,
            line,
            "<consumerSecret> holds a value (not shown)",
            "rotate the secret now and remove <consumerSecret> from the file",
        );
    }
    check_callbacks(&mut ctx, "callbackUrl", &g.callback_urls);
    check_client_type(
        &mut ctx,
        root,
        g.is_consumer_secret_optional.as_ref(),
        g.is_secret_required_for_refresh_token.as_ref(),
    );
}

fn check_policy(app: &str, p: &EcaOauthPolicy, out: &mut Vec<Finding>) {
    let mut ctx = Ctx {
        app,
        file: &p.file.rel,
        out,
    };
    match &p.refresh_token_policy_type {
        None => {
            ctx.push(
                Rule::RefreshTokenPolicy,
                p.file.line,
                "refreshTokenPolicyType is absent from this retrieved policy",
                POLICY_FIX,
            );
        }
        Some(t) => {
            let period = p.refresh_token_validity_period.as_ref();
            let unit = p.refresh_token_validity_unit.as_ref();
            let n = period.and_then(|v| v.value.parse::<u64>().ok());
            let u = unit.and_then(|v| Unit::parse(&v.value));
            let shown = format!(
                "{} {} {}",
                t.value,
                period.map_or("(no period)", |v| v.value.as_str()),
                unit.map_or("(no unit)", |v| v.value.as_str()),
            );
            let policy = match (t.value.as_str(), n, u) {
                ("Infinite", _, _) => Some(TokenPolicy::Infinite),
                ("Zero", _, _) => Some(TokenPolicy::Zero),
                ("SpecificInactivity", Some(n), Some(u)) => Some(TokenPolicy::Inactivity(n, u)),
                ("SpecificLifetime", Some(n), Some(u)) => Some(TokenPolicy::Lifetime(n, u)),
                _ => None,
            };
            match policy {
                Some(policy) => {
                    let shown = match policy {
                        TokenPolicy::Infinite | TokenPolicy::Zero => t.value.clone(),
                        _ => shown,
                    };
                    check_token_policy(&mut ctx, t.line, &policy, &shown, POLICY_FIX);
                }
                None => {
                    ctx.push(
                        Rule::RefreshTokenPolicy,
                        t.line,
                        format!("the refresh-token policy `{shown}` is not one Salesforce knows (type Infinite, SpecificInactivity, SpecificLifetime or Zero; a period; unit Days, Hours or Months)"),
                        POLICY_FIX,
                    );
                }
            }
        }
    }
    check_ip_relaxation(
        &mut ctx,
        p.ip_relaxation_policy_type.as_ref(),
        "ipRelaxationPolicyType",
        "Enforce",
    );
    check_client_credentials_off(
        &mut ctx,
        p.is_client_credentials_flow_enabled.as_ref(),
        "the OAuth policy",
    );
    if let Some(v) = &p.client_credentials_flow_user {
        ctx.push(
            Rule::ClientCredentialsOff,
            v.line,
            format!("clientCredentialsFlowUser names a run-as user (`{}`) for the client credentials flow", v.value),
            "remove <clientCredentialsFlowUser>",
        );
    }
}
