//! Pre-flight: before an org's wave sends its first notice, reauth uses the org's activated
//! legacy connection to ask whether the org can consent at all — is the package version that
//! contains the External Client App installed (`InstalledSubscriberPackage` through the Tooling
//! API)? The connection's user being active is shown by the exchange that gives the access token
//! working. An org without the package gets an "install version X first" notice and waits in
//! `needs_attention` (owner: customer) instead of receiving a link that cannot succeed; once the
//! package is there it resumes and the campaign sends its link.
//!
//! Runs only with `legacy.package_id` set, on the campaign job's tick, before the scheduler.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::campaign::notices::{self, NoticeKind};
use crate::entity::connection::{ConnectionApp, ConnectionStatus};
use crate::entity::{org, wave};
use crate::error::Result;
use crate::events::{self, Actor};
use crate::registry::state::{self, Change, OrgState};
use crate::types::OrgId;
use crate::vault::{Vault, store};

/// What a pre-flight found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Finding {
    /// The package version is installed: the org can consent.
    Ready { version: String },
    /// It is missing or too old.
    Blocked { reason: String },
    /// The org could not be asked (no activated legacy connection, Salesforce unavailable).
    Unknown { reason: String },
}

/// How often an org that could not be asked, or was blocked, is asked again.
const RECHECK: chrono::Duration = chrono::Duration::hours(6);

