//! The domain's error type. It knows nothing of HTTP; the server maps it to responses.
//!
//! Its variants fall in two kinds, and [`Error::fault`] says which: what the caller did wrong
//! (bad input, an unknown name, a change the current state refuses), which is shown to them as
//! it is, and what went wrong inside (the database, a file, a value that should have parsed),
//! which is logged once and never shown to whoever made the request.

use crate::registry::state::OrgState;
use crate::types::OrgId;

/// Everything a domain operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // What the caller did wrong: the message is written for them.
    /// Input the caller can correct; the message says what is wrong with it.
    #[error("{0}")]
    Invalid(String),
    /// Something the caller named does not exist (a wave, a job, a staff user, a key).
    #[error("{0}")]
    NotFound(String),
    #[error("unknown org {0}")]
    UnknownOrg(OrgId),
    #[error("an org in state {from} cannot take {change}")]
    InvalidTransition { from: OrgState, change: String },
    #[error("conflict: {0}")]
    Conflict(String),

    // What went wrong inside: logged, never shown to the caller.
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A fault of ours: stored data that does not parse, a task that died, a client that could
    /// not be built. The text is for the log.
    #[error("{0}")]
    Internal(String),
}

/// Whose fault an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The caller's: show them the message, a 4xx.
    Caller,
    /// Ours: log it once, show a generic page.
    Internal,
}

impl Error {
    /// Whose fault this is, and so whether its text may be shown to the caller.
    pub fn fault(&self) -> Fault {
        match self {
            Self::Invalid(_)
            | Self::NotFound(_)
            | Self::UnknownOrg(_)
            | Self::InvalidTransition { .. }
            | Self::Conflict(_) => Fault::Caller,
            Self::Db(_) | Self::Config(_) | Self::Io(_) | Self::Internal(_) => Fault::Internal,
        }
    }
}

/// Domain result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
