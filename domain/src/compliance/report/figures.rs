//! The report's figures, one function each, read from reauth's own tables.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::IpNet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use secrecy::ExposeSecret as _;

use super::{Age, AtRest, Egress, Idle, Period, SealedTable, Share, Staff, Verdict};
use crate::alerts::Severity;
use crate::config::Config;
use crate::entity::connection::{self, ConnectionApp, ConnectionStatus};
use crate::entity::{alert, event, exchange, notice, staff_user};
use crate::error::Result;

/// The consent events of the period: `details.pkce` is the PKCE method the consent used
/// (recorded since the vault-integrity release; older events say nothing).
pub(super) async fn pkce<C: ConnectionTrait>(db: &C, period: &Period) -> Result<Share> {
    let rows = event::Entity::find()
        .filter(event::Column::Kind.eq("consent.completed"))
        .filter(event::Column::At.gte(period.from))
        .filter(event::Column::At.lt(period.to))
        .all(db)
        .await?;
    let (mut yes, mut no, mut unknown) = (0, 0, 0);
    for e in rows {
        match e.details.get("pkce").and_then(|v| v.as_str()) {
            Some("S256") => yes += 1,
            Some(_) => no += 1,
            None => unknown += 1,
        }
    }
    Ok(Share::all_must(yes, no, unknown))
}

/// Successful refreshes of `app` in the period, and whether Salesforce's answer carried a new
/// refresh token (`exchanges.rotated`, recorded since migration 12).
pub(super) async fn rotation<C: ConnectionTrait>(
    db: &C,
    period: &Period,
    app: ConnectionApp,
) -> Result<Share> {
    let rows = exchange::Entity::find()
        .filter(exchange::Column::App.eq(app))
        .filter(exchange::Column::Outcome.eq("ok"))
        .filter(exchange::Column::At.gte(period.from))
        .filter(exchange::Column::At.lt(period.to))
        .all(db)
        .await?;
    let (mut yes, mut no, mut unknown) = (0, 0, 0);
    for e in rows {
        match e.rotated {
            Some(true) => yes += 1,
            Some(false) => no += 1,
            None => unknown += 1,
        }
    }
    Ok(Share::all_must(yes, no, unknown))
}

fn days(secs: i64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "seconds of a gap stay far below 2^52"
    )]
    let d = secs as f64 / 86_400.0;
    (d * 10.0).round() / 10.0
}

/// The idle gaps of External Client App connections that overlap the period.
pub(super) async fn idle<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    period: &Period,
    now: DateTime<Utc>,
) -> Result<Idle> {
    let timeout = i64::try_from(config.heartbeat.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let near = timeout.saturating_sub(3 * 86_400);
    let conns = connection::Entity::find()
        .filter(connection::Column::App.eq(ConnectionApp::Eca))
        .filter(connection::Column::Status.ne(ConnectionStatus::Held))
        .filter(connection::Column::CreatedAt.lt(period.to))
        .all(db)
        .await?;
    let mut uses: BTreeMap<i64, Vec<DateTime<Utc>>> = BTreeMap::new();
    for e in exchange::Entity::find()
        .filter(exchange::Column::App.eq(ConnectionApp::Eca))
        .filter(exchange::Column::Outcome.eq("ok"))
        .filter(exchange::Column::At.lt(period.to))
        .order_by_asc(exchange::Column::At)
        .all(db)
        .await?
    {
        uses.entry(e.connection_id).or_default().push(e.at);
    }
    let end = Ord::min(now, period.to);
    let mut out = Idle {
        connections: 0,
        longest_secs: None,
        longest_days: None,
        longest_connection_id: None,
        longest_org_id: None,
        timeout_days: days(timeout),
        near_days: days(near),
        near_limit: 0,
        verdict: Verdict::NoData,
    };
    for c in conns {
        let mut points = uses.remove(&c.id).unwrap_or_default();
        points.push(c.created_at);
        if c.last_exchange_at < period.to {
            points.push(c.last_exchange_at);
        }
        points.sort();
        points.dedup();
        let mut gaps: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            points.windows(2).map(|w| (w[0], w[1])).collect();
        if c.status.is_live()
            && let Some(last) = points.last().copied()
            && last < end
        {
            gaps.push((last, end));
        }
        let longest = gaps
            .iter()
            .filter(|(a, b)| *b > period.from && *a < period.to)
            .map(|(a, b)| (*b - *a).num_seconds())
            .max();
        let Some(longest) = longest else { continue };
        out.connections += 1;
        if longest >= near {
            out.near_limit += 1;
        }
        if out.longest_secs.is_none_or(|l| longest > l) {
            out.longest_secs = Some(longest);
            out.longest_days = Some(days(longest));
            out.longest_connection_id = Some(c.id);
            out.longest_org_id = Some(c.org_id.to_string());
        }
    }
    out.verdict = match out.longest_secs {
        None => Verdict::NoData,
        Some(l) if l >= timeout || out.near_limit > 0 => Verdict::Fail,
        Some(_) => Verdict::Pass,
    };
    Ok(out)
}

/// reauth's exchanges in the period whose source address the monitor found in LoginHistory,
/// inside or outside the published egress ranges.
pub(super) async fn egress<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    period: &Period,
) -> Result<Egress> {
    let rows = exchange::Entity::find()
        .filter(exchange::Column::Outcome.is_in(["ok", "refused", "restricted_ip"]))
        .filter(exchange::Column::At.gte(period.from))
        .filter(exchange::Column::At.lt(period.to))
        .all(db)
        .await?;
    let ranges: &[IpNet] = &config.partner.egress_ranges;
    let (mut inside, mut outside, mut unknown) = (0, 0, 0);
    let mut outside_ips = BTreeSet::new();
    for e in &rows {
        let ip = e
            .egress_ip
            .as_deref()
            .and_then(|s| s.parse::<std::net::IpAddr>().ok());
        match ip {
            Some(ip) if !ranges.is_empty() => {
                if ranges.iter().any(|r| r.contains(&ip)) {
                    inside += 1;
                } else {
                    outside += 1;
                    outside_ips.insert(ip.to_string());
                }
            }
            _ => unknown += 1,
        }
    }
    Ok(Egress {
        exchanges: u64::try_from(rows.len()).unwrap_or(u64::MAX),
        share: Share::all_must(inside, outside, unknown),
        outside_ips: outside_ips.into_iter().collect(),
        ranges: ranges.iter().map(ToString::to_string).collect(),
        monitor_enabled: config.monitor.enabled,
    })
}

