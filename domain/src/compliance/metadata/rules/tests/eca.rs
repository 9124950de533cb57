//! External Client App rules.

use super::*;

const GOOD_POLICY_LINES: &str = "    <ipRelaxationPolicyType>Enforce</ipRelaxationPolicyType>\n    <refreshTokenPolicyType>SpecificInactivity</refreshTokenPolicyType>\n    <refreshTokenValidityPeriod>30</refreshTokenValidityPeriod>\n    <refreshTokenValidityUnit>Days</refreshTokenValidityUnit>\n";

/// A complete, compliant bundle with `global` and `policy` swapped in.
fn bundle(global: (&'static str, String), policy: (&'static str, String)) -> Vec<Finding> {
    let oauth = (
        ECA_OAUTH,
        doc(
            "ExtlClntAppOauthSettings",
            "    <commaSeparatedOauthScopes>Api, RefreshToken</commaSeparatedOauthScopes>\n    <externalClientApplication>App</externalClientApplication>\n    <label>App</label>\n",
        ),
    );
    audit(&[
        header(),
        global,
        oauth,
        policy,
        security(),
        org("true", "true"),
    ])
}

#[test]
fn a_compliant_bundle_leaves_only_the_allowlist_enforcement_it_cannot_see() {
    let f = bundle(global(""), policy(GOOD_POLICY_LINES));
    assert_eq!(
        all(&f),
        [("RA005-refresh-token-ip-allowlist", Severity::Note, 4)]
    );
    assert!(f[0].cannot_tell);
    assert_eq!(f[0].file, ECA_SECURITY);
    assert!(
        f[0].found.contains("found 1 refresh-token IP range"),
        "{}",
        f[0].found
    );
}

#[test]
fn pkce_set_to_false_fails_and_left_out_passes_because_an_eca_defaults_to_true() {
    let f = bundle(
        global("    <isPkceRequired>false</isPkceRequired>\n"),
        policy(GOOD_POLICY_LINES),
    );
    assert_eq!(of(&f, "RA001-pkce-required"), [(Severity::Error, 4)]);
    assert_eq!(
        f.iter()
            .find(|f| f.rule.id() == "RA001-pkce-required")
            .unwrap()
            .file,
        ECA_GLOBAL
    );
    let f = bundle(
        global("    <isPkceRequired>true</isPkceRequired>\n"),
        policy(GOOD_POLICY_LINES),
    );
    assert!(of(&f, "RA001-pkce-required").is_empty());
}

#[test]
fn rotation_off_fails_on_its_line() {
    let g = global("").1.replace(
        "<isRefreshTokenRotationEnabled>true",
        "<isRefreshTokenRotationEnabled>false",
    );
    let f = bundle((ECA_GLOBAL, g), policy(GOOD_POLICY_LINES));
    assert_eq!(
        of(&f, "RA002-refresh-token-rotation"),
        [(Severity::Error, 6)]
    );
}

#[test]
fn rotation_left_out_fails_at_the_root_because_it_must_be_turned_on() {
    let g = global("").1.replace(
        "    <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>\n",
        "",
    );
    let f = bundle((ECA_GLOBAL, g), policy(GOOD_POLICY_LINES));
    assert_eq!(
        of(&f, "RA002-refresh-token-rotation"),
        [(Severity::Error, 2)]
    );
}

#[test]
fn device_flow_client_credentials_and_on_deploy_rotation_are_errors_each_on_its_line() {
    let f = bundle(
        global(
            "    <isClientCredentialsFlowEnabled>true</isClientCredentialsFlowEnabled>\n    <isDeviceFlowEnabled>true</isDeviceFlowEnabled>\n    <shouldRotateConsumerKey>true</shouldRotateConsumerKey>\n    <shouldRotateConsumerSecret>true</shouldRotateConsumerSecret>\n",
        ),
        policy(GOOD_POLICY_LINES),
    );
    assert_eq!(
        of(&f, "RA007-client-credentials-off"),
        [(Severity::Error, 4)]
    );
    assert_eq!(of(&f, "RA006-device-flow-off"), [(Severity::Error, 5)]);
    assert_eq!(
        of(&f, "RA011-consumer-key-rotation-on-deploy"),
        [(Severity::Error, 6)]
    );
    assert_eq!(
        of(&f, "RA010-consumer-secret-rotation-on-deploy"),
        [(Severity::Error, 7)]
    );
}

#[test]
fn the_same_switches_set_to_false_pass() {
    let f = bundle(
        global(
            "    <isClientCredentialsFlowEnabled>false</isClientCredentialsFlowEnabled>\n    <isDeviceFlowEnabled>false</isDeviceFlowEnabled>\n    <shouldRotateConsumerKey>false</shouldRotateConsumerKey>\n    <shouldRotateConsumerSecret>false</shouldRotateConsumerSecret>\n",
        ),
        policy(GOOD_POLICY_LINES),
    );
    assert_eq!(
        all(&f),
        [("RA005-refresh-token-ip-allowlist", Severity::Note, 4)]
    );
}

