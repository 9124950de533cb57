//! Importing the partner's legacy tokens: a CSV or JSON-lines file (`reauth legacy import`) or
//! one JSON object per API request (`POST /api/v1/legacy-connections`).
//!
//! Columns: `org_id, refresh_token, login_url, instance_url, sf_user_id, sf_username, issued_at,
//! scopes` (`org_id`, `refresh_token`, `instance_url` and `sf_user_id` are required; `login_url`
//! defaults to the org's). Every row is checked before anything is written; errors read
//! `FILE:LINE: column: message` and never contain a token. Tokens are sealed before they touch
//! the database, and stored **held**: reauth never exchanges them until they are activated.
//!
//! One legacy connection per org. Re-importing replaces a held connection (the new row's token
//! is the partner's newer one; the old row is set aside, not revoked — revoking would kill the
//! grant the new token belongs to). A connection reauth has exchanged since activation is never
//! replaced unless forced.

mod parse;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde::Serialize;

use parse::err;
pub use parse::{
    COLUMNS, Format, LegacyRow, Parsed, RawRow, check, check_one, json_problem, parse,
};

use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::entity::org;
use crate::error::{Error, Result};
use crate::events::{Actor, NewEvent};
use crate::registry::state::OrgState;
use crate::registry::{Progress, RowError};
use crate::security::crypto::Sealer;
use crate::types::OrgId;
use crate::vault::Vault;

/// Rows written per transaction.
const BATCH: usize = 500;

/// How to import.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Import the valid rows and report the others (default: nothing unless every row is valid).
    pub skip_invalid: bool,
    /// Check everything, write nothing.
    pub dry_run: bool,
    /// Create orgs the registry does not know (named by their id) instead of refusing them.
    pub create_orgs: bool,
    /// Replace a legacy connection even if reauth has exchanged it since its activation.
    pub force: bool,
    /// Activate each imported connection at once (the partner's services already use the API).
    pub activate: bool,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    pub imported: usize,
    /// Of those, replacing a held (or, forced, an activated) connection.
    pub replaced: usize,
    pub created_orgs: usize,
    pub activated: usize,
    pub skipped: usize,
    pub dry_run: bool,
}

/// The outcome: a report, or every reason nothing was written.
pub type Outcome = std::result::Result<Report, Vec<RowError>>;

