//! Secrets at rest and at the door: AES-256-GCM sealing with key ids ([`crypto`]), re-sealing
//! everything under the newest key ([`keys`]), and the token API's keys, stored as hashes
//! ([`api_keys`]), which client secret Salesforce accepts ([`secrets`]), and the breaker and
//! incident mode for when something is compromised ([`incident`]).

pub mod api_keys;
pub mod crypto;
pub mod incident;
pub mod keys;
pub mod secrets;
