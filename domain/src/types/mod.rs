//! Typed values parsed at the edge: anything built from outside input goes through one of these.

mod email;
mod environment;
mod login_url;
mod org_id;

pub use email::{Email, EmailError};
pub use environment::{Environment, EnvironmentError};
pub use login_url::{LoginUrl, LoginUrlError};
pub use org_id::{OrgId, OrgIdError};
