//! Applying an import plan: orgs, contacts and new waves written in batches, in one transaction,
//! with an event per change.

use super::super::csv_format::Column;
use crate::entity::{contact, org, wave};
use crate::error::Result;
use crate::events::{self, Actor, NewEvent};
use crate::registry::state::OrgState;
use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};

use super::*;

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
        let id = row.org_id.clone();
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
                .or_else(|| old.map(|o| o.environment))
                .unwrap_or_default()),
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
            preflight: NotSet,
            preflight_at: NotSet,
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
    org_id: &OrgId,
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
        org_id: Set(org_id.clone()),
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
