//! One integration-test binary for everything that crosses crates (one link, not many).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a failed unwrap or expect is a failed test, with its location"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "tests read their own switches (REAUTH_UPDATE_*) and hand PATH to the processes they run"
)]

mod alerts;
mod audit_metadata;
mod browser;
mod campaign;
mod cli;
mod compliance;
mod dashboard;
mod dashboard_auth;
mod email_snapshots;
mod errors;
mod health;
mod import;
mod incident;
mod incident_close;
mod incident_page;
mod incident_revoke;
mod incident_rotation;
mod incident_start;
mod ip_ranges;
mod layout;
mod lease_wake;
mod legacy;
mod logs;
mod migrations;
mod monitor;
mod notices;
mod other_oauth;
mod overview_cache;
mod processes;
mod quick_start;
mod reconsent_flow;
mod reconsent_pages;
mod secrets;
mod security;
mod state;
mod token_deadline;
mod vault;
mod vault_integrity;
mod worker_schedule;