fn configured_key_ids(config: &Config) -> BTreeSet<String> {
    config
        .crypto
        .keys
        .iter()
        .filter_map(|k| crate::config::parse_key(k.expose_secret()).ok())
        .map(|(id, _)| id)
        .collect()
}

/// Counts one table's rows that hold a secret, by the key id they are sealed under.
fn tally<'a>(
    table: &'static str,
    rows: impl Iterator<Item = Option<&'a str>>,
    keys: &BTreeSet<String>,
) -> SealedTable {
    let mut t = SealedTable {
        table,
        sealed: 0,
        unsealed: 0,
        unknown_key: 0,
        by_key: Vec::new(),
    };
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for key in rows {
        match key {
            None => t.unsealed += 1,
            Some(k) => {
                *by.entry(k.to_owned()).or_default() += 1;
                if keys.contains(k) {
                    t.sealed += 1;
                } else {
                    t.unknown_key += 1;
                }
            }
        }
    }
    t.by_key = by.into_iter().collect();
    t
}

/// Secrets at rest: connection tokens, parked tokens, notice links, staff two-factor secrets.
pub(super) async fn at_rest<C: ConnectionTrait>(db: &C, config: &Config) -> Result<AtRest> {
    let keys = configured_key_ids(config);
    let conns = connection::Entity::find().all(db).await?;
    let notices = notice::Entity::find()
        .filter(notice::Column::LinkSecretCt.is_not_null())
        .all(db)
        .await?;
    let staff = staff_user::Entity::find()
        .filter(staff_user::Column::TotpSecretCt.is_not_null())
        .all(db)
        .await?;
    let tables = vec![
        tally(
            "connections",
            conns
                .iter()
                .filter(|c| c.refresh_token_ct.is_some() || c.access_token_ct.is_some())
                .map(|c| c.key_id.as_deref()),
            &keys,
        ),
        tally(
            "connections (parked tokens)",
            conns
                .iter()
                .filter(|c| c.pending_refresh_token_ct.is_some())
                .map(|c| c.pending_key_id.as_deref()),
            &keys,
        ),
        tally(
            "notices",
            notices.iter().map(|n| n.key_id.as_deref()),
            &keys,
        ),
        tally(
            "staff_users",
            staff.iter().map(|s| s.key_id.as_deref()),
            &keys,
        ),
    ];
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for (k, n) in tables.iter().flat_map(|t| t.by_key.iter()) {
        *by.entry(k.clone()).or_default() += n;
    }
    let sealed = tables.iter().map(|t| t.sealed).sum();
    let unsealed = tables.iter().map(|t| t.unsealed).sum();
    let unknown_key = tables.iter().map(|t| t.unknown_key).sum();
    Ok(AtRest {
        verdict: match (sealed, unsealed + unknown_key) {
            (0, 0) => Verdict::NoData,
            (_, 0) => Verdict::Pass,
            _ => Verdict::Fail,
        },
        tables,
        sealed,
        unsealed,
        unknown_key,
        by_key: by.into_iter().collect(),
    })
}

