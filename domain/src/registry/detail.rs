//! One org in detail (contacts, recent history) and the staff notes on its timeline.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use super::query::{OrgSummary, summary, wave_names};
use crate::entity::{contact, org};
use crate::error::{Error, Result};
use crate::events::{self, EventView};
use crate::types::OrgId;

/// A contact as shown to operators.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ContactView {
    pub role: String,
    pub email: String,
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub bounce_status: String,
}

/// One org with its contacts and recent history.
#[derive(Debug, Clone, Serialize)]
pub struct OrgDetail {
    #[serde(flatten)]
    pub org: OrgSummary,
    pub attention_reason: Option<String>,
    pub attention_owner: Option<String>,
    pub contacts: Vec<ContactView>,
    pub recent_events: Vec<EventView>,
}

/// The org's row, or [`Error::UnknownOrg`].
pub(crate) async fn find_org<C: ConnectionTrait>(db: &C, id: &OrgId) -> Result<org::Model> {
    org::Entity::find_by_id(id.clone())
        .one(db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(id.clone()))
}

/// One org in detail.
pub async fn show<C: ConnectionTrait>(db: &C, id: &OrgId) -> Result<OrgDetail> {
    let o = find_org(db, id).await?;
    let waves = wave_names(db).await?;
    let contacts = contact::Entity::find()
        .filter(contact::Column::OrgId.eq(id.as_str()))
        .order_by_asc(contact::Column::Id)
        .all(db)
        .await?;
    let primaries: HashMap<OrgId, String> = contacts
        .iter()
        .filter(|c| c.role == "primary")
        .map(|c| (c.org_id.clone(), c.email.clone()))
        .collect();
    let recent_events = events::list(
        db,
        &events::EventFilter {
            org: Some(id.clone()),
            limit: 20,
            ..Default::default()
        },
    )
    .await?;
    let (attention_reason, attention_owner) =
        (o.attention_reason.clone(), o.attention_owner.clone());
    Ok(OrgDetail {
        org: summary(o, &waves, &primaries),
        attention_reason,
        attention_owner,
        contacts: contacts
            .into_iter()
            .map(|c| ContactView {
                role: c.role,
                email: c.email,
                name: c.name,
                timezone: c.timezone,
                bounce_status: c.bounce_status,
            })
            .collect(),
        recent_events,
    })
}

/// Longest note a staff member may add to an org's timeline.
pub const MAX_NOTE_LEN: usize = 2000;

/// Adds a staff note to an org's timeline.
pub async fn add_note<C: ConnectionTrait>(
    db: &C,
    id: &OrgId,
    text: &str,
    actor: &crate::events::Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::Invalid("a note cannot be empty".into()));
    }
    if text.chars().count() > MAX_NOTE_LEN {
        return Err(Error::Invalid(format!(
            "a note holds at most {MAX_NOTE_LEN} characters"
        )));
    }
    find_org(db, id).await?;
    events::record(
        db,
        now,
        actor,
        Some(id),
        "org.note",
        serde_json::json!({ "text": text }),
    )
    .await
}
