//! Planning and applying an org import.
//!
//! Planning compares the file with the database and says, per org, what would be created or
//! changed; applying writes the plan in one transaction, so an import either happens whole or not
//! at all. Re-importing a file is an upsert by org id, and each created or changed org gets an
//! event that records what changed.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use super::csv_format::{Column, ImportRow, ParsedCsv};
use crate::entity::{contact, org, wave};
use crate::error::Result;
use crate::types::OrgId;

/// Files with more rows than this read the registry in one scan instead of by id.
const FULL_SCAN_ABOVE: usize = 5_000;
/// Rows per INSERT: well inside SQLite's and PostgreSQL's bind-parameter limits.
const BATCH: usize = 1000;
/// The default notice schedule for waves that an import creates.
pub const DEFAULT_STEPS: &str =
    "announce@start,remind@-14d,remind@-7d,remind@-2d,final@deadline,escalate@+1d";

/// Progress reporting for long imports (the CLI draws a bar; tests pass `()`).
pub trait Progress {
    fn start(&self, _phase: &str, _len: u64) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}

impl Progress for () {}

/// One field that an import changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// What the import will do to one org.
#[derive(Debug, Clone)]
pub enum Planned {
    Create(ImportRow),
    Update(ImportRow, Vec<FieldChange>),
}

/// What an import would do.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub file: String,
    pub columns: Vec<Column>,
    pub actions: Vec<Planned>,
    pub unchanged: usize,
    /// Waves named in the file that do not exist yet (they are created, without a deadline).
    pub new_waves: Vec<String>,
    existing_orgs: HashMap<OrgId, org::Model>,
    existing_contacts: HashMap<(OrgId, String), contact::Model>,
    waves: HashMap<String, i64>,
}

/// The summary of an import, printed by the CLI.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub new_waves: Vec<String>,
}

impl ImportPlan {
    /// Counts, without writing.
    pub fn report(&self) -> ImportReport {
        let created = self
            .actions
            .iter()
            .filter(|a| matches!(a, Planned::Create(_)))
            .count();
        ImportReport {
            created,
            updated: self.actions.len() - created,
            unchanged: self.unchanged,
            new_waves: self.new_waves.clone(),
        }
    }
}

/// Compares valid rows with the database.
pub async fn plan_import<C: ConnectionTrait>(
    db: &C,
    file: &str,
    parsed: ParsedCsv,
) -> Result<ImportPlan> {
    let ids: Vec<OrgId> = parsed.rows.iter().map(|r| r.org_id.clone()).collect();
    let mut existing_orgs = HashMap::with_capacity(ids.len());
    let mut existing_contacts = HashMap::new();
    if ids.len() > FULL_SCAN_ABOVE {
        // One scan beats hundreds of `IN (…)` queries for large files; keep what the file names.
        let wanted: std::collections::HashSet<&str> = ids.iter().map(OrgId::as_str).collect();
        for o in org::Entity::find().all(db).await? {
            if wanted.contains(o.id.as_str()) {
                existing_orgs.insert(o.id.clone(), o);
            }
        }
        for c in contact::Entity::find().all(db).await? {
            if wanted.contains(c.org_id.as_str()) {
                existing_contacts.insert((c.org_id.clone(), c.role.clone()), c);
            }
        }
    } else {
        for chunk in ids.chunks(500) {
            let chunk = chunk.to_vec();
            for o in org::Entity::find()
                .filter(org::Column::Id.is_in(chunk.clone()))
                .all(db)
                .await?
            {
                existing_orgs.insert(o.id.clone(), o);
            }
            for c in contact::Entity::find()
                .filter(contact::Column::OrgId.is_in(chunk))
                .all(db)
                .await?
            {
                existing_contacts.insert((c.org_id.clone(), c.role.clone()), c);
            }
        }
    }
    let waves: HashMap<String, i64> = wave::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.name, w.id))
        .collect();
    let wave_names: HashMap<i64, String> = waves.iter().map(|(n, id)| (*id, n.clone())).collect();
    let new_waves: BTreeSet<String> = parsed
        .rows
        .iter()
        .filter_map(|r| r.wave.clone().flatten())
        .filter(|w| !waves.contains_key(w))
        .collect();

    let mut actions = Vec::new();
    let mut unchanged = 0;
    for row in parsed.rows {
        match existing_orgs.get(row.org_id.as_str()) {
            None => actions.push(Planned::Create(row)),
            Some(old) => {
                let changes = diff(old, &existing_contacts, &wave_names, &row);
                if changes.is_empty() {
                    unchanged += 1;
                } else {
                    actions.push(Planned::Update(row, changes));
                }
            }
        }
    }
    Ok(ImportPlan {
        file: file.to_owned(),
        columns: parsed.columns,
        actions,
        unchanged,
        new_waves: new_waves.into_iter().collect(),
        existing_orgs,
        existing_contacts,
        waves,
    })
}

/// The fields of an existing org (and its contacts) that a row changes.
fn diff(
    old: &org::Model,
    contacts: &HashMap<(OrgId, String), contact::Model>,
    wave_names: &HashMap<i64, String>,
    row: &ImportRow,
) -> Vec<FieldChange> {
    let mut out = Vec::new();
    let mut cmp = |field: &'static str, old: Option<String>, new: Option<String>| {
        if old != new {
            out.push(FieldChange { field, old, new });
        }
    };
    cmp("name", Some(old.name.clone()), Some(row.name.clone()));
    if let Some(env) = row.environment {
        cmp(
            "environment",
            Some(old.environment.as_str().to_owned()),
            Some(env.as_str().to_owned()),
        );
    }
    if let Some(url) = &row.login_url {
        cmp(
            "login_url",
            old.login_url.clone(),
            url.as_ref().map(|u| u.as_str().to_owned()),
        );
    }
    if let Some(w) = &row.wave {
        cmp(
            "wave",
            old.wave_id.and_then(|id| wave_names.get(&id).cloned()),
            w.clone(),
        );
    }
    if let Some(csm) = &row.csm_email {
        cmp(
            "csm_email",
            old.csm_email.clone(),
            csm.as_ref().map(|e| e.as_str().to_owned()),
        );
    }
    let primary = contacts.get(&(old.id.clone(), "primary".to_owned()));
    cmp(
        "admin_email",
        primary.map(|c| c.email.clone()),
        Some(row.admin_email.as_str().to_owned()),
    );
    if let Some(n) = &row.admin_name {
        cmp(
            "admin_name",
            primary.and_then(|c| c.name.clone()),
            n.clone(),
        );
    }
    if let Some(tz) = &row.timezone {
        cmp(
            "timezone",
            primary.and_then(|c| c.timezone.clone()),
            tz.clone(),
        );
    }
    if let Some(sec) = &row.secondary_email {
        let old_sec = contacts
            .get(&(old.id.clone(), "secondary".to_owned()))
            .map(|c| c.email.clone());
        cmp(
            "secondary_email",
            old_sec,
            sec.as_ref().map(|e| e.as_str().to_owned()),
        );
    }
    out
}

mod apply;
pub use apply::apply_plan;

#[cfg(test)]
mod tests;
