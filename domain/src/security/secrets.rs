//! Client secret rotation, as reauth sees it: which of the configured secrets (newest last)
//! Salesforce accepts, since when, and whether the rotation policy is overdue.
//!
//! Every exchange records the fingerprint (first 8 hex digits of the secret's SHA-256: names it,
//! reveals nothing) of the secret Salesforce accepted in `secret_usage`. An answer accepted only
//! with the previous secret raises `client_secret.previous_accepted` (the newest has not reached
//! Salesforce, or is wrong); `reauth secrets status` tells the operator when the old secret can
//! be removed; a secret older than `rotate_every` raises `client_secret.rotation_overdue`.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;

use crate::alerts::{self, Severity};
use crate::config::Config;
use crate::entity::connection::ConnectionApp;
use crate::entity::secret_usage;
use crate::error::Result;
use crate::salesforce::{SfClient, TokenGrant};

/// Records which secret Salesforce accepted for an exchange of `app`, and alerts when it was
/// the previous one.
pub async fn record_accepted<C: ConnectionTrait>(
    db: &C,
    app: ConnectionApp,
    grant: &TokenGrant,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(fp) = &grant.accepted_secret else {
        return Ok(());
    };
    secret_usage::Entity::insert(secret_usage::ActiveModel {
        app: Set(app),
        fingerprint: Set(fp.clone()),
        first_accepted_at: Set(now),
        last_accepted_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([secret_usage::Column::App, secret_usage::Column::Fingerprint])
            .update_column(secret_usage::Column::LastAcceptedAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    if grant.previous_secret_accepted {
        // One open alert per app and secret, however many exchanges fall back.
        alerts::raise_keyed(
            db,
            alerts::NewAlert {
                kind: "client_secret.previous_accepted",
                severity: Severity::Warning,
                org_id: None,
                subject: Some(&format!("{app}:{fp}")),
                message: format!(
                    "Salesforce refused the newest client secret of the {app} app and accepted the previous one ({fp}): the rotation has not reached the app yet, or the newest secret is wrong. Tokens keep working; keep the previous secret configured until `reauth secrets status` shows the newest accepted."
                ),
                details: serde_json::json!({ "app": app, "fingerprint": fp }),
                affected_orgs: None,
            },
            now,
        )
        .await?;
    }
    Ok(())
}

/// One app's secrets.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub app: ConnectionApp,
    /// The configured secrets' fingerprints, newest last.
    pub configured: Vec<String>,
    /// The secret Salesforce accepted most recently, and when.
    pub last_accepted: Option<String>,
    pub last_accepted_at: Option<DateTime<Utc>>,
    /// Whether the newest configured secret has been accepted at least once (then older ones
    /// can be removed from the configuration and, at Salesforce, from the app).
    pub newest_accepted: bool,
    pub rotated_at: Option<NaiveDate>,
    pub due: Option<NaiveDate>,
    pub overdue: bool,
}

fn due(rotated: Option<NaiveDate>, every: std::time::Duration) -> Option<NaiveDate> {
    let days = i64::try_from(every.as_secs() / 86_400).unwrap_or(i64::MAX);
    rotated.and_then(|d| d.checked_add_signed(chrono::Duration::days(days)))
}

/// The status of the External Client App's secrets and, when configured, the legacy app's.
pub async fn status<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    today: NaiveDate,
) -> Result<Vec<Status>> {
    let mut apps = vec![(
        ConnectionApp::Eca,
        config.salesforce.secrets(),
        config.salesforce.secret_rotated_at,
        config.salesforce.rotate_every,
    )];
    if config.legacy.client_id().is_some() {
        apps.push((
            ConnectionApp::Legacy,
            config.legacy.secrets(),
            config.legacy.secret_rotated_at,
            config.legacy.rotate_every,
        ));
    }
    let mut out = Vec::new();
    for (app, secrets, rotated_at, every) in apps {
        let configured: Vec<String> = secrets.iter().map(SfClient::fingerprint).collect();
        let used = secret_usage::Entity::find()
            .filter(secret_usage::Column::App.eq(app))
            .all(db)
            .await?;
        let last = used.iter().max_by_key(|u| u.last_accepted_at);
        let due = due(rotated_at, every);
        out.push(Status {
            app,
            newest_accepted: configured
                .last()
                .is_some_and(|n| used.iter().any(|u| &u.fingerprint == n)),
            configured,
            last_accepted: last.map(|u| u.fingerprint.clone()),
            last_accepted_at: last.map(|u| u.last_accepted_at),
            rotated_at,
            overdue: due.is_some_and(|d| d < today),
            due,
        });
    }
    Ok(out)
}

/// Raises `client_secret.rotation_overdue` for each app whose secret is older than its
/// `rotate_every` (one open alert per app). Returns how many apps are overdue.
pub async fn alert_overdue<C: ConnectionTrait>(
    db: &C,
    config: &Config,
    now: DateTime<Utc>,
) -> Result<usize> {
    let mut n = 0;
    for s in status(db, config, now.date_naive()).await? {
        if !s.overdue {
            continue;
        }
        n += 1;
        let app = s.app.to_string();
        alerts::raise_keyed(
            db,
            alerts::NewAlert {
                kind: "client_secret.rotation_overdue",
                severity: Severity::Warning,
                org_id: None,
                subject: Some(&app),
                message: format!(
                "The {} app's client secret was last rotated on {} and was due again on {}: rotate it (add the new secret last in the configuration, keep the old one until `reauth secrets status` shows the new one accepted).",
                s.app,
                s.rotated_at.map(|d| d.to_string()).unwrap_or_default(),
                s.due.map(|d| d.to_string()).unwrap_or_default()
                ),
                details: serde_json::json!({ "app": s.app }),
                affected_orgs: None,
            },
            now,
        )
        .await?;
    }
    Ok(n)
}
