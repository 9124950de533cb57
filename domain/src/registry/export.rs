//! Exporting a filtered org list as CSV, in two named formats: the import format (the default;
//! an export can be edited and imported again with `reauth orgs import`) and the wider report
//! (state, notices, last change), which the import refuses.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;

use super::query::{ListFilter, ids_after, summaries, wave_names};
use crate::entity::{contact, org};
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::types::{Environment, OrgId};

/// One row of `orgs export`: exactly the import columns, so an export can be edited and
/// imported again.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRow {
    pub org_id: OrgId,
    pub name: String,
    pub environment: Environment,
    pub login_url: String,
    pub wave: String,
    pub admin_email: String,
    pub admin_name: String,
    pub secondary_email: String,
    pub csm_email: String,
    pub timezone: String,
}

/// Orgs per database round trip while exporting.
const CHUNK: u64 = 2000;

/// Which CSV to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Exactly the import columns ([`super::Column::ALL`]).
    Import,
    /// Each org's state, wave, contacts and notices, for reading (not for importing).
    Report,
}

impl ExportFormat {
    /// The stored name, in the `orgs.exported` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Report => "report",
        }
    }
}

/// The orgs matching `filter`, in id order, as CSV in `format`; records `orgs.exported` with
/// `filter_details` (the filter as the caller shows it).
pub async fn export_csv<C: ConnectionTrait>(
    db: &C,
    filter: &ListFilter,
    format: ExportFormat,
    filter_details: serde_json::Value,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Vec<u8>> {
    // The header is written once here, whatever the rows (serializing a row would add another).
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let header: Vec<&str> = match format {
        ExportFormat::Import => super::Column::ALL.iter().map(|c| c.as_str()).collect(),
        ExportFormat::Report => REPORT_HEADER.to_vec(),
    };
    w.write_record(&header).map_err(csv_err)?;
    let mut after: Option<String> = None;
    loop {
        let ids = ids_after(db, filter, after.as_deref(), CHUNK).await?;
        let Some(last) = ids.last().cloned() else {
            break;
        };
        match format {
            ExportFormat::Import => {
                for r in import_rows(db, &ids).await? {
                    w.serialize(r).map_err(csv_err)?;
                }
            }
            ExportFormat::Report => {
                for o in summaries(db, &ids).await? {
                    w.write_record([
                        o.org_id.as_str(),
                        &o.name,
                        o.environment.as_str(),
                        o.state.as_str(),
                        o.wave.as_deref().unwrap_or(""),
                        o.admin_email.as_deref().unwrap_or(""),
                        o.csm_email.as_deref().unwrap_or(""),
                        if o.notices_paused { "true" } else { "false" },
                        &o.state_changed_at.to_rfc3339(),
                    ])
                    .map_err(csv_err)?;
                }
            }
        }
        after = Some(last);
    }
    let body = w
        .into_inner()
        .map_err(|e| Error::Internal(format!("writing the org CSV: {e}")))?;
    events::record(
        db,
        now,
        actor,
        None,
        "orgs.exported",
        serde_json::json!({ "filter": filter_details, "format": format.as_str(), "bytes": body.len() }),
    )
    .await?;
    Ok(body)
}

/// The report's columns.
const REPORT_HEADER: [&str; 9] = [
    "org_id",
    "name",
    "environment",
    "state",
    "wave",
    "admin_email",
    "csm_email",
    "notices_paused",
    "state_changed_at",
];

/// The given orgs in import format, in id order.
async fn import_rows<C: ConnectionTrait>(db: &C, ids: &[String]) -> Result<Vec<ExportRow>> {
    let waves = wave_names(db).await?;
    let orgs = org::Entity::find()
        .filter(org::Column::Id.is_in(ids.to_vec()))
        .order_by_asc(org::Column::Id)
        .all(db)
        .await?;
    let mut contacts: HashMap<(OrgId, String), contact::Model> = HashMap::new();
    for c in contact::Entity::find()
        .filter(contact::Column::OrgId.is_in(ids.to_vec()))
        .all(db)
        .await?
    {
        contacts.insert((c.org_id.clone(), c.role.clone()), c);
    }
    Ok(orgs
        .into_iter()
        .map(|o| export_row(o, &waves, &contacts))
        .collect())
}

fn csv_err(e: csv::Error) -> Error {
    Error::Internal(format!("writing the org CSV: {e}"))
}

/// Every org in import format, ordered by org id.
pub async fn export_rows<C: ConnectionTrait>(db: &C) -> Result<Vec<ExportRow>> {
    let waves = wave_names(db).await?;
    let orgs = org::Entity::find()
        .order_by_asc(org::Column::Id)
        .all(db)
        .await?;
    let mut contacts: HashMap<(OrgId, String), contact::Model> = HashMap::new();
    for c in contact::Entity::find().all(db).await? {
        contacts.insert((c.org_id.clone(), c.role.clone()), c);
    }
    Ok(orgs
        .into_iter()
        .map(|o| export_row(o, &waves, &contacts))
        .collect())
}

/// One org in import format.
fn export_row(
    o: org::Model,
    waves: &HashMap<i64, String>,
    contacts: &HashMap<(OrgId, String), contact::Model>,
) -> ExportRow {
    let p = contacts.get(&(o.id.clone(), "primary".into()));
    let s = contacts.get(&(o.id.clone(), "secondary".into()));
    ExportRow {
        wave: o
            .wave_id
            .and_then(|w| waves.get(&w).cloned())
            .unwrap_or_default(),
        admin_email: p.map(|c| c.email.clone()).unwrap_or_default(),
        admin_name: p.and_then(|c| c.name.clone()).unwrap_or_default(),
        timezone: p.and_then(|c| c.timezone.clone()).unwrap_or_default(),
        secondary_email: s.map(|c| c.email.clone()).unwrap_or_default(),
        csm_email: o.csm_email.unwrap_or_default(),
        login_url: o.login_url.unwrap_or_default(),
        environment: o.environment,
        name: o.name,
        org_id: o.id,
    }
}
