//! When something is compromised, or looks as if it were: the [`breaker`] that pauses the
//! heartbeat and every notice when too many of an hour's exchanges come back revoked or
//! `invalid_client` (most likely our own fault: a wrong secret, a database restored from an old
//! backup), until an operator resumes or starts an incident; [`incidents`] themselves, the
//! [`revoke`] pass that revokes every grant for `--revoke`, and the [`emergency`] wave that asks
//! every affected org to consent again.

pub mod breaker;
pub mod emergency;
pub mod incidents;
pub mod revoke;
