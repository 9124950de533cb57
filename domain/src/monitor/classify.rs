//! Telling reauth's own LoginHistory rows from anyone else's: a pure function of the rows, the
//! exchanges reauth recorded, what calibration learned, and the partner's egress ranges.

use chrono::{DateTime, Utc};
use ipnet::IpNet;

use crate::salesforce::LoginRow;

/// `LoginHistory.Status` of a successful login.
pub const SUCCESS: &str = "Success";
/// `LoginHistory.Status` of a login refused by an IP restriction.
pub const RESTRICTED_IP: &str = "Restricted IP";

/// An exchange reauth made, as recorded by the vault.
#[derive(Debug, Clone)]
pub struct Ours {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `ok` | `restricted_ip` | `refused` | `failed`
    pub outcome: String,
}

impl From<&crate::entity::exchange::Model> for Ours {
    fn from(e: &crate::entity::exchange::Model) -> Self {
        Self {
            id: e.id,
            at: e.at,
            outcome: e.outcome.clone(),
        }
    }
}

/// What one row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finding {
    /// One of our exchanges, from our ranges.
    Ours { exchange: i64 },
    /// One of our exchanges, from outside `partner.egress_ranges`.
    OutOfRange { exchange: i64 },
    /// Our own refresh refused with `Restricted IP` (matched, or from our ranges).
    Refused,
    /// A successful refresh of our app that reauth did not make.
    ForeignUse,
    /// A failed refresh of our app from outside our ranges.
    ForeignUseAttempt,
    /// A failed row from our ranges that matches no exchange (a duplicate request of ours).
    Unclaimed,
    /// Another app's row, or another kind of login of ours (the consent's code exchange).
    Other,
    /// Not classified: calibration has not learned our rows' shape yet.
    Uncalibrated,
}

impl Finding {
    /// The `finding` label of `reauth_monitor_rows_total`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ours { .. } => "ours",
            Self::OutOfRange { .. } => "egress.out_of_range",
            Self::Refused => "egress.refused",
            Self::ForeignUse => "token.foreign_use",
            Self::ForeignUseAttempt => "token.foreign_use_attempt",
            Self::Unclaimed => "unclaimed",
            Self::Other => "other",
            Self::Uncalibrated => "uncalibrated",
        }
    }
}

/// What calibration knows of our rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    pub application: Option<String>,
    pub login_sub_type: Option<String>,
}

/// The classification of a batch of rows.
#[derive(Debug, Clone)]
pub struct Classified {
    pub shape: Shape,
    /// One finding per row, in row order.
    pub findings: Vec<Finding>,
}

fn compatible(outcome: &str, status: &str) -> bool {
    match outcome {
        "ok" => status == SUCCESS,
        "restricted_ip" => status == RESTRICTED_IP,
        "refused" => status != SUCCESS && status != RESTRICTED_IP,
        _ => false,
    }
}

/// Whether `ip` is in one of `ranges` (an unparsable address is in none).
pub fn in_ranges(ip: &str, ranges: &[IpNet]) -> bool {
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| ranges.iter().any(|r| r.contains(&a)))
}

/// Matches our exchanges to rows (each to at most one, the closest in time within `window`
/// with a compatible status, rows from our ranges first), learns the shape of our rows from the
/// matches when it is not known yet, and classifies every row.
pub fn classify(
    rows: &[LoginRow],
    exchanges: &[Ours],
    known: &Shape,
    ranges: &[IpNet],
    window: chrono::Duration,
) -> Classified {
    let fits = |r: &LoginRow, shape: &Shape| {
        shape
            .application
            .as_ref()
            .is_none_or(|a| *a == r.application)
            && shape
                .login_sub_type
                .as_ref()
                .is_none_or(|s| *s == r.login_sub_type)
    };
    let mut matched: Vec<Option<i64>> = vec![None; rows.len()];
    let mut exchanges: Vec<&Ours> = exchanges.iter().collect();
    exchanges.sort_by_key(|e| e.at);
    // Successful refreshes first: they teach the shape.
    for e in &exchanges {
        let best = rows
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                matched[*i].is_none()
                    && compatible(&e.outcome, &r.status)
                    && (r.login_time - e.at).abs() <= window
                    && fits(r, known)
            })
            .min_by_key(|(_, r)| {
                (
                    !in_ranges(&r.source_ip, ranges),
                    (r.login_time - e.at).abs(),
                )
            })
            .map(|(i, _)| i);
        if let Some(i) = best {
            matched[i] = Some(e.id);
        }
    }
    let mut shape = known.clone();
    if shape.application.is_none() {
        shape.application = most_common(
            rows.iter()
                .zip(&matched)
                .filter(|(_, m)| m.is_some())
                .map(|(r, _)| r.application.as_str()),
        );
    }
    if shape.login_sub_type.is_none() {
        shape.login_sub_type = most_common(
            rows.iter()
                .zip(&matched)
                .filter(|(r, m)| m.is_some() && r.status == SUCCESS)
                .map(|(r, _)| r.login_sub_type.as_str()),
        );
    }
    let calibrated = shape.application.is_some() && shape.login_sub_type.is_some();
    let findings = rows
        .iter()
        .zip(&matched)
        .map(|(r, m)| {
            if !calibrated {
                return Finding::Uncalibrated;
            }
            if !fits(r, &shape) {
                return Finding::Other;
            }
            let ours_ip = ranges.is_empty() || in_ranges(&r.source_ip, ranges);
            match m {
                Some(exchange) if !ours_ip => Finding::OutOfRange {
                    exchange: *exchange,
                },
                Some(_) if r.status == RESTRICTED_IP => Finding::Refused,
                Some(exchange) => Finding::Ours {
                    exchange: *exchange,
                },
                None if r.status == SUCCESS => Finding::ForeignUse,
                None if ours_ip && r.status == RESTRICTED_IP => Finding::Refused,
                None if ours_ip => Finding::Unclaimed,
                None => Finding::ForeignUseAttempt,
            }
        })
        .collect();
    Classified { shape, findings }
}

