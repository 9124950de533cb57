//! reauth's domain: everything the server, the worker and the CLI agree on. Business rules live
//! here and nowhere else; this crate knows no axum and no apalis.
//!
//! | module | owns |
//! |---|---|
//! | [`registry`] | the org registry (CSV import, lists and search, one org in detail, CSV export, the org list page) and the org state machine ([`registry::state`]) |
//! | [`campaign`] | waves and their notice schedules, the scheduler, the notice outbox and its sender ([`campaign::notices`]) |
//! | [`reconsent`] | the customer's re-consent: links ([`reconsent::links`]), the landing page, the PKCE flow, the callback's checks, verification |
//! | [`vault`] | the single owner of every refresh token: the fenced lease, the refresh protocol (write-ahead, probe), serving and caching tokens, the journal, the heartbeat, legacy connections and their retirement, the row store |
//! | [`salesforce`] | the Salesforce client: authorize URLs, code and refresh exchanges, identity, revocation |
//! | [`staff`] | staff users (passwords, TOTP, recovery codes, admin), their sessions, the dashboard's aggregates and shared overview figures, the org page's view model, bulk jobs ([`staff::bulk`]) |
//! | [`security`] | encryption at rest ([`security::crypto`]), key rotation, the token API's keys, which client secret Salesforce accepts, the breaker and incidents ([`security::incident`]) |
//! | [`legacy`] | the cut-over from the legacy Connected App: importing and activating its tokens, retiring it, readiness |
//! | [`compliance`] | the metadata audit of the partner's External Client App and Connected Apps, and the compliance report from reauth's own records |
//! | [`alerts`] | things a person at the partner must look at, and their delivery by mail and webhook |
//! | [`monitor`] | the token-use monitor: LoginHistory against the vault's own exchanges |
//! | [`ip_ranges`] | the published egress ranges, the refresh-token allowlist they make, `ip_change` notices |
//! | [`events`] | the append-only audit trail every change writes to |
//! | [`gauges`] | the figures `/metrics` reads from the database at scrape time |
//! | [`mail`] | rendering and sending mail through lettre |
//! | [`wording`] | small rules of English shared by pages, mail and the CLI (possessives, plurals, durations) |
//! | [`config`], [`db`], [`entity`], [`types`], [`time`], [`process`], [`error`] | configuration, storage, tables, parsed values, clocks, this process's name, the error type |

pub mod alerts;
pub mod campaign;
pub mod compliance;
pub mod config;
pub mod db;
pub mod entity;
pub mod error;
pub mod events;
pub mod gauges;
pub mod ip_ranges;
pub mod legacy;
pub mod mail;
pub mod monitor;
pub mod process;
pub mod reconsent;
pub mod registry;
pub mod salesforce;
pub mod security;
pub mod staff;
pub mod time;
pub mod types;
pub mod vault;
pub mod wording;

pub use error::{Error, Result};
