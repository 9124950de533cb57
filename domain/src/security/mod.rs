//! Secrets at rest and at the door: AES-256-GCM sealing with key ids ([`crypto`]), re-sealing
//! everything under the newest key ([`keys`]), and the token API's keys, stored as hashes
//! ([`api_keys`]), and which client secret Salesforce accepts ([`secrets`]).

pub mod api_keys;
pub mod crypto;
pub mod keys;
pub mod secrets;
