//! Loading a configuration file as an operator writes one: mistakes reported all at once.

use std::path::PathBuf;

use super::*;

fn load_file(text: &str) -> (tempfile::TempDir, PathBuf, Result<Config, ConfigError>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let path = dir.path().join("reauth.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    let loaded = load(&LoadOptions {
        path: Some(path.clone()),
        env: EnvVars::new(),
    })
    .map(|(c, _)| c);
    (dir, path, loaded)
}

fn lines(e: &ConfigError) -> Vec<String> {
    e.problems().iter().map(ToString::to_string).collect()
}

#[test]
fn every_unknown_key_is_reported_at_once_with_its_file_section_and_a_suggestion() {
    let (_dir, path, loaded) = load_file(
        "bas_url = \"http://x\"\n[salesforce]\nclent_id = \"x\"\nlogin_ur = \"y\"\n[heartbeat]\nintervall = \"1d\"\n",
    );
    let Err(e) = loaded else {
        panic!("unknown keys were accepted")
    };
    let f = path.display();
    assert_eq!(
        lines(&e),
        [
            format!("{f}: bas_url: unknown key (did you mean base_url?)"),
            format!("{f}: [heartbeat] intervall: unknown key (did you mean interval?)"),
            format!("{f}: [salesforce] clent_id: unknown key (did you mean client_id?)"),
            format!("{f}: [salesforce] login_ur: unknown key (did you mean login_url?)"),
        ]
    );
}

#[test]
fn unknown_keys_and_bad_values_are_reported_in_the_same_run() {
    let (_dir, path, loaded) = load_file(
        "[links]\nttl = \"soon\"\n[campaign]\nquiet = \"x\"\n[heartbeat]\nconcurrency = 0\n",
    );
    let Err(e) = loaded else { panic!("accepted") };
    let got = lines(&e);
    assert!(
        got.contains(&format!(
            "{}: [campaign] quiet: unknown key (did you mean quiet_hours?)",
            path.display()
        )),
        "{got:?}"
    );
    assert!(
        got.iter().any(|l| l.starts_with("links.ttl: ")),
        "the bad value is reported too: {got:?}"
    );
}

#[test]
fn an_unknown_section_is_named_once() {
    let (_dir, path, loaded) = load_file("[salesforc]\nclient_id = \"x\"\nclient_secret = \"y\"\n");
    let Err(e) = loaded else { panic!("accepted") };
    assert_eq!(
        lines(&e),
        [format!(
            "{}: [salesforc]: unknown section (did you mean [salesforce]?)",
            path.display()
        )]
    );
}

#[test]
fn a_missing_file_says_so_once() {
    let e = load(&LoadOptions {
        path: Some(PathBuf::from("/nonexistent/nope.toml")),
        env: EnvVars::new(),
    })
    .err()
    .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("config file /nonexistent/nope.toml does not exist")
    );
}

#[cfg(unix)]
#[test]
fn dev_null_is_an_empty_configuration() {
    let loaded = load(&LoadOptions {
        path: Some(PathBuf::from("/dev/null")),
        env: EnvVars::new(),
    });
    let Ok((config, warnings)) = loaded else {
        panic!("/dev/null was refused: {loaded:?}")
    };
    assert_eq!(config.database_url, Config::default().database_url);
    assert!(warnings.is_empty());
}

#[test]
fn an_unknown_variable_is_a_warning_that_names_the_variable_probably_meant() {
    let env: EnvVars = [("REAUTH_SALESFORCE__CLENT_ID".to_owned(), "x".to_owned())].into();
    let loaded = load(&LoadOptions { path: None, env });
    let Ok((_, warnings)) = loaded else {
        panic!("an unknown variable is only a warning: {loaded:?}")
    };
    assert_eq!(
        warnings,
        [
            "ignoring unknown environment variable REAUTH_SALESFORCE__CLENT_ID (no config key `salesforce.clent_id`; did you mean REAUTH_SALESFORCE__CLIENT_ID?)"
        ]
    );
}