/// `1.4` or `1.4.2` → (1, 4, 2).
fn version(s: &str) -> Option<(u64, u64, u64)> {
    let mut it = s.trim().split('.').map(|p| p.parse::<u64>());
    let major = it.next()?.ok()?;
    let minor = it.next().unwrap_or(Ok(0)).ok()?;
    let patch = it.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// Asks one org through its activated legacy connection.
#[tracing::instrument(skip_all, fields(org_id = %org))]
pub async fn check(vault: &Vault, org: &OrgId) -> Result<Finding> {
    let cfg = &vault.config().legacy;
    let Some(package) = cfg.package_id.as_deref() else {
        return Ok(Finding::Unknown {
            reason: "legacy.package_id is not set".into(),
        });
    };
    let wanted = cfg
        .package_min_version
        .as_deref()
        .and_then(version)
        .unwrap_or((0, 0, 0));
    let conns = store::find(
        vault.db(),
        org,
        ConnectionApp::Legacy,
        &[ConnectionStatus::Active],
    )
    .await?;
    let Some(c) = conns.into_iter().next() else {
        return Ok(Finding::Unknown {
            reason: "no activated legacy connection to ask with".into(),
        });
    };
    let token = match vault.access_token_for(c.id).await? {
        Ok(t) => t,
        Err(e) => {
            return Ok(Finding::Unknown {
                reason: e.to_string(),
            });
        }
    };
    let q = "SELECT SubscriberPackageId, SubscriberPackageVersion.MajorVersion, SubscriberPackageVersion.MinorVersion, SubscriberPackageVersion.PatchVersion FROM InstalledSubscriberPackage";
    let url = format!(
        "{}/services/data/v{}/tooling/query",
        token.instance_url.trim_end_matches('/'),
        vault.config().salesforce.api_version
    );
    let res = vault
        .sf()
        .http
        .get(url)
        .query(&[("q", q)])
        .bearer_auth(token.token.expose_secret())
        .send()
        .await;
    let body: serde_json::Value = match res {
        Ok(r) if r.status().is_success() => match r.json().await {
            Ok(b) => b,
            Err(e) => {
                return Ok(Finding::Unknown {
                    reason: format!("the Tooling API answered something unreadable: {e}"),
                });
            }
        },
        Ok(r) => {
            return Ok(Finding::Unknown {
                reason: format!("the Tooling API answered {}", r.status()),
            });
        }
        Err(e) => {
            return Ok(Finding::Unknown {
                reason: format!("the Tooling API could not be reached: {e}"),
            });
        }
    };
    // Salesforce ids are compared on their first 15 characters (the 18-character form adds a
    // case checksum).
    let same = |id: &str| id.get(..15) == package.get(..15);
    let installed = body["records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["SubscriberPackageId"].as_str().is_some_and(same))
        .filter_map(|r| {
            let v = &r["SubscriberPackageVersion"];
            Some((
                v["MajorVersion"].as_u64()?,
                v["MinorVersion"].as_u64().unwrap_or(0),
                v["PatchVersion"].as_u64().unwrap_or(0),
            ))
        })
        .max();
    let show = |(a, b, c): (u64, u64, u64)| format!("{a}.{b}.{c}");
    Ok(match installed {
        Some(v) if v >= wanted => Finding::Ready { version: show(v) },
        Some(v) => Finding::Blocked {
            reason: format!(
                "version {} of the package is installed; version {} or later contains the External Client App",
                show(v),
                show(wanted)
            ),
        },
        None => Finding::Blocked {
            reason: "the package that contains the External Client App is not installed".into(),
        },
    })
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pass {
    pub ready: usize,
    pub blocked: usize,
    pub unknown: usize,
}

/// Checks the orgs of started waves that have not been told yet (state `pending`) or wait for
/// the package (`needs_attention` for it), and records each finding on the org. A blocked org
/// gets the install notice once and waits; a ready one resumes.
pub async fn run(vault: &Vault, now: DateTime<Utc>) -> Result<Pass> {
    let mut pass = Pass::default();
    if vault.config().legacy.package_id.is_none() {
        return Ok(pass);
    }
    let db = vault.db();
    let started: Vec<i64> = wave::Entity::find()
        .filter(wave::Column::StartsAt.lte(now))
        .all(db)
        .await?
        .into_iter()
        .map(|w| w.id)
        .collect();
    if started.is_empty() {
        return Ok(pass);
    }
    let orgs = org::Entity::find()
        .filter(org::Column::WaveId.is_in(started))
        .filter(org::Column::State.is_in([OrgState::Pending, OrgState::NeedsAttention]))
        .all(db)
        .await?;
    for o in orgs {
        let waiting = o.state == OrgState::NeedsAttention
            && o.preflight
                .as_deref()
                .is_some_and(|p| p.starts_with("blocked"));
        if o.state == OrgState::NeedsAttention && !waiting {
            continue;
        }
        if o.preflight_at.is_some_and(|t| now - t < RECHECK) {
            continue;
        }
        let finding = check(vault, &o.id).await?;
        let text = match &finding {
            Finding::Ready { version } => format!("ok: version {version} installed"),
            Finding::Blocked { reason } => format!("blocked: {reason}"),
            Finding::Unknown { reason } => format!("unknown: {reason}"),
        };
        org::Entity::update(org::ActiveModel {
            id: Set(o.id.clone()),
            preflight: Set(Some(text.clone())),
            preflight_at: Set(Some(now)),
            ..Default::default()
        })
        .exec(db)
        .await?;
        match finding {
            Finding::Ready { .. } => {
                pass.ready += 1;
                if waiting {
                    state::apply(db, &o.id, Change::Resume, &Actor::System, now).await?;
                }
            }
            Finding::Blocked { reason } => {
                pass.blocked += 1;
                if !waiting {
                    let v = vault
                        .config()
                        .legacy
                        .package_min_version
                        .clone()
                        .unwrap_or_default();
                    notices::enqueue(
                        db,
                        &o.id,
                        NoticeKind::InstallPackage,
                        format!("{}|install_package|{v}", o.id),
                        now,
                    )
                    .await?;
                    let why = format!(
                        "blocked by pre-flight: {reason}; the admin was asked to install the package first"
                    );
                    state::needs_attention(db, &o.id, why, "customer", now).await?;
                    events::record_system(
                        db,
                        now,
                        &o.id,
                        "legacy.preflight_blocked",
                        serde_json::json!({ "reason": reason }),
                    )
                    .await?;
                }
            }
            Finding::Unknown { .. } => pass.unknown += 1,
        }
    }
    Ok(pass)
}