/// Staff users that are not disabled, and which of them have a second factor.
pub(super) async fn staff<C: ConnectionTrait>(db: &C) -> Result<Staff> {
    let users: Vec<staff_user::Model> = crate::staff::list(db)
        .await?
        .into_iter()
        .filter(|u| u.disabled_at.is_none())
        .collect();
    let without: Vec<String> = users
        .iter()
        .filter(|u| u.totp_enrolled_at.is_none() || u.totp_secret_ct.is_none())
        .map(|u| u.email.clone())
        .collect();
    let active = u64::try_from(users.len()).unwrap_or(u64::MAX);
    let missing = u64::try_from(without.len()).unwrap_or(u64::MAX);
    Ok(Staff {
        active,
        with_two_factor: active - missing,
        verdict: match (active, missing) {
            (0, _) => Verdict::NoData,
            (_, 0) => Verdict::Pass,
            _ => Verdict::Fail,
        },
        without,
    })
}

fn every_days(every: std::time::Duration) -> i64 {
    i64::try_from(every.as_secs() / 86_400).unwrap_or(i64::MAX)
}

fn age(
    subject: &str,
    rotated_key: &str,
    newest: Option<String>,
    rotated_at: Option<NaiveDate>,
    every: std::time::Duration,
    today: NaiveDate,
) -> Age {
    let every_days = every_days(every);
    let due = rotated_at.and_then(|d| d.checked_add_signed(chrono::Duration::days(every_days)));
    Age {
        subject: subject.to_owned(),
        rotated_key: rotated_key.to_owned(),
        verdict: match (&newest, due) {
            (None, _) | (_, None) => Verdict::NoData,
            (Some(_), Some(d)) if d < today => Verdict::Fail,
            _ => Verdict::Pass,
        },
        newest,
        age_days: rotated_at.map(|d| (today - d).num_days()),
        rotated_at,
        every_days,
        due,
    }
}

/// The client secrets' ages against `rotate_every` (newest by fingerprint).
pub(super) async fn client_secrets<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    today: NaiveDate,
) -> Result<Vec<Age>> {
    Ok(crate::security::secrets::status(db, config, today)
        .await?
        .into_iter()
        .map(|s| {
            let (section, every) = match s.app {
                ConnectionApp::Eca => ("salesforce", config.salesforce.rotate_every),
                ConnectionApp::Legacy => ("legacy", config.legacy.rotate_every),
            };
            age(
                &format!("{}_client_secret", s.app),
                &format!("{section}.secret_rotated_at"),
                s.configured.last().cloned(),
                s.rotated_at,
                every,
                today,
            )
        })
        .collect())
}

/// The newest encryption key's age against `crypto.rotate_every`.
pub(super) fn encryption_key(config: &Config, today: NaiveDate) -> Age {
    let newest = config
        .crypto
        .keys
        .last()
        .and_then(|k| crate::config::parse_key(k.expose_secret()).ok())
        .map(|(id, _)| id);
    age(
        "encryption_key",
        "crypto.key_rotated_at",
        newest,
        config.crypto.key_rotated_at,
        config.crypto.rotate_every,
        today,
    )
}

/// Open (unresolved) critical alerts, per kind.
pub(super) async fn alerts<C: ConnectionTrait>(db: &C) -> Result<super::Alerts> {
    let open = alert::Entity::find()
        .filter(alert::Column::Severity.eq(Severity::Critical))
        .filter(alert::Column::ResolvedAt.is_null())
        .all(db)
        .await?;
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for a in &open {
        *kinds.entry(a.kind.clone()).or_default() += 1;
    }
    let n = u64::try_from(open.len()).unwrap_or(u64::MAX);
    Ok(super::Alerts {
        open_critical: n,
        acknowledged: u64::try_from(open.iter().filter(|a| a.acknowledged_at.is_some()).count())
            .unwrap_or(u64::MAX),
        kinds: kinds.into_iter().collect(),
        verdict: if n == 0 { Verdict::Pass } else { Verdict::Fail },
    })
}