#[test]
fn the_effective_configuration_prints_durations_as_the_file_takes_them() {
    let (_dir, _path, loaded) =
        load_file("[links]\nttl = \"14d\"\n[heartbeat]\nsweep_every = \"90s\"\n");
    let Ok(config) = loaded else {
        panic!("refused: {loaded:?}")
    };
    let printed: toml::Table = config
        .to_redacted_toml()
        .parse()
        .unwrap_or_else(|e| panic!("not TOML: {e}"));
    assert_eq!(printed["links"]["ttl"].as_str(), Some("14d"));
    assert_eq!(printed["heartbeat"]["sweep_every"].as_str(), Some("1m30s"));
    assert_eq!(printed["heartbeat"]["interval"].as_str(), Some("25d"));
    assert_eq!(
        printed["salesforce"]["session_timeout"].as_str(),
        Some("2h")
    );
    // And what is printed loads back to the same values.
    let (_dir, _path, again) = load_file(&config.to_redacted_toml());
    let Ok(again) = again else {
        panic!("the printed configuration does not load: {again:?}")
    };
    assert_eq!(again.links.ttl, config.links.ttl);
    assert_eq!(again.heartbeat.sweep_every, config.heartbeat.sweep_every);
}

#[test]
fn alert_recipients_are_checked_and_the_webhook_secret_and_path_never_printed() {
    let (_dir, _path, loaded) = load_file(
        "[alerts]\nemail = [\"ops@partner.example\", \"not an address\"]\nwebhook_url = \"ftp://hooks.example.com/x\"\nmin_severity = \"critical\"\n",
    );
    let Err(e) = loaded else { panic!("accepted") };
    let got = lines(&e);
    assert!(
        got.iter()
            .any(|l| l.starts_with("alerts.email: `not an address` is not an email address")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("alerts.webhook_url: must be an http(s) URL")),
        "{got:?}"
    );
    assert_eq!(got.len(), 2, "{got:?}");

    let (_dir, _path, loaded) = load_file("[alerts]\nmin_severity = \"loud\"\n");
    assert!(loaded.is_err(), "an unknown severity is refused");

    let (_dir, _path, loaded) = load_file(
        "[alerts]\nemail = [\"ops@partner.example\"]\nwebhook_url = \"https://hooks.slack.example/services/T0/B0/SECRETPATH\"\nwebhook_secret = \"hunter2-webhook\"\nmin_severity = \"critical\"\n",
    );
    let c = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.alerts.min_severity, crate::alerts::Severity::Critical);
    let shown = c.to_redacted_toml();
    assert!(!shown.contains("hunter2-webhook"), "{shown}");
    assert!(!shown.contains("SECRETPATH"), "{shown}");
    assert!(shown.contains("hooks.slack.example"), "{shown}");
}

#[test]
fn upcoming_ranges_take_a_toml_date_or_a_string_and_refuse_a_bad_one() {
    let (_dir, _path, loaded) = load_file(
        "[partner]\negress_ranges = [\"203.0.113.0/28\"]\nupcoming_egress_ranges = [{ cidr = \"198.51.100.0/28\", from = 2027-01-15 }, { cidr = \"198.51.100.16/28\", from = \"2027-02-01\" }]\n",
    );
    let c = loaded.unwrap_or_else(|e| panic!("{e}"));
    let days: Vec<String> = c
        .partner
        .upcoming_egress_ranges
        .iter()
        .map(|u| u.from.to_string())
        .collect();
    assert_eq!(days, ["2027-01-15", "2027-02-01"]);
    let (_dir, _path, loaded) = load_file(
        "[partner]\nupcoming_egress_ranges = [{ cidr = \"198.51.100.0/28\", from = \"soon\" }]\n",
    );
    let Err(e) = loaded else { panic!("accepted") };
    assert!(e.to_string().contains("`soon` is not a date"), "{e}");
    let (_dir, _path, loaded) = load_file(
        "[partner]\negress_ranges = [\"203.0.113.0/28\"]\nupcoming_egress_ranges = [{ cidr = \"203.0.113.0/28\", from = 2027-01-15 }]\n",
    );
    let Err(e) = loaded else { panic!("accepted") };
    assert!(
        e.to_string().contains("already in partner.egress_ranges"),
        "{e}"
    );
}

