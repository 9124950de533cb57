//! The partner's published egress ranges: what `/ip-ranges` and `/ip-ranges.json` show, what the
//! External Client App's refresh-token IP allowlist must hold, and the `ip_change` notices that
//! announce an upcoming range to every org's admin.
//!
//! Who sets what: the refresh-token IP allowlist lives in the app's settings, which the app's
//! developer owns, so the *partner* sets it once and (as far as anyone can tell: an inference from
//! Salesforce's documentation, not a documented statement) it applies in every subscriber org.
//! Customer admins set only their own org's controls: the integration user's profile *Login IP
//! Ranges* and the app's *IP Relaxation* policy.

use chrono::{DateTime, NaiveDate, Utc};
use ipnet::IpNet;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::config::{Config, PartnerConfig};
use crate::error::Result;

/// Salesforce's limits on the refresh-token IP allowlist.
pub const MAX_RANGES: usize = 128;
pub const MAX_ADDRESSES: u128 = 256;

/// One published prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Prefix {
    pub cidr: IpNet,
    /// `None`: in use now; else the day (UTC) it is used from.
    pub from: Option<NaiveDate>,
}

/// The list as published on `date`: current prefixes (including upcoming ones whose day has
/// come) and upcoming ones, each sorted.
pub fn published(p: &PartnerConfig, date: NaiveDate) -> (Vec<Prefix>, Vec<Prefix>) {
    let mut current: Vec<Prefix> = p
        .egress_ranges
        .iter()
        .map(|c| Prefix {
            cidr: *c,
            from: None,
        })
        .collect();
    let mut upcoming = Vec::new();
    for u in &p.upcoming_egress_ranges {
        if u.from <= date {
            current.push(Prefix {
                cidr: u.cidr,
                from: Some(u.from),
            });
        } else {
            upcoming.push(Prefix {
                cidr: u.cidr,
                from: Some(u.from),
            });
        }
    }
    current.sort_by_key(|p| p.cidr);
    current.dedup_by_key(|p| p.cidr);
    upcoming.sort_by_key(|p| (p.from, p.cidr));
    (current, upcoming)
}

/// Changes whenever the list does (current and upcoming, with their dates), and only then: the
/// first 16 hex digits of a SHA-256 over the canonical list.
pub fn sync_token(current: &[Prefix], upcoming: &[Prefix]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in current.iter().chain(upcoming) {
        h.update(format!(
            "{}|{}\n",
            p.cidr,
            p.from.map(|d| d.to_string()).unwrap_or_default()
        ));
    }
    crate::security::crypto::to_hex(&h.finalize()[..8])
}

/// Why the ranges do not fit the refresh-token IP allowlist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllowlistError {
    #[error(
        "{0} ranges (current and upcoming) exceed the refresh-token IP allowlist's {MAX_RANGES}"
    )]
    TooManyRanges(usize),
    #[error(
        "the ranges (current and upcoming) hold {0} addresses; the refresh-token IP allowlist takes at most {MAX_ADDRESSES} in total"
    )]
    TooManyAddresses(String),
}

/// One allowlist entry as the app's settings take it: a start and an end address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AllowlistEntry {
    pub start: std::net::IpAddr,
    pub end: std::net::IpAddr,
    pub cidr: IpNet,
    pub from: Option<NaiveDate>,
}

fn addresses(n: &IpNet) -> u128 {
    let bits = u32::from(n.max_prefix_len() - n.prefix_len());
    1u128.checked_shl(bits).unwrap_or(u128::MAX)
}

/// Every current and upcoming range as allowlist entries (upcoming ones must be on the
/// allowlist before they are used), refused past 128 ranges or 256 addresses.
pub fn allowlist(
    p: &PartnerConfig,
    date: NaiveDate,
) -> std::result::Result<Vec<AllowlistEntry>, AllowlistError> {
    let (current, upcoming) = published(p, date);
    let all: Vec<&Prefix> = current.iter().chain(&upcoming).collect();
    if all.len() > MAX_RANGES {
        return Err(AllowlistError::TooManyRanges(all.len()));
    }
    let total = all
        .iter()
        .fold(0u128, |t, p| t.saturating_add(addresses(&p.cidr)));
    if total > MAX_ADDRESSES {
        let shown = if total == u128::MAX {
            "more than 2^127".to_owned()
        } else {
            total.to_string()
        };
        return Err(AllowlistError::TooManyAddresses(shown));
    }
    Ok(all
        .into_iter()
        .map(|p| AllowlistEntry {
            start: p.cidr.network(),
            end: p.cidr.broadcast(),
            cidr: p.cidr,
            from: p.from,
        })
        .collect())
}

/// `/ip-ranges.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Document {
    pub sync_token: String,
    /// When this list was first published (first served with this sync token).
    pub created_at: DateTime<Utc>,
    pub partner: String,
    pub prefixes: Vec<JsonPrefix>,
    pub upcoming: Vec<JsonPrefix>,
    /// Where the list is explained for people.
    pub url: String,
}

