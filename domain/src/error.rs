//! The domain's error type. It knows nothing of HTTP; the server maps it to responses.

use crate::registry::state::OrgState;
use crate::types::OrgId;

/// Everything a domain operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("unknown org {0}")]
    UnknownOrg(OrgId),
    #[error("an org in state {from} cannot take {change}")]
    InvalidTransition { from: OrgState, change: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Domain result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