fn most_common<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .map(|(v, _)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn row(secs: i64, ip: &str, status: &str, app: &str, sub: &str) -> LoginRow {
        LoginRow {
            id: format!("0Ya{secs}"),
            login_time: t(secs),
            source_ip: ip.into(),
            status: status.into(),
            application: app.into(),
            login_sub_type: sub.into(),
            country_iso: Some("US".into()),
        }
    }

    fn ours(id: i64, secs: i64, outcome: &str) -> Ours {
        Ours {
            id,
            at: t(secs),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn our_rows_teach_the_shape_and_everything_else_is_found() {
        let ranges: Vec<IpNet> = vec!["203.0.113.0/28".parse().unwrap_or_else(|_| unreachable!())];
        let rows = vec![
            // The consent's code exchange: our app, another kind of login.
            row(0, "203.0.113.2", SUCCESS, "Reauth", "OauthWebServer"),
            row(100, "203.0.113.2", SUCCESS, "Reauth", "OauthRefreshToken"),
            // A thief, close in time to our exchange: ours is the one from our ranges.
            row(101, "198.51.100.7", SUCCESS, "Reauth", "OauthRefreshToken"),
            row(
                300,
                "198.51.100.7",
                "Invalid client credentials",
                "Reauth",
                "OauthRefreshToken",
            ),
            row(
                400,
                "198.51.100.8",
                RESTRICTED_IP,
                "Reauth",
                "OauthRefreshToken",
            ),
            // Another integration of the same user.
            row(500, "192.0.2.1", SUCCESS, "Other App", "OauthRefreshToken"),
            // Our exchange from an address outside our ranges.
            row(600, "192.0.2.9", SUCCESS, "Reauth", "OauthRefreshToken"),
        ];
        let got = classify(
            &rows,
            &[ours(1, 99, "ok"), ours(2, 598, "ok")],
            &Shape::default(),
            &ranges,
            chrono::Duration::seconds(120),
        );
        assert_eq!(got.shape.application.as_deref(), Some("Reauth"));
        assert_eq!(
            got.shape.login_sub_type.as_deref(),
            Some("OauthRefreshToken")
        );
        assert_eq!(
            got.findings,
            vec![
                Finding::Other,
                Finding::Ours { exchange: 1 },
                Finding::ForeignUse,
                Finding::ForeignUseAttempt,
                Finding::ForeignUseAttempt,
                Finding::Other,
                Finding::OutOfRange { exchange: 2 },
            ]
        );
    }

    #[test]
    fn without_a_match_nothing_is_judged() {
        let rows = vec![row(
            0,
            "198.51.100.7",
            SUCCESS,
            "Reauth",
            "OauthRefreshToken",
        )];
        let got = classify(
            &rows,
            &[],
            &Shape::default(),
            &[],
            chrono::Duration::seconds(120),
        );
        assert_eq!(got.findings, vec![Finding::Uncalibrated]);
    }
}

#[cfg(test)]
mod skew {
    use super::*;
    use rand::Rng as _;

    /// 1,000 heartbeat exchanges, each row up to ±45 s from its exchange (clock skew and
    /// latency), with another app's rows in between: every one is ours, none is a finding.
    #[test]
    fn no_false_positive_over_a_thousand_exchanges_with_normal_skew() {
        let mut rng = rand::thread_rng();
        let base = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let ranges: Vec<IpNet> = vec!["203.0.113.0/28".parse().unwrap_or_else(|_| unreachable!())];
        let mut rows = Vec::new();
        let mut ours = Vec::new();
        for i in 0..1000i64 {
            let at = base + chrono::Duration::seconds(i * 600);
            ours.push(Ours {
                id: i,
                at,
                outcome: "ok".into(),
            });
            rows.push(LoginRow {
                id: format!("a{i}"),
                login_time: at + chrono::Duration::milliseconds(rng.gen_range(-45_000..45_000)),
                source_ip: format!("203.0.113.{}", rng.gen_range(1..15)),
                status: SUCCESS.into(),
                application: "Reauth".into(),
                login_sub_type: "OauthRefreshToken".into(),
                country_iso: Some("US".into()),
            });
            rows.push(LoginRow {
                id: format!("b{i}"),
                login_time: at + chrono::Duration::seconds(rng.gen_range(-60..60)),
                source_ip: "192.0.2.1".into(),
                status: SUCCESS.into(),
                application: "Other Integration".into(),
                login_sub_type: "OauthRefreshToken".into(),
                country_iso: Some("US".into()),
            });
        }
        rows.sort_by_key(|r| r.login_time);
        let known = Shape {
            application: Some("Reauth".into()),
            login_sub_type: Some("OauthRefreshToken".into()),
        };
        let got = classify(
            &rows,
            &ours,
            &known,
            &ranges,
            chrono::Duration::seconds(120),
        );
        let ours_found = got
            .findings
            .iter()
            .filter(|f| matches!(f, Finding::Ours { .. }))
            .count();
        let other = got
            .findings
            .iter()
            .filter(|f| **f == Finding::Other)
            .count();
        assert_eq!((ours_found, other), (1000, 1000));
    }
}
