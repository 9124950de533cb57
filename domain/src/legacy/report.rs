//! Readiness: "can we remove the legacy Connected App from the package yet?" Every org falls in
//! one bucket by its legacy connection and whether an External Client App connection serves it;
//! the verdict is "ready" only when no org depends on the legacy app any more.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;

use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::entity::{org, token_usage, wave};
use crate::error::Result;
use crate::types::OrgId;

/// Where an org stands in the cut-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Imported, not handed over: the partner's services still refresh the legacy token.
    Held,
    /// The activated legacy connection is the only working one.
    LegacyOnly,
    /// Both work (the External Client App serves; legacy awaits retirement).
    Both,
    /// Only the External Client App works; the legacy grant ended otherwise than by retirement.
    EcaOnly,
    /// The legacy grant was revoked by retirement.
    Retired,
    /// Never had a legacy connection in reauth.
    NeverHadLegacy,
    /// Had a legacy connection, now nothing works: the org must consent.
    Neither,
}

impl Bucket {
    pub const ALL: [Self; 7] = [
        Self::Held,
        Self::LegacyOnly,
        Self::Both,
        Self::EcaOnly,
        Self::Retired,
        Self::NeverHadLegacy,
        Self::Neither,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::LegacyOnly => "legacy_only",
            Self::Both => "both",
            Self::EcaOnly => "eca_only",
            Self::Retired => "retired",
            Self::NeverHadLegacy => "never_had_legacy",
            Self::Neither => "neither",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Held => "held (services still refresh the legacy token)",
            Self::LegacyOnly => "legacy only",
            Self::Both => "both (awaiting retirement)",
            Self::EcaOnly => "External Client App only",
            Self::Retired => "legacy retired",
            Self::NeverHadLegacy => "never had legacy",
            Self::Neither => "no working connection",
        }
    }

    /// Whether an org in this bucket still depends on the legacy Connected App.
    pub fn depends_on_legacy(self) -> bool {
        matches!(self, Self::Held | Self::LegacyOnly | Self::Both)
    }
}

/// An org that still depends on the legacy app.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StillOnLegacy {
    pub org_id: OrgId,
    pub name: String,
    pub bucket: Bucket,
    pub legacy_status: ConnectionStatus,
    pub wave: Option<String>,
    pub deadline: Option<DateTime<Utc>>,
    pub csm_email: Option<String>,
    /// The last hour in which the token API handed out a legacy token for it.
    pub last_legacy_served: Option<DateTime<Utc>>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub counts: Vec<(Bucket, usize)>,
    pub still_on_legacy: Vec<StillOnLegacy>,
    pub ready: bool,
    pub verdict: String,
    pub warning: &'static str,
}

/// Deleting is final; the report says so every time.
pub const WARNING: &str = "Removing the legacy Connected App from the package and deleting it is final: a deleted Connected App cannot be brought back, and every token it issued stops working.";

/// Which bucket an org's connections put it in.
pub fn bucket(conns: &[&connection::Model]) -> Bucket {
    let legacy: Vec<_> = conns
        .iter()
        .filter(|c| c.app == ConnectionApp::Legacy)
        .collect();
    let eca_serves = conns.iter().any(|c| {
        c.app == ConnectionApp::Eca
            && (c.status == ConnectionStatus::Active
                || (c.status == ConnectionStatus::Refreshing
                    && crate::vault::lease::resting_status(c) == ConnectionStatus::Active))
    });
    if legacy.is_empty() {
        return Bucket::NeverHadLegacy;
    }
    if legacy.iter().any(|c| c.status == ConnectionStatus::Held) {
        return Bucket::Held;
    }
    if legacy.iter().any(|c| c.status.is_live()) {
        return if eca_serves {
            Bucket::Both
        } else {
            Bucket::LegacyOnly
        };
    }
    if legacy.iter().any(|c| c.status == ConnectionStatus::Revoked) {
        return Bucket::Retired;
    }
    if eca_serves {
        Bucket::EcaOnly
    } else {
        Bucket::Neither
    }
}

/// Builds the report from the registry.
pub async fn readiness(db: &sea_orm::DatabaseConnection) -> Result<Readiness> {
    let orgs = org::Entity::find().all(db).await?;
    let conns = connection::Entity::find().all(db).await?;
    let waves: HashMap<i64, wave::Model> = wave::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|w| (w.id, w))
        .collect();
    let mut by_org: HashMap<&OrgId, Vec<&connection::Model>> = HashMap::new();
    for c in &conns {
        by_org.entry(&c.org_id).or_default().push(c);
    }
    let served: HashMap<OrgId, DateTime<Utc>> = token_usage::Entity::find()
        .select_only()
        .column(token_usage::Column::OrgId)
        .column_as(token_usage::Column::Hour.max(), "hour")
        .filter(token_usage::Column::App.eq(ConnectionApp::Legacy))
        .group_by(token_usage::Column::OrgId)
        .into_tuple::<(OrgId, DateTime<Utc>)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let mut counts: HashMap<Bucket, usize> = HashMap::new();
    let mut still = Vec::new();
    for o in &orgs {
        let cs = by_org.get(&o.id).map(Vec::as_slice).unwrap_or_default();
        let b = bucket(cs);
        *counts.entry(b).or_default() += 1;
        if b.depends_on_legacy() {
            let legacy_status = cs
                .iter()
                .filter(|c| c.app == ConnectionApp::Legacy && c.status.is_live())
                .map(|c| c.status)
                .next()
                .unwrap_or(ConnectionStatus::Held);
            let w = o.wave_id.and_then(|id| waves.get(&id));
            still.push(StillOnLegacy {
                org_id: o.id.clone(),
                name: o.name.clone(),
                bucket: b,
                legacy_status,
                wave: w.map(|w| w.name.clone()),
                deadline: w.and_then(|w| w.deadline),
                csm_email: o.csm_email.clone(),
                last_legacy_served: served.get(&o.id).copied(),
            });
        }
    }
    still.sort_by(|a, b| {
        (a.deadline.is_none(), a.deadline, &a.org_id).cmp(&(
            b.deadline.is_none(),
            b.deadline,
            &b.org_id,
        ))
    });
    let n = |b| counts.get(&b).copied().unwrap_or(0);
    let depends = n(Bucket::Held) + n(Bucket::LegacyOnly) + n(Bucket::Both);
    let ready = depends == 0;
    let verdict = if ready {
        format!(
            "ready: no org depends on the legacy Connected App ({} retired, {} on the External Client App only, {} never had legacy, {} with no working connection)",
            n(Bucket::Retired),
            n(Bucket::EcaOnly),
            n(Bucket::NeverHadLegacy),
            n(Bucket::Neither)
        )
    } else {
        format!(
            "not ready: {} still {} on the legacy app ({} held, {} legacy only, {} awaiting retirement)",
            crate::wording::count(depends as u64, "org"),
            if depends == 1 { "depends" } else { "depend" },
            n(Bucket::Held),
            n(Bucket::LegacyOnly),
            n(Bucket::Both)
        )
    };
    Ok(Readiness {
        counts: Bucket::ALL.iter().map(|b| (*b, n(*b))).collect(),
        still_on_legacy: still,
        ready,
        verdict,
        warning: WARNING,
    })
}