#[test]
fn every_legacy_key_the_readme_documents_is_accepted() {
    let (_dir, _path, loaded) = load_file(
        "[legacy]\nclient_id = \"3MVG9legacy\"\nretire_after = \"7d\"\nkeep_alive = false\ncheck_every = \"1m\"\npackage_id = \"033000000000001\"\npackage_min_version = \"2.0\"\ninstall_url = \"https://login.salesforce.com/packaging/installPackage.apexp?p0=04t000000000001\"\n",
    );
    let c = loaded.unwrap_or_else(|e| panic!("{:?}", lines(&e)));
    assert_eq!(c.legacy.package_id.as_deref(), Some("033000000000001"));
    assert_eq!(c.legacy.package_min_version.as_deref(), Some("2.0"));
    assert!(c.legacy.install_url.is_some());
    assert!(!c.legacy.keep_alive);
}

/// The README's example configuration is a configuration reauth accepts, key for key.
#[test]
fn the_readme_example_configuration_loads() {
    let readme = include_str!("../../../README.md");
    let section = readme
        .split("\n## Configuration")
        .nth(1)
        .unwrap_or_else(|| panic!("the README has a Configuration section"));
    let block = section
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .unwrap_or_else(|| panic!("the Configuration section has a toml block"));
    // The placeholder key stands for one the operator generates.
    let block = block.replace(
        "k1:BASE64_32_BYTES",
        "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    );
    let (_dir, _path, loaded) = load_file(&block);
    if let Err(e) = loaded {
        panic!("{:#?}", lines(&e));
    }
}

#[test]
fn the_breaker_takes_a_percentage_and_a_floor_of_at_least_one() {
    let (_dir, _path, loaded) =
        load_file("[incident]\nbreaker = \"0.2\"\nbreaker_floor = 0\nbreakr = \"x\"\n");
    let Err(e) = loaded else { panic!("accepted") };
    let got = lines(&e);
    assert!(
        got.iter()
            .any(|l| l.contains("[incident] breakr: unknown key (did you mean breaker?)")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("incident.breaker: ") && l.contains("such as `20%`")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with("incident.breaker_floor: ") && l.contains("at least 1")),
        "{got:?}"
    );
    let (_dir, _path, loaded) = load_file("[incident]\nbreaker = \"35 %\"\n");
    let c = loaded.unwrap_or_else(|e| panic!("{:?}", lines(&e)));
    assert_eq!(c.incident.breaker_fraction(), Some(0.35));
    assert_eq!(IncidentConfig::default().breaker_fraction(), Some(0.2));
    for bad in ["0%", "101%", "-5%", "twenty%", "20"] {
        let i = IncidentConfig {
            breaker: bad.into(),
            ..IncidentConfig::default()
        };
        assert_eq!(i.breaker_fraction(), None, "{bad}");
    }
}

#[test]
fn the_encryption_key_rotation_policy_is_read_and_checked_and_a_misspelling_named() {
    let (_dir, _path, loaded) = load_file(
        "[crypto]\nkey_rotated_at = 2026-11-01\nrotate_every = \"180d\"\n[salesforce]\nsecret_rotated_at = 2026-10-01\n",
    );
    let c = loaded.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.crypto.key_rotated_at,
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
    );
    assert_eq!(c.crypto.rotate_every, Duration::from_secs(180 * 86_400));
    assert_eq!(
        c.salesforce.secret_rotated_at,
        chrono::NaiveDate::from_ymd_opt(2026, 10, 1),
        "a TOML date is taken for the client secret's rotation date too"
    );
    let (_dir, _path, loaded) = load_file("[crypto]\nrotate_every = \"1h\"\n");
    let Err(e) = loaded else { panic!("accepted") };
    assert!(
        lines(&e)
            .iter()
            .any(|l| l == "crypto.rotate_every: must be at least 1d"),
        "{:?}",
        lines(&e)
    );
    let (_dir, path, loaded) = load_file("[crypto]\nkey_rotated = 2026-11-01\n");
    let Err(e) = loaded else { panic!("accepted") };
    assert_eq!(
        lines(&e),
        [format!(
            "{}: [crypto] key_rotated: unknown key (did you mean key_rotated_at?)",
            path.display()
        )]
    );
}