#[test]
fn a_consumer_secret_in_the_file_is_an_error_that_never_repeats_the_secret() {
    let f = bundle(
        global("    <consumerSecret>S3CR3T-VALUE</consumerSecret>\n"),
        policy(GOOD_POLICY_LINES),
    );
    assert_eq!(of(&f, "RA017-secret-in-metadata"), [(Severity::Error, 4)]);
    assert!(
        f.iter()
            .all(|f| !f.found.contains("S3CR3T") && !f.fix.contains("S3CR3T"))
    );
}

#[test]
fn full_scope_is_an_error_and_web_a_warning_on_the_scopes_line() {
    let oauth = (
        ECA_OAUTH,
        doc(
            "ExtlClntAppOauthSettings",
            "    <externalClientApplication>App</externalClientApplication>\n    <commaSeparatedOauthScopes>Api, Full, Web</commaSeparatedOauthScopes>\n",
        ),
    );
    let f = audit(&[
        header(),
        global(""),
        oauth,
        policy(GOOD_POLICY_LINES),
        security(),
        org("true", "true"),
    ]);
    assert_eq!(of(&f, "RA012-full-scope"), [(Severity::Error, 4)]);
    assert_eq!(of(&f, "RA013-web-scope"), [(Severity::Warning, 4)]);
}

#[test]
fn without_a_retrieved_policy_the_policy_rules_say_subscriber_owned_verify_in_each_org() {
    let f = audit(&[header(), global(""), security(), org("true", "true")]);
    for rule in ["RA003-refresh-token-policy", "RA004-ip-relaxation"] {
        assert_eq!(of(&f, rule), [(Severity::Note, 2)], "{rule}");
        let one = f.iter().find(|f| f.rule.id() == rule).unwrap();
        assert!(one.cannot_tell);
        assert!(
            one.found
                .starts_with("subscriber-owned: verify in each org"),
            "{}",
            one.found
        );
        assert_eq!(one.file, ECA_HEADER);
    }
}

#[test]
fn a_retrieved_policy_with_the_default_365_day_lifetime_fails() {
    let f = bundle(
        global(""),
        policy(
            "    <refreshTokenPolicyType>SpecificLifetime</refreshTokenPolicyType>\n    <refreshTokenValidityPeriod>365</refreshTokenValidityPeriod>\n    <refreshTokenValidityUnit>Days</refreshTokenValidityUnit>\n",
        ),
    );
    assert_eq!(of(&f, "RA003-refresh-token-policy"), [(Severity::Error, 4)]);
}

#[test]
fn a_retrieved_policy_is_judged_by_its_type_period_and_unit() {
    let p = |t: &str, n: &str, u: &str| {
        policy(&format!(
            "    <refreshTokenPolicyType>{t}</refreshTokenPolicyType>\n    <refreshTokenValidityPeriod>{n}</refreshTokenValidityPeriod>\n    <refreshTokenValidityUnit>{u}</refreshTokenValidityUnit>\n"
        ))
    };
    let judged = |t, n, u| {
        of(
            &bundle(global(""), p(t, n, u)),
            "RA003-refresh-token-policy",
        )
    };
    assert_eq!(judged("SpecificInactivity", "30", "Days"), []);
    assert_eq!(judged("SpecificInactivity", "720", "Hours"), []);
    assert_eq!(judged("Zero", "1", "Days"), []);
    assert_eq!(
        judged("SpecificInactivity", "31", "Days"),
        [(Severity::Error, 4)]
    );
    assert_eq!(
        judged("SpecificInactivity", "1", "Months"),
        [(Severity::Error, 4)]
    );
    assert_eq!(judged("Infinite", "1", "Days"), [(Severity::Error, 4)]);
    assert_eq!(
        judged("SpecificLifetime", "7", "Days"),
        [(Severity::Warning, 4)]
    );
    assert_eq!(judged("Sometimes", "7", "Days"), [(Severity::Error, 4)]);
}

#[test]
fn a_retrieved_policy_that_bypasses_ip_restrictions_or_runs_client_credentials_fails() {
    let f = bundle(
        global(""),
        policy(
            "    <clientCredentialsFlowUser>ci@example.com</clientCredentialsFlowUser>\n    <ipRelaxationPolicyType>Bypass</ipRelaxationPolicyType>\n    <isClientCredentialsFlowEnabled>true</isClientCredentialsFlowEnabled>\n    <refreshTokenPolicyType>Zero</refreshTokenPolicyType>\n",
        ),
    );
    assert_eq!(of(&f, "RA004-ip-relaxation"), [(Severity::Error, 5)]);
    assert_eq!(
        of(&f, "RA007-client-credentials-off"),
        [(Severity::Error, 4), (Severity::Error, 6)]
    );
}

