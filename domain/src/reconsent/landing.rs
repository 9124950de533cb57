//! The landing page behind a re-auth link: one call that looks the link up, counts the visit
//! and gathers what the page shows.

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, EntityTrait as _};

use super::links::{self, Lookup};
use crate::config::Config;
use crate::entity::wave;
use crate::error::Result;
use crate::types::{Environment, OrgId};

/// What the landing page shows for a valid link.
#[derive(Debug, Clone)]
pub struct LandingView {
    pub org_id: OrgId,
    pub org_name: String,
    pub environment: Environment,
    /// Where the admin will sign in (`login.salesforce.com`, `test.salesforce.com`, My Domain).
    pub login_host: String,
    /// The org's wave deadline, when it is in a wave that has one.
    pub deadline: Option<DateTime<Utc>>,
}

/// What a visit to a link leads to.
#[derive(Debug)]
pub enum Opened {
    /// The link is valid: the visit was recorded.
    Landing(LandingView),
    /// Expired, used, withdrawn or unknown: nothing was recorded.
    Problem(Box<Lookup>),
}

/// Opens the link behind `secret`: a valid link's visit is recorded (the org moves to
/// `opened`), and the page's facts are gathered.
pub async fn open(
    db: &DatabaseConnection,
    config: &Config,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<Opened> {
    let (link, org) = match links::lookup(db, secret, now).await? {
        Lookup::Valid(link, org) => (link, org),
        other => return Ok(Opened::Problem(Box::new(other))),
    };
    links::record_open(db, &link, now).await?;
    let login_host = super::login_host(&org, config)?.as_str().to_owned();
    let deadline = match org.wave_id {
        Some(w) => wave::Entity::find_by_id(w)
            .one(db)
            .await?
            .and_then(|w| w.deadline),
        None => None,
    };
    Ok(Opened::Landing(LandingView {
        org_id: org.id,
        org_name: org.name,
        environment: org.environment,
        login_host,
        deadline,
    }))
}
