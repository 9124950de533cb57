//! What the dashboard's Security page shows: open alerts by kind, foreign uses with their
//! address and country, each connection's last check and blindness, the monitor's API calls.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::entity::{alert, monitor_state, org};
use crate::error::Result;

/// One connection as the monitor last saw it.
#[derive(Debug, Clone)]
pub struct Checked {
    pub connection_id: i64,
    pub org_id: String,
    pub org_name: String,
    pub checked_at: Option<DateTime<Utc>>,
    pub blind: bool,
    pub seen: i32,
    pub expected: i32,
    pub queries: i64,
    pub last_error: Option<String>,
}

/// The page's data.
#[derive(Debug, Clone, Default)]
pub struct SecurityView {
    /// `(kind, severity, open count)`.
    pub by_kind: Vec<(String, String, u64)>,
    /// Open alerts, newest first (at most 200).
    pub open: Vec<alert::Model>,
    /// Connections, blind ones first, then least recently checked (at most 200).
    pub connections: Vec<Checked>,
    pub connections_total: u64,
    pub blind_total: u64,
    /// LoginHistory queries the monitor has made, all connections.
    pub queries_total: i64,
}

pub async fn view<C: ConnectionTrait>(db: &C) -> Result<SecurityView> {
    let open = alert::Entity::find()
        .filter(alert::Column::ResolvedAt.is_null())
        .order_by_desc(alert::Column::CreatedAt)
        .all(db)
        .await?;
    let mut by_kind: BTreeMap<(String, String), u64> = BTreeMap::new();
    for a in &open {
        *by_kind
            .entry((a.kind.clone(), a.severity.as_str().to_owned()))
            .or_default() += 1;
    }
    let states = monitor_state::Entity::find().all(db).await?;
    let blind_total = states.iter().filter(|s| s.blind).count() as u64;
    let queries_total = states.iter().map(|s| s.queries).sum();
    let mut shown: Vec<&monitor_state::Model> = states.iter().collect();
    shown.sort_by_key(|s| (!s.blind, s.checked_at));
    shown.truncate(200);
    let ids: Vec<String> = shown.iter().map(|s| s.org_id.to_string()).collect();
    let names: BTreeMap<String, String> = org::Entity::find()
        .filter(org::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|o| (o.id.to_string(), o.name))
        .collect();
    let connections = shown
        .into_iter()
        .map(|s| Checked {
            connection_id: s.connection_id,
            org_id: s.org_id.to_string(),
            org_name: names.get(s.org_id.as_str()).cloned().unwrap_or_default(),
            checked_at: s.checked_at,
            blind: s.blind,
            seen: s.seen,
            expected: s.expected,
            queries: s.queries,
            last_error: s.last_error.clone(),
        })
        .collect();
    let connections_total = crate::entity::connection::Entity::find()
        .filter(
            crate::entity::connection::Column::Status
                .eq(crate::entity::connection::ConnectionStatus::Active),
        )
        .select_only()
        .column_as(crate::entity::connection::Column::Id.count(), "n")
        .into_tuple::<i64>()
        .one(db)
        .await?
        .unwrap_or(0) as u64;
    Ok(SecurityView {
        by_kind: by_kind.into_iter().map(|((k, s), n)| (k, s, n)).collect(),
        open: open.into_iter().take(200).collect(),
        connections,
        connections_total,
        blind_total,
        queries_total,
    })
}
