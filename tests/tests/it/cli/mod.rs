//! The `reauth` binary as an operator uses it: in an empty directory, with files and variables.
mod config;
mod database;
mod legacy;
mod operate;
mod orgs;

use reauth_tests::run_reauth;

pub(crate) const ORGS: &str = "org_id,name,environment,admin_email\n\
00D4c0000008cs2,Acme,production,admin@acme.com\n\
00D5e000000AbCd,Globex,sandbox,it@globex.com\n";

pub(crate) const MIXED: &str = "org_id,name,admin_email,environment,login_url\n\
00D000000000001,Good One,a@one.com,,\n\
00Dxx,Bad Id,b@two.com,production,\n\
00D000000000003,Bad Env,c@three.com,staging,\n\
00D000000000004,Bad Url,d@four.com,,http://acme.my.salesforce.com\n\
00D000000000005,Good Two,e@five.com,sandbox,https://acme--uat.sandbox.my.salesforce.com\n\
00D000000000006,Bad Mail,not-an-email,,\n";

pub(crate) fn org_ids(stdout: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn help_lists_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run_reauth(dir.path(), &["--help"], &[]);
    assert_eq!(code, 0);
    for cmd in ["serve", "worker", "migrate", "config", "orgs", "events"] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(cmd)),
            "{cmd} missing from:\n{out}"
        );
    }
}
