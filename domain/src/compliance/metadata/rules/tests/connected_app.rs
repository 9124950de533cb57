//! Connected App rules.

use super::*;

/// The findings a compliant Connected App still gets: it is legacy, and two controls have no
/// Connected App metadata.
const BASELINE: [(&str, Severity, u32); 3] = [
    ("RA018-legacy-connected-app", Severity::Warning, 2),
    ("RA005-refresh-token-ip-allowlist", Severity::Note, 4),
    ("RA006-device-flow-off", Severity::Note, 4),
];

fn check(config: &str, policy: &str) -> Vec<Finding> {
    audit(&[connected_app(config, policy), org("true", "true")])
}

#[test]
fn a_compliant_connected_app_is_only_legacy_and_cannot_show_two_controls() {
    let f = check(GOOD_CONFIG, GOOD_POLICY);
    assert_eq!(all(&f), BASELINE);
    assert!(f[1].cannot_tell && f[2].cannot_tell);
    assert_eq!(f[0].app.as_deref(), Some("Old"));
}

#[test]
fn the_legacy_finding_carries_the_registry_count_when_there_is_one() {
    let f = audit_with(
        &[connected_app(GOOD_CONFIG, GOOD_POLICY), org("true", "true")],
        Some(3),
    );
    assert!(
        f[0].found
            .ends_with("the registry has 3 org(s) still connected through the legacy app"),
        "{}",
        f[0].found
    );
    let f = check(GOOD_CONFIG, GOOD_POLICY);
    assert!(!f[0].found.contains("registry"), "{}", f[0].found);
}

#[test]
fn pkce_left_out_fails_because_a_connected_app_defaults_to_false() {
    let config = GOOD_CONFIG.replace("        <isPkceRequired>true</isPkceRequired>\n", "");
    let f = check(&config, GOOD_POLICY);
    assert_eq!(of(&f, "RA001-pkce-required"), [(Severity::Error, 4)]);
    assert!(f.iter().any(|f| f.found.contains("defaults to false")));
    let config = GOOD_CONFIG.replace("<isPkceRequired>true", "<isPkceRequired>false");
    assert_eq!(
        of(&check(&config, GOOD_POLICY), "RA001-pkce-required"),
        [(Severity::Error, 6)]
    );
}

#[test]
fn rotation_off_or_absent_fails_and_rotation_under_oauth_policy_is_misplaced() {
    let config = GOOD_CONFIG.replace(
        "<isRefreshTokenRotationEnabled>true",
        "<isRefreshTokenRotationEnabled>false",
    );
    assert_eq!(
        of(&check(&config, GOOD_POLICY), "RA002-refresh-token-rotation"),
        [(Severity::Error, 7)]
    );
    let config = GOOD_CONFIG.replace(
        "        <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>\n",
        "",
    );
    let policy = format!(
        "{GOOD_POLICY}        <isRefreshTokenRotationEnabled>true</isRefreshTokenRotationEnabled>\n"
    );
    assert_eq!(
        of(&check(&config, &policy), "RA002-refresh-token-rotation"),
        [(Severity::Error, 4), (Severity::Error, 13)]
    );
}

#[test]
fn refresh_token_policies_are_judged_against_thirty_idle_days() {
    let judged = |value: &str| {
        let policy = GOOD_POLICY.replace("specific_inactivity:30:DAYS", value);
        of(&check(GOOD_CONFIG, &policy), "RA003-refresh-token-policy")
    };
    assert_eq!(judged("specific_inactivity:30:DAYS"), []);
    assert_eq!(judged("specific_inactivity:12:HOURS"), []);
    assert_eq!(judged("zero"), []);
    assert_eq!(judged("infinite"), [(Severity::Error, 13)]);
    assert_eq!(
        judged("specific_inactivity:31:DAYS"),
        [(Severity::Error, 13)]
    );
    assert_eq!(
        judged("specific_inactivity:1:MONTHS"),
        [(Severity::Error, 13)]
    );
    assert_eq!(
        judged("specific_inactivity:0:DAYS"),
        [(Severity::Error, 13)]
    );
    assert_eq!(
        judged("specific_lifetime:2:DAYS"),
        [(Severity::Warning, 13)]
    );
    assert_eq!(judged("specific_lifetime:90:DAYS"), [(Severity::Error, 13)]);
    assert_eq!(judged("whenever"), [(Severity::Error, 13)]);
}