/// Checks the rows against the database and stores them. All or nothing unless `skip_invalid`.
pub async fn import(
    vault: &Vault,
    file: &str,
    parsed: Parsed,
    opts: Options,
    actor: &Actor,
    progress: &(dyn Progress + Sync),
) -> Result<Outcome> {
    let db = vault.db();
    let Parsed { rows, mut errors } = parsed;
    let ids: Vec<OrgId> = rows.iter().map(|r| r.org_id.clone()).collect();
    let orgs = load_orgs(db, &ids).await?;
    let existing = live_legacy(db, &ids).await?;
    let mut good = Vec::with_capacity(rows.len());
    for row in rows {
        let known = orgs.get(&row.org_id);
        if known.is_none() && !opts.create_orgs {
            errors.push(err(
                file,
                row.line,
                "org_id",
                format!(
                    "org {} is not in the registry (import it with `reauth orgs import`, or pass --create-orgs)",
                    row.org_id
                ),
            ));
            continue;
        }
        if let Some(c) = existing.get(&row.org_id)
            && c.status != ConnectionStatus::Held
            && !opts.force
        {
            errors.push(err(
                file,
                row.line,
                "org_id",
                format!(
                    "org {} already has an activated legacy connection ({}) that reauth refreshes; importing would replace a token reauth owns (pass --force if the partner's table is newer)",
                    row.org_id, c.status
                ),
            ));
            continue;
        }
        good.push(row);
    }
    errors.sort_by_key(|e| e.line);
    if !errors.is_empty() && !opts.skip_invalid {
        return Ok(Err(errors));
    }
    let mut report = Report {
        skipped: errors.len(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if opts.dry_run {
        report.imported = good.len();
        report.replaced = good
            .iter()
            .filter(|r| existing.contains_key(&r.org_id))
            .count();
        report.created_orgs = good
            .iter()
            .filter(|r| !orgs.contains_key(&r.org_id))
            .count();
        return Ok(Ok(report));
    }
    progress.start("import", good.len() as u64);
    let now = vault.leases().clock_now();
    let mut seen: HashSet<OrgId> = HashSet::new();
    for chunk in good.chunks(BATCH) {
        // Set aside what each row replaces first, under the vault's lease, so no refresh races it.
        for row in chunk {
            if let Some(old) = existing.get(&row.org_id) {
                // Err: it left service meanwhile, which is what setting aside wants anyway.
                let _already = vault.set_aside(old.id).await?;
                report.replaced += 1;
            }
        }
        let txn = db.begin().await?;
        let mut events = Vec::with_capacity(chunk.len());
        for row in chunk {
            let known = orgs.get(&row.org_id);
            if known.is_none() && seen.insert(row.org_id.clone()) {
                create_org(&txn, &row.org_id, now).await?;
                report.created_orgs += 1;
            }
            let login = login_for(vault, row, known)?;
            let id = insert(&txn, vault.sealer(), row, &login, now).await?;
            events.push(NewEvent {
                at: now,
                actor: actor.clone(),
                org_id: Some(row.org_id.clone()),
                kind: "legacy.imported".into(),
                details: serde_json::json!({
                    "connection_id": id,
                    "sf_user_id": row.sf_user_id,
                    "replaced": existing.get(&row.org_id).map(|c| c.id),
                }),
            });
        }
        crate::events::record_many(&txn, events).await?;
        txn.commit().await?;
        report.imported += chunk.len();
        progress.advance(chunk.len() as u64);
    }
    progress.finish();
    if opts.activate {
        for row in &good {
            report.activated += usize::from(
                super::activate::activate_org(vault, &row.org_id, actor)
                    .await?
                    .is_ok(),
            );
        }
    }
    Ok(Ok(report))
}

/// Where a row's grant refreshes: its own `login_url`, else its org's, else the default for the
/// org's environment.
fn login_for(vault: &Vault, row: &LegacyRow, org: Option<&org::Model>) -> Result<String> {
    if let Some(l) = &row.login_url {
        return Ok(l.as_str().to_owned());
    }
    if let Some(l) = org.and_then(|o| o.login_url.as_deref()) {
        return Ok(l.to_owned());
    }
    let sf = &vault.config().salesforce;
    let sandbox = org.is_some_and(|o| o.environment == crate::types::Environment::Sandbox);
    let l = if sandbox {
        sf.sandbox_login()
    } else {
        sf.production_login()
    }
    .map_err(|e| Error::Invalid(format!("salesforce.login_url: {e}")))?;
    Ok(l.as_str().to_owned())
}

/// Stores one row, held (never heartbeated until activated), its token sealed and bound to the
/// new row's id. Returns the id.
async fn insert<C: ConnectionTrait>(
    db: &C,
    sealer: &Sealer,
    row: &LegacyRow,
    login: &str,
    now: DateTime<Utc>,
) -> Result<i64> {
    let id = crate::salesforce::IdUrl {
        url: format!(
            "{}/id/{}/{}",
            login.trim_end_matches('/'),
            row.org_id,
            row.sf_user_id
        ),
        org_id: row.org_id.clone(),
        user_id: row.sf_user_id.clone(),
    };
    let new = crate::vault::store::NewConnection {
        org_id: &row.org_id,
        app: ConnectionApp::Legacy,
        status: ConnectionStatus::Held,
        id: &id,
        instance_url: row.instance_url.as_str(),
        scopes: &row.scopes,
        access_token: None,
        refresh_token: &row.refresh_token,
        anomaly: None,
        replaces_id: None,
        heartbeat_interval: None,
        issued_at: row.issued_at,
        sf_username: row.sf_username.clone(),
    };
    Ok(crate::vault::store::insert(db, new, sealer, now).await?.id)
}

async fn create_org<C: ConnectionTrait>(db: &C, id: &OrgId, now: DateTime<Utc>) -> Result<()> {
    org::Entity::insert(org::ActiveModel {
        id: Set(id.clone()),
        name: Set(id.to_string()),
        name_lower: Set(id.to_string().to_lowercase()),
        environment: Set(crate::types::Environment::Production),
        login_url: Set(None),
        wave_id: Set(None),
        state: Set(OrgState::Pending),
        state_changed_at: Set(now),
        resume_state: Set(None),
        attention_reason: Set(None),
        attention_owner: Set(None),
        csm_email: Set(None),
        notices_paused: Set(false),
        completed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

async fn load_orgs<C: ConnectionTrait>(
    db: &C,
    ids: &[OrgId],
) -> Result<HashMap<OrgId, org::Model>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(1000) {
        for o in org::Entity::find()
            .filter(org::Column::Id.is_in(chunk.iter().map(OrgId::as_str)))
            .all(db)
            .await?
        {
            out.insert(o.id.clone(), o);
        }
    }
    Ok(out)
}

/// Each org's live legacy connection (newest), if any.
pub(crate) async fn live_legacy<C: ConnectionTrait>(
    db: &C,
    ids: &[OrgId],
) -> Result<HashMap<OrgId, connection::Model>> {
    let mut out: HashMap<OrgId, connection::Model> = HashMap::new();
    for chunk in ids.chunks(1000) {
        for c in connection::Entity::find()
            .filter(connection::Column::App.eq(ConnectionApp::Legacy))
            .filter(connection::Column::OrgId.is_in(chunk.iter().map(OrgId::as_str)))
            .all(db)
            .await?
        {
            if !c.status.is_live() {
                continue;
            }
            match out.get(&c.org_id) {
                Some(o) if o.id > c.id => {}
                _ => {
                    out.insert(c.org_id.clone(), c);
                }
            }
        }
    }
    Ok(out)
}

/// An org's newest legacy connection, whatever its status.
pub async fn newest_legacy<C: ConnectionTrait>(
    db: &C,
    org: &OrgId,
) -> Result<Option<connection::Model>> {
    use sea_orm::QueryOrder;
    Ok(connection::Entity::find()
        .filter(connection::Column::OrgId.eq(org.as_str()))
        .filter(connection::Column::App.eq(ConnectionApp::Legacy))
        .order_by_desc(connection::Column::Id)
        .one(db)
        .await?)
}
