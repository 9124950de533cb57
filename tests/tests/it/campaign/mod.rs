//! A compressed wave through the real scheduler and sender (mail to files).

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use domain::config::Config;
use domain::events::Actor;
use domain::registry::state::{Change, OrgState};
use domain::types::OrgId;
use reauth_tests::{TestDb, both_backends};

const ORGS: &str = "org_id,name,admin_email,csm_email,wave\n\
00D000000000001,Alpha,admin@alpha.example,csm@partner.example,\n\
00D000000000002,Beta,admin@beta.example,csm@partner.example,\n\
00D000000000003,Gamma,admin@gamma.example,csm@partner.example,\n\
00D000000000004,Delta,admin@delta.example,csm@partner.example,\n";

/// (recipient, first word of the subject) → count, from every message written so far.
fn mailbox(dir: &std::path::Path) -> BTreeMap<(String, String), u32> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let header = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .map(|l| l[name.len()..].trim().to_owned())
                .unwrap_or_default()
        };
        let subject = header("Subject:");
        let kind = subject
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_owned();
        *out.entry((header("To:"), kind)).or_default() += 1;
    }
    out
}

mod smtp;
mod waves;