#[test]
fn a_missing_refresh_token_policy_is_the_infinite_default() {
    let policy = "        <ipRelaxation>ENFORCE</ipRelaxation>\n";
    assert_eq!(
        of(&check(GOOD_CONFIG, policy), "RA003-refresh-token-policy"),
        [(Severity::Error, 11)]
    );
    let app = (
        CA,
        doc(
            "ConnectedApp",
            &format!(
                "    <label>Old</label>\n    <oauthConfig>\n{GOOD_CONFIG}    </oauthConfig>\n"
            ),
        ),
    );
    let f = audit(&[app, org("true", "true")]);
    assert_eq!(of(&f, "RA003-refresh-token-policy"), [(Severity::Error, 2)]);
}

#[test]
fn ip_relaxation_bypass_fails_two_factor_warns_relax_refresh_notes_and_absent_is_enforce() {
    let judged = |value: &str| {
        let policy = GOOD_POLICY.replace("ENFORCE", value);
        of(&check(GOOD_CONFIG, &policy), "RA004-ip-relaxation")
    };
    assert_eq!(judged("ENFORCE"), []);
    assert_eq!(judged("BYPASS"), [(Severity::Error, 12)]);
    assert_eq!(judged("BYPASS_2FACTOR"), [(Severity::Warning, 12)]);
    assert_eq!(judged("ENFORCE_RELAXREFRESH"), [(Severity::Note, 12)]);
    assert_eq!(judged("enforceIpRanges"), [(Severity::Error, 12)]);
    let policy = "        <refreshTokenPolicy>zero</refreshTokenPolicy>\n";
    assert_eq!(of(&check(GOOD_CONFIG, policy), "RA004-ip-relaxation"), []);
}

#[test]
fn client_credentials_switch_and_run_as_user_each_fail() {
    let config = format!(
        "{GOOD_CONFIG}        <isClientCredentialEnabled>true</isClientCredentialEnabled>\n        <oauthClientCredentialUser>ci@example.com</oauthClientCredentialUser>\n"
    );
    assert_eq!(
        of(&check(&config, GOOD_POLICY), "RA007-client-credentials-off"),
        [(Severity::Error, 10), (Severity::Error, 11)]
    );
}

#[test]
fn scopes_are_checked_one_element_at_a_time() {
    let config =
        format!("{GOOD_CONFIG}        <scopes>Full</scopes>\n        <scopes>Web</scopes>\n");
    let f = check(&config, GOOD_POLICY);
    assert_eq!(of(&f, "RA012-full-scope"), [(Severity::Error, 10)]);
    assert_eq!(of(&f, "RA013-web-scope"), [(Severity::Warning, 11)]);
}

#[test]
fn callback_lines_are_counted_inside_a_multi_line_callback_url() {
    let config = GOOD_CONFIG.replace(
        "https://reauth.example.com/oauth/callback</callbackUrl>",
        "https://reauth.example.com/oauth/callback\nhttp://[::1]:9000/cb\nhttp://old.example.com/cb</callbackUrl>",
    );
    let f = check(&config, GOOD_POLICY);
    assert_eq!(
        of(&f, "RA014-localhost-callback-mixed"),
        [(Severity::Warning, 6)]
    );
    assert_eq!(of(&f, "RA015-https-callback"), [(Severity::Error, 7)]);
}

#[test]
fn a_public_connected_app_that_still_needs_the_secret_to_refresh_is_inconsistent() {
    let config =
        format!("{GOOD_CONFIG}        <isConsumerSecretOptional>true</isConsumerSecretOptional>\n");
    assert_eq!(
        of(
            &check(&config, GOOD_POLICY),
            "RA016-client-type-consistency"
        ),
        [(Severity::Warning, 10)]
    );
    let config = format!(
        "{config}        <isSecretRequiredForRefreshToken>false</isSecretRequiredForRefreshToken>\n"
    );
    assert_eq!(
        of(
            &check(&config, GOOD_POLICY),
            "RA016-client-type-consistency"
        ),
        []
    );
}

#[test]
fn a_consumer_secret_in_a_connected_app_is_an_error() {
    let config = format!("{GOOD_CONFIG}        <consumerSecret>ABCDEF0123</consumerSecret>\n");
    let f = check(&config, GOOD_POLICY);
    assert_eq!(of(&f, "RA017-secret-in-metadata"), [(Severity::Error, 10)]);
    assert!(f.iter().all(|f| !f.found.contains("ABCDEF0123")));
}

#[test]
fn a_connected_app_without_oauth_is_only_reported_as_legacy() {
    let app = (CA, doc("ConnectedApp", "    <label>Canvas only</label>\n"));
    let f = audit(&[app]);
    assert_eq!(
        all(&f),
        [("RA018-legacy-connected-app", Severity::Warning, 2)]
    );
}
