//! The org-wide flow blocks (username-password, user-agent).

use super::*;

#[test]
fn org_settings_that_do_not_block_the_flows_warn_once_each_on_their_lines() {
    let f = audit(&[
        connected_app(GOOD_CONFIG, GOOD_POLICY),
        org("false", "false"),
    ]);
    assert_eq!(
        of(&f, "RA008-username-password-flow-blocked"),
        [(Severity::Warning, 3)]
    );
    assert_eq!(
        of(&f, "RA009-user-agent-flow-blocked"),
        [(Severity::Warning, 4)]
    );
    let one = f
        .iter()
        .find(|f| f.rule.id() == "RA008-username-password-flow-blocked")
        .unwrap();
    assert_eq!((one.file.as_str(), one.app.as_deref()), (ORG, None));
}

#[test]
fn org_settings_without_the_elements_mean_the_default_false() {
    let settings = (
        ORG,
        doc(
            "OauthOidcSettings",
            "    <isPkceRequired>true</isPkceRequired>\n",
        ),
    );
    let f = audit(&[settings]);
    assert_eq!(
        all(&f),
        [
            ("RA008-username-password-flow-blocked", Severity::Warning, 2),
            ("RA009-user-agent-flow-blocked", Severity::Warning, 2),
        ]
    );
}

#[test]
fn without_org_settings_each_app_gets_a_cannot_tell_note_and_ecas_none_for_username_password() {
    let f = audit(&[connected_app(GOOD_CONFIG, GOOD_POLICY), header()]);
    let notes: Vec<_> = f
        .iter()
        .filter(|f| f.rule.id().starts_with("RA008") || f.rule.id().starts_with("RA009"))
        .map(|f| {
            (
                f.rule.id(),
                f.app.as_deref().unwrap(),
                f.severity,
                f.cannot_tell,
            )
        })
        .collect();
    assert_eq!(
        notes,
        [
            (
                "RA008-username-password-flow-blocked",
                "Old",
                Severity::Note,
                true
            ),
            ("RA009-user-agent-flow-blocked", "Old", Severity::Note, true),
            ("RA009-user-agent-flow-blocked", "App", Severity::Note, true),
        ]
    );
}