/// One prefix of `/ip-ranges.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JsonPrefix {
    pub cidr: String,
    /// `outbound`: reauth's calls to Salesforce.
    pub direction: &'static str,
    /// The day (UTC) it is used from (`null`: in use).
    pub from: Option<NaiveDate>,
}

/// The document, recording when this sync token was first published.
pub async fn document<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<Document> {
    use crate::entity::published_ranges as pr;
    use sea_orm::ActiveValue::Set;
    let (current, upcoming) = published(&config.partner, now.date_naive());
    let token = sync_token(&current, &upcoming);
    pr::Entity::insert(pr::ActiveModel {
        sync_token: Set(token.clone()),
        first_published_at: Set(now),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(pr::Column::SyncToken)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let created_at = pr::Entity::find()
        .filter(pr::Column::SyncToken.eq(token.as_str()))
        .one(db)
        .await?
        .map_or(now, |r| r.first_published_at);
    let j = |p: &Prefix| JsonPrefix {
        cidr: p.cidr.to_string(),
        direction: "outbound",
        from: p.from,
    };
    Ok(Document {
        sync_token: token,
        created_at,
        partner: config.partner.name.clone(),
        prefixes: current.iter().map(j).collect(),
        upcoming: upcoming.iter().map(j).collect(),
        url: format!(
            "{}/ip-ranges",
            config.base_url.as_str().trim_end_matches('/')
        ),
    })
}

/// Queues an `ip_change` notice to every org for each upcoming range within
/// `partner.ip_change_notice` of its day: once per org and change (the notice's dedupe key), so
/// a restart or the next tick queues nothing again. Returns how many were queued.
pub async fn queue_notices<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<usize> {
    use crate::campaign::notices::{NoticeKind, Queued, enqueue};
    let lead = chrono::Duration::from_std(config.partner.ip_change_notice)
        .unwrap_or(chrono::Duration::days(14));
    let due: Vec<_> = config
        .partner
        .upcoming_egress_ranges
        .iter()
        .filter(|u| {
            let start = u.from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
            now < start && now >= start - lead
        })
        .collect();
    if due.is_empty() {
        return Ok(0);
    }
    let orgs = crate::entity::org::Entity::find().all(db).await?;
    let mut queued = 0;
    for u in due {
        for o in &orgs {
            let key = format!("{}|ip_change|{}|{}", o.id, u.cidr, u.from);
            let q: Queued = enqueue(db, &o.id, NoticeKind::IpChange, key, now).await?;
            if q.new {
                queued += 1;
            }
        }
    }
    Ok(queued)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::UpcomingRange;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn the_allowlist_holds_current_and_upcoming_ranges_within_salesforces_limits() {
        let mut p = PartnerConfig {
            egress_ranges: vec![net("203.0.113.0/28")],
            upcoming_egress_ranges: vec![UpcomingRange {
                cidr: net("198.51.100.0/29"),
                from: day("2027-01-15"),
            }],
            ..PartnerConfig::default()
        };
        let a = allowlist(&p, day("2027-01-01")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].start.to_string(), "203.0.113.0");
        assert_eq!(a[0].end.to_string(), "203.0.113.15");
        assert_eq!(a[1].from, Some(day("2027-01-15")));
        // 256 addresses is the limit; one more is refused.
        p.egress_ranges = vec![net("203.0.113.0/24")];
        assert!(matches!(
            allowlist(&p, day("2027-01-01")),
            Err(AllowlistError::TooManyAddresses(n)) if n == "264"
        ));
        p.upcoming_egress_ranges.clear();
        assert!(allowlist(&p, day("2027-01-01")).is_ok());
        p.egress_ranges = vec![net("2001:db8::/64")];
        assert!(allowlist(&p, day("2027-01-01")).is_err());
        p.egress_ranges = (0..129).map(|i| net(&format!("10.0.{i}.1/32"))).collect();
        assert_eq!(
            allowlist(&p, day("2027-01-01")),
            Err(AllowlistError::TooManyRanges(129))
        );
    }

    #[test]
    fn the_sync_token_changes_with_the_list_and_only_with_it() {
        let mut p = PartnerConfig {
            egress_ranges: vec![net("203.0.113.0/28")],
            ..PartnerConfig::default()
        };
        let t = |p: &PartnerConfig, d: &str| {
            let (c, u) = published(p, day(d));
            sync_token(&c, &u)
        };
        let a = t(&p, "2027-01-01");
        assert_eq!(a, t(&p, "2027-01-02"), "stable over time");
        p.upcoming_egress_ranges = vec![UpcomingRange {
            cidr: net("198.51.100.0/29"),
            from: day("2027-01-15"),
        }];
        let b = t(&p, "2027-01-01");
        assert_ne!(a, b, "an upcoming range changes it");
        let (current, upcoming) = published(&p, day("2027-01-15"));
        assert_eq!(
            (current.len(), upcoming.len()),
            (2, 0),
            "on its day it is current"
        );
        assert_ne!(b, t(&p, "2027-01-15"));
    }
}
