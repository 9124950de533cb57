//! Files that cannot be read, do not parse, or are not where Salesforce reads them.

use super::*;

#[test]
fn a_file_that_is_not_well_formed_is_an_error_on_the_line_of_the_problem() {
    let broken = (
        CA,
        "<?xml version=\"1.0\"?>\n<ConnectedApp>\n  <label>Old</label>\n  <oauthConfig>\n  </oauthConfg>\n</ConnectedApp>\n".to_owned(),
    );
    let f = audit(&[broken]);
    assert_eq!(all(&f), [("RA000-unparsable-file", Severity::Error, 5)]);
    assert_eq!((f[0].file.as_str(), f[0].app.as_deref()), (CA, Some("Old")));
    assert!(
        f[0].found.starts_with("not well-formed XML"),
        "{}",
        f[0].found
    );
}

#[test]
fn an_empty_file_is_a_finding_not_a_crash() {
    let f = audit(&[(ECA_GLOBAL, String::new())]);
    assert_eq!(all(&f), [("RA000-unparsable-file", Severity::Error, 1)]);
}

#[test]
fn a_file_that_is_not_utf8_is_a_finding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("connectedApps/X.connectedApp-meta.xml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, [0x3c, 0xff, 0xfe, 0x3e]).unwrap();
    let project = super::super::super::load(dir.path()).unwrap();
    let f = super::super::check(&project, None);
    assert_eq!(all(&f), [("RA000-unparsable-file", Severity::Error, 1)]);
    assert_eq!(f[0].found, "it is not UTF-8 text");
}

#[test]
fn the_wrong_root_element_is_a_finding_and_the_file_is_not_checked_further() {
    let f = audit(&[(
        ECA_GLOBAL,
        doc(
            "ExtlClntAppOauthSettings",
            "    <isPkceRequired>false</isPkceRequired>\n",
        ),
    )]);
    assert_eq!(all(&f), [("RA000-unparsable-file", Severity::Error, 2)]);
}

#[test]
fn a_boolean_that_is_not_true_or_false_is_a_finding_and_counts_as_absent() {
    let f = audit(&[connected_app(
        &GOOD_CONFIG.replace("<isPkceRequired>true", "<isPkceRequired>yes"),
        GOOD_POLICY,
    )]);
    assert_eq!(of(&f, "RA000-unparsable-file"), [(Severity::Error, 6)]);
    // Treated as absent: a Connected App's default, false.
    assert_eq!(of(&f, "RA001-pkce-required"), [(Severity::Error, 4)]);
}

#[test]
fn a_bundle_file_that_names_no_app_is_a_finding() {
    let f = audit(&[(
        ECA_OAUTH,
        doc("ExtlClntAppOauthSettings", "    <label>App</label>\n"),
    )]);
    assert_eq!(all(&f), [("RA000-unparsable-file", Severity::Error, 2)]);
    assert!(f[0].found.contains("<externalClientApplication>"));
}

#[test]
fn a_misnamed_file_in_a_metadata_folder_is_reported_as_not_read_by_salesforce() {
    let f = audit(&[(
        "force-app/main/default/extlClntAppGlobalOauthSets/App.ecaGlobalOauth-meta.xml",
        doc("ExtlClntAppGlobalOauthSettings", ""),
    )]);
    assert_eq!(all(&f), [("RA020-unrecognised-file", Severity::Warning, 1)]);
    assert!(
        f[0].fix.contains("NAME.ecaGlblOauth-meta.xml"),
        "{}",
        f[0].fix
    );
}

#[test]
fn an_empty_folder_has_no_findings() {
    assert!(audit(&[]).is_empty());
}

#[test]
fn the_audited_folder_must_exist_and_be_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(matches!(
        super::super::super::audit_dir(&missing),
        Err(super::super::super::AuditError::Missing(_))
    ));
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    assert!(matches!(
        super::super::super::audit_dir(&file),
        Err(super::super::super::AuditError::NotAFolder(_))
    ));
}
