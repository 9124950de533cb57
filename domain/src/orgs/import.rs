//! Planning and applying an org import.
//!
//! Planning compares the file with the database and says, per org, what would be created or
//! changed; applying writes the plan in one transaction, so an import either happens whole or not
//! at all. Re-importing a file is an upsert by org id, and each created or changed org gets an
//! event that records what changed.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};
use serde::Serialize;

use super::csv_format::{Column, ImportRow, ParsedCsv};
use crate::entity::{contact, org, wave};
use crate::error::Result;
use crate::events::{self, Actor, NewEvent};
use crate::state::OrgState;

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
    existing_orgs: HashMap<String, org::Model>,
    existing_contacts: HashMap<(String, String), contact::Model>,
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
    let ids: Vec<String> = parsed
        .rows
        .iter()
        .map(|r| r.org_id.as_str().to_owned())
        .collect();
    let mut existing_orgs = HashMap::with_capacity(ids.len());
    let mut existing_contacts = HashMap::new();
    if ids.len() > FULL_SCAN_ABOVE {
        // One scan beats hundreds of `IN (…)` queries for large files; keep what the file names.
        let wanted: std::collections::HashSet<&str> = ids.iter().map(String::as_str).collect();
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
    contacts: &HashMap<(String, String), contact::Model>,
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
            Some(old.environment.clone()),
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

/// Writes a plan in one transaction and returns what it did.
pub async fn apply_plan<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    mut plan: ImportPlan,
    actor: &Actor,
    now: DateTime<Utc>,
    progress: &dyn Progress,
) -> Result<ImportReport> {
    let report = plan.report();
    let txn = crate::db::begin_write(db).await?;
    let mut new_events = Vec::with_capacity(plan.actions.len() + plan.new_waves.len());

    for name in &plan.new_waves {
        let res = wave::Entity::insert(wave::ActiveModel {
            id: NotSet,
            name: Set(name.clone()),
            starts_at: Set(None),
            deadline: Set(None),
            steps: Set(DEFAULT_STEPS.to_owned()),
            paused: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(&txn)
        .await?;
        plan.waves.insert(name.clone(), res.last_insert_id);
        new_events.push(NewEvent {
            at: now,
            actor: actor.clone(),
            org_id: None,
            kind: "wave.created".into(),
            details: serde_json::json!({ "name": name, "source": plan.file }),
        });
    }

    progress.start("writing", plan.actions.len() as u64);
    let has = |c: Column| plan.columns.contains(&c);
    let mut org_rows = Vec::with_capacity(BATCH);
    let mut contact_rows = Vec::with_capacity(BATCH * 2);
    let mut removed_secondaries = Vec::new();
    for action in &plan.actions {
        let (row, changes) = match action {
            Planned::Create(r) => (r, None),
            Planned::Update(r, c) => (r, Some(c)),
        };
        let id = row.org_id.as_str().to_owned();
        let old = plan.existing_orgs.get(&id);
        let keep = |col: Column| !has(col);
        let wave_id = match &row.wave {
            Some(Some(name)) => plan.waves.get(name).copied(),
            Some(None) => None,
            None => old.and_then(|o| o.wave_id),
        };
        org_rows.push(org::ActiveModel {
            id: Set(id.clone()),
            name: Set(row.name.clone()),
            name_lower: Set(row.name.to_lowercase()),
            environment: Set(row
                .environment
                .map(|e| e.as_str().to_owned())
                .or_else(|| old.map(|o| o.environment.clone()))
                .unwrap_or_else(|| "production".into())),
            login_url: Set(match &row.login_url {
                Some(u) => u.as_ref().map(|u| u.as_str().to_owned()),
                None => old.and_then(|o| o.login_url.clone()),
            }),
            wave_id: Set(wave_id),
            state: Set(old.map_or(OrgState::Pending, |o| o.state)),
            state_changed_at: Set(old.map_or(now, |o| o.state_changed_at)),
            resume_state: Set(old.and_then(|o| o.resume_state)),
            attention_reason: Set(old.and_then(|o| o.attention_reason.clone())),
            attention_owner: Set(old.and_then(|o| o.attention_owner.clone())),
            csm_email: Set(match &row.csm_email {
                Some(e) => e.as_ref().map(|e| e.as_str().to_owned()),
                None => old.and_then(|o| o.csm_email.clone()),
            }),
            notices_paused: Set(old.is_some_and(|o| o.notices_paused)),
            // Moving wave starts a new round of notices.
            campaign_round: Set(match old {
                Some(o) if o.wave_id != wave_id => o.campaign_round + 1,
                Some(o) => o.campaign_round,
                None => 0,
            }),
            completed_at: Set(old.and_then(|o| o.completed_at)),
            created_at: Set(old.map_or(now, |o| o.created_at)),
            updated_at: Set(now),
        });

        let existing = |role: &str| plan.existing_contacts.get(&(id.clone(), role.to_owned()));
        let tz = match &row.timezone {
            Some(t) => t.clone(),
            None => existing("primary").and_then(|c| c.timezone.clone()),
        };
        contact_rows.push(contact_row(
            &id,
            "primary",
            row.admin_email.as_str(),
            if keep(Column::AdminName) {
                existing("primary").and_then(|c| c.name.clone())
            } else {
                row.admin_name.clone().flatten()
            },
            tz.clone(),
            existing("primary"),
            now,
        ));
        match &row.secondary_email {
            Some(Some(sec)) => contact_rows.push(contact_row(
                &id,
                "secondary",
                sec.as_str(),
                None,
                tz,
                existing("secondary"),
                now,
            )),
            Some(None) if existing("secondary").is_some() => removed_secondaries.push(id.clone()),
            _ => {}
        }

        let org_id = row.org_id.clone();
        new_events.push(match changes {
            None => NewEvent {
                at: now,
                actor: actor.clone(),
                org_id: Some(org_id),
                kind: "org.created".into(),
                details: serde_json::json!({
                    "source": plan.file,
                    "line": row.line,
                    "name": row.name,
                    "admin_email": row.admin_email,
                    "wave": row.wave.clone().flatten(),
                }),
            },
            Some(changes) => NewEvent {
                at: now,
                actor: actor.clone(),
                org_id: Some(org_id),
                kind: "org.updated".into(),
                details: serde_json::json!({ "source": plan.file, "line": row.line, "changes": changes }),
            },
        });

        if org_rows.len() == BATCH {
            flush(&txn, &mut org_rows, &mut contact_rows).await?;
            progress.advance(BATCH as u64);
        }
    }
    let rest = org_rows.len() as u64;
    flush(&txn, &mut org_rows, &mut contact_rows).await?;
    progress.advance(rest);
    for chunk in removed_secondaries.chunks(500) {
        contact::Entity::delete_many()
            .filter(contact::Column::OrgId.is_in(chunk.to_vec()))
            .filter(contact::Column::Role.eq("secondary"))
            .exec(&txn)
            .await?;
    }
    events::record_many(&txn, new_events).await?;
    txn.commit().await?;
    progress.finish();
    Ok(report)
}

fn contact_row(
    org_id: &str,
    role: &str,
    email: &str,
    name: Option<String>,
    timezone: Option<String>,
    old: Option<&contact::Model>,
    now: DateTime<Utc>,
) -> contact::ActiveModel {
    // A new address starts with a clean bounce record; an unchanged one keeps its history.
    let same_address = old.is_some_and(|c| c.email == email);
    contact::ActiveModel {
        id: NotSet,
        org_id: Set(org_id.to_owned()),
        role: Set(role.to_owned()),
        email: Set(email.to_owned()),
        name: Set(name),
        timezone: Set(timezone),
        bounce_status: Set(if same_address {
            old.map_or("ok".into(), |c| c.bounce_status.clone())
        } else {
            "ok".into()
        }),
        bounced_at: Set(if same_address {
            old.and_then(|c| c.bounced_at)
        } else {
            None
        }),
        created_at: Set(old.map_or(now, |c| c.created_at)),
        updated_at: Set(now),
    }
}

/// Upserts a batch of orgs and their contacts.
async fn flush<C: ConnectionTrait>(
    db: &C,
    orgs: &mut Vec<org::ActiveModel>,
    contacts: &mut Vec<contact::ActiveModel>,
) -> Result<()> {
    if !orgs.is_empty() {
        org::Entity::insert_many(std::mem::take(orgs))
            .on_conflict(
                OnConflict::column(org::Column::Id)
                    .update_columns([
                        org::Column::Name,
                        org::Column::NameLower,
                        org::Column::Environment,
                        org::Column::LoginUrl,
                        org::Column::WaveId,
                        org::Column::CsmEmail,
                        org::Column::CampaignRound,
                        org::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    if !contacts.is_empty() {
        contact::Entity::insert_many(std::mem::take(contacts))
            .on_conflict(
                OnConflict::columns([contact::Column::OrgId, contact::Column::Role])
                    .update_columns([
                        contact::Column::Email,
                        contact::Column::Name,
                        contact::Column::Timezone,
                        contact::Column::BounceStatus,
                        contact::Column::BouncedAt,
                        contact::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_steps_name_only_known_step_kinds() {
        for step in DEFAULT_STEPS.split(',') {
            let (kind, _) = step.split_once('@').unwrap();
            assert!(["announce", "remind", "final", "escalate"].contains(&kind));
        }
    }
}
