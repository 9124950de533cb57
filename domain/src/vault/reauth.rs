//! What happens when a refresh fails: a dead grant sends the org back to the campaign; a customer
//! setup problem asks the customer to fix it; our own problems alert the partner.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use super::{ErrorClass, Vault};
use crate::alerts::{self, Severity};
use crate::entity::connection;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::registry::state::{self, Change};
use crate::types::OrgId;

/// After a connection was marked `needs_reauth` (under its lease): moves the org back into the
/// campaign, queues a "reconnect" notice with a fresh link (or, while an incident is open, moves
/// the org into the incident's emergency wave instead), and records an event and an alert.
pub(super) async fn needs_reauth(
    v: &Vault,
    c: &connection::Model,
    class: ErrorClass,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let db = v.db();
    let org = &c.org_id;
    events::record_system(
        db,
        now,
        org,
        "connection.needs_reauth",
        serde_json::json!({ "connection_id": c.id, "app": c.app, "class": class.as_str(), "reason": reason }),
    )
    .await?;
    if c.app == connection::ConnectionApp::Legacy {
        return legacy_died(v, c, reason, now).await;
    }
    match state::apply(
        db,
        org,
        Change::NeedsReauth {
            reason: reason.to_owned(),
        },
        &Actor::System,
        now,
    )
    .await
    {
        Ok(_) => {
            // An open incident's emergency wave tells this customer, in its own wording.
            if crate::security::incident::emergency::enroll_if_open(db, org, &Actor::System, now)
                .await?
            {
                return raise_dead(db, c, class, reason, now).await;
            }
        }
        // An org that never got past consent cannot "need re-auth"; it needs attention instead.
        Err(Error::InvalidTransition { .. }) => {
            state::needs_attention(db, org, reason.to_owned(), "customer", now).await?;
        }
        Err(e) => return Err(e),
    }
    crate::campaign::notices::enqueue(
        db,
        &c.org_id,
        crate::campaign::notices::NoticeKind::ReauthNeeded,
        format!("{}|reauth_needed|{}", c.org_id, c.id),
        now,
    )
    .await?;
    raise_dead(db, c, class, reason, now).await
}

/// The `connection.needs_reauth` alert.
async fn raise_dead(
    db: &DatabaseConnection,
    c: &connection::Model,
    class: ErrorClass,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    alerts::raise(
        db,
        "connection.needs_reauth",
        Severity::Warning,
        Some(&c.org_id),
        reason,
        serde_json::json!({ "connection_id": c.id, "class": class.as_str() }),
        now,
    )
    .await?;
    Ok(())
}

/// A legacy grant died. The org's way forward is the consent to the External Client App its
/// campaign already asks for; the partner is told, since its services lose that org's tokens
/// unless an External Client App connection serves them.
async fn legacy_died(
    v: &Vault,
    c: &connection::Model,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let eca_serves = !crate::vault::store::find(
        v.db(),
        &c.org_id,
        connection::ConnectionApp::Eca,
        &[
            connection::ConnectionStatus::Active,
            connection::ConnectionStatus::Refreshing,
        ],
    )
    .await?
    .is_empty();
    let (severity, text) = if eca_serves {
        (
            Severity::Info,
            format!(
                "The legacy connection died ({reason}); the External Client App connection serves this org."
            ),
        )
    } else {
        (
            Severity::Warning,
            format!(
                "The legacy connection died ({reason}); the token API has nothing to serve for this org until its admin consents to the External Client App."
            ),
        )
    };
    alert(v.db(), c, "legacy.connection_dead", severity, &text, now).await
}

/// After a failure that leaves the token standing.
pub(super) async fn after_failure(
    v: &Vault,
    c: &connection::Model,
    class: ErrorClass,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let db = v.db();
    events::record_system(db, now, &c.org_id, "connection.refresh_failed", serde_json::json!({ "connection_id": c.id, "class": class.as_str(), "owner": class.owner(), "detail": detail })).await?;
    match class {
        ErrorClass::CustomerSetup => {
            let reason = format!(
                "Salesforce refuses our refreshes for a setting in the customer's org: {detail}. {}",
                instructions(detail)
            );
            state::needs_attention(db, &c.org_id, reason, "customer", now).await?;
        }
        ErrorClass::Ours => {
            alert(db, c, "vault.ours", Severity::Critical, detail, now).await?;
        }
        ErrorClass::Transient | ErrorClass::Ambiguous | ErrorClass::Revoked => {}
    }
    Ok(())
}

/// A refresh answer named another org or user than the connection's: the token was kept sealed
/// and the connection quarantined; a person must look (a wrong token table, a mixed-up import).
pub(super) async fn quarantined(
    v: &Vault,
    c: &connection::Model,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let db = v.db();
    events::record_system(
        db,
        now,
        &c.org_id,
        "connection.quarantined",
        serde_json::json!({ "connection_id": c.id, "reason": reason }),
    )
    .await?;
    alert(
        db,
        c,
        "vault.identity_mismatch",
        Severity::Critical,
        &format!("{reason}. The new token is kept sealed and nothing is served for this org until the connection is reviewed."),
        now,
    )
    .await?;
    attention(
        v,
        &c.org_id,
        &format!("the connection was quarantined: {reason}"),
        now,
    )
    .await
}

/// A refresh answer was usable but looked wrong (an unknown host, a signature that does not
/// match the client secret…): its token was kept; the partner is told.
pub(super) async fn anomalous_answer(
    v: &Vault,
    c: &connection::Model,
    anomaly: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    alert(
        v.db(),
        c,
        "vault.answer_anomaly",
        Severity::Warning,
        &format!("Salesforce's refresh answer looked wrong ({anomaly}); its new token was kept and the connection stays in use."),
        now,
    )
    .await?;
    if c.anomaly.is_none() {
        attention(
            v,
            &c.org_id,
            &format!("Salesforce's refresh answer looked wrong: {anomaly}"),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Flags an org for the partner's attention (once: an org already waiting stays as it is).
async fn attention(v: &Vault, org: &OrgId, reason: &str, now: DateTime<Utc>) -> Result<()> {
    match state::needs_attention(v.db(), org, reason.to_owned(), "partner", now).await {
        Ok(_) | Err(Error::InvalidTransition { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Raises a `kind` alert about connection `c` (its id in the details).
async fn alert(
    db: &DatabaseConnection,
    c: &connection::Model,
    kind: &str,
    severity: Severity,
    message: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let details = serde_json::json!({ "connection_id": c.id });
    alerts::raise(db, kind, severity, Some(&c.org_id), message, details, now).await
}

/// What the customer can do about a setup refusal.
fn instructions(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("ip restricted") || d.contains("login hours") {
        "Ask the customer to add the partner's published egress ranges to the integration user's profile Login IP Ranges (and to check the app's IP relaxation policy); the app's refresh-token allowlist is the partner's own setting."
    } else if d.contains("blocked") {
        "Ask the customer to unblock the app in Setup (Connected Apps OAuth Usage / External Client App policies)."
    } else if d.contains("not installed") || d.contains("app_not_found") {
        "Ask the customer to install the current package version containing the External Client App."
    } else if d.contains("inactive") {
        "The approving user or the org is inactive or frozen: the customer must reactivate it or have another admin re-consent."
    } else if d.contains("hasn't approved") {
        "The app admits only pre-authorized users: the customer must add the approving user's profile or permission set to the app policies."
    } else {
        "See the error for details."
    }
}