#[test]
fn relaxing_ip_for_refresh_is_a_note_and_two_factor_bypass_a_warning() {
    let p = |v: &str| {
        policy(&format!(
            "    <ipRelaxationPolicyType>{v}</ipRelaxationPolicyType>\n    <refreshTokenPolicyType>Zero</refreshTokenPolicyType>\n"
        ))
    };
    assert_eq!(
        of(
            &bundle(global(""), p("Enforce_RelaxRefresh")),
            "RA004-ip-relaxation"
        ),
        [(Severity::Note, 4)]
    );
    assert_eq!(
        of(
            &bundle(global(""), p("Bypass_2factor")),
            "RA004-ip-relaxation"
        ),
        [(Severity::Warning, 4)]
    );
}

#[test]
fn mixed_loopback_callbacks_warn_and_plain_http_fails_each_on_its_own_line() {
    let g = global("").1.replace(
        "<callbackUrl>https://reauth.example.com/oauth/callback</callbackUrl>",
        "<callbackUrl>https://reauth.example.com/oauth/callback\nhttp://localhost:8080/cb\nhttp://reauth.example.com/cb\nmyapp://done</callbackUrl>",
    );
    let f = bundle((ECA_GLOBAL, g), policy(GOOD_POLICY_LINES));
    assert_eq!(
        of(&f, "RA014-localhost-callback-mixed"),
        [(Severity::Warning, 5)]
    );
    assert_eq!(of(&f, "RA015-https-callback"), [(Severity::Error, 6)]);
}

#[test]
fn loopback_callbacks_alone_are_fine() {
    let g = global("").1.replace(
        "<callbackUrl>https://reauth.example.com/oauth/callback</callbackUrl>",
        "<callbackUrl>http://localhost:8080/cb\nhttp://127.0.0.1:8080/cb</callbackUrl>",
    );
    let f = bundle((ECA_GLOBAL, g), policy(GOOD_POLICY_LINES));
    assert!(of(&f, "RA014-localhost-callback-mixed").is_empty());
    assert!(of(&f, "RA015-https-callback").is_empty());
}

#[test]
fn a_public_client_that_needs_the_secret_to_refresh_is_inconsistent() {
    let g = global("").1.replace(
        "<isConsumerSecretOptional>false",
        "<isConsumerSecretOptional>true",
    );
    let f = bundle((ECA_GLOBAL, g), policy(GOOD_POLICY_LINES));
    assert_eq!(
        of(&f, "RA016-client-type-consistency"),
        [(Severity::Warning, 5)]
    );
}

#[test]
fn a_confidential_client_that_refreshes_without_the_secret_is_inconsistent() {
    let g = global("").1.replace(
        "<isSecretRequiredForRefreshToken>true",
        "<isSecretRequiredForRefreshToken>false",
    );
    let f = bundle((ECA_GLOBAL, g), policy(GOOD_POLICY_LINES));
    assert_eq!(
        of(&f, "RA016-client-type-consistency"),
        [(Severity::Warning, 7)]
    );
}

#[test]
fn without_global_settings_the_audit_says_so_plainly_and_checks_nothing_it_cannot_see() {
    let f = audit(&[
        header(),
        policy(GOOD_POLICY_LINES),
        security(),
        org("true", "true"),
    ]);
    assert_eq!(
        all(&f),
        [
            ("RA019-global-settings-absent", Severity::Warning, 2),
            ("RA005-refresh-token-ip-allowlist", Severity::Note, 4),
        ]
    );
    assert_eq!(f[0].file, ECA_HEADER);
    assert!(
        f[0].found
            .contains("neither packaged nor kept in source control")
    );
}

#[test]
fn without_security_settings_the_allowlist_cannot_be_told_and_the_finding_says_what_was_looked_for()
{
    let f = audit(&[
        header(),
        global(""),
        policy(GOOD_POLICY_LINES),
        org("true", "true"),
    ]);
    assert_eq!(
        all(&f),
        [("RA005-refresh-token-ip-allowlist", Severity::Note, 2)]
    );
    assert!(f[0].cannot_tell);
    assert!(
        f[0].found.contains("*.ecaOauthSecurity-meta.xml"),
        "{}",
        f[0].found
    );
}

#[test]
fn security_settings_without_range_rows_cannot_be_told_either() {
    let s = (
        ECA_SECURITY,
        doc(
            "ExtlClntAppOauthSecuritySettings",
            "    <label>App</label>\n",
        ),
    );
    let f = audit(&[
        header(),
        global(""),
        policy(GOOD_POLICY_LINES),
        s,
        org("true", "true"),
    ]);
    // Grouped by its name (App_oauthSecurity), since it names no app.
    assert_eq!(
        all(&f),
        [("RA005-refresh-token-ip-allowlist", Severity::Note, 2)]
    );
    assert_eq!(f[0].file, ECA_SECURITY);
    assert!(f[0].found.contains("<startIpAddress>"), "{}", f[0].found);
}

#[test]
fn a_bundle_file_without_its_header_is_checked_on_its_own_with_a_note() {
    let f = audit(&[
        global(""),
        policy(GOOD_POLICY_LINES),
        security(),
        org("true", "true"),
    ]);
    assert_eq!(of(&f, "RA021-orphan-eca-file"), [(Severity::Note, 2)]);
}
