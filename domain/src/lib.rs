//! reauth's domain: everything the server, the worker and the CLI agree on.
//!
//! Business rules live here and nowhere else: the org state machine, the org registry and its
//! CSV import, configuration, storage, and (as they arrive) links, the token vault, the
//! Salesforce client, crypto and the campaign, and compliance checks (the metadata audit of
//! the partner's External Client App and Connected Apps). This crate knows no axum and no
//! apalis.

pub mod alerts;
pub mod api_keys;
pub mod bulk;
pub mod campaign;
pub mod compliance;
pub mod config;
pub mod connections;
pub mod crypto;
pub mod dashboard;
pub mod db;
pub mod entity;
pub mod error;
pub mod events;
pub mod keys;
pub mod links;
pub mod mail;
pub mod notices;
pub mod orgs;
pub mod process;
pub mod reconsent;
pub mod salesforce;
pub mod sessions;
pub mod staff;
pub mod state;
pub mod time;
pub mod types;
pub mod vault;
pub mod waves;
pub mod wording;

pub use error::{Error, Result};
