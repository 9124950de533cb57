//! One integration-test binary for everything that crosses crates (one link, not many).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod alerts;
mod audit_metadata;
mod browser;
mod campaign;
mod cli;
mod dashboard;
mod dashboard_auth;
mod email_snapshots;
mod health;
mod import;
mod ip_ranges;
mod legacy;
mod migrations;
mod monitor;
mod notices;
mod other_oauth;
mod processes;
mod quick_start;
mod reconsent_flow;
mod reconsent_pages;
mod security;
mod state;
mod vault;
mod vault_integrity;
