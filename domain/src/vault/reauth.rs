//! What happens when a refresh fails: a dead grant sends the org back to the campaign; a customer
//! setup problem asks the customer to fix it; our own problems alert the partner.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{ErrorClass, Vault};
use crate::alerts::{self, Severity};
use crate::entity::connection;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::state::{self, Change};
use crate::types::OrgId;

/// Marks a connection `needs_reauth`, moves the org back into the campaign, queues a "reconnect"
/// notice with a fresh link, and records an event and an alert.
pub(super) async fn mark(
    v: &Vault,
    c: &connection::Model,
    version: i64,
    class: ErrorClass,
    reason: &str,
) -> Result<()> {
    let db = v.db();
    let now = v.now();
    connection::Entity::update_many()
        .col_expr(connection::Column::Status, Expr::value("needs_reauth"))
        .col_expr(
            connection::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            connection::Column::LeaseExpiresAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            connection::Column::NextHeartbeatAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            connection::Column::LastErrorClass,
            Expr::value(class.as_str()),
        )
        .col_expr(connection::Column::LastError, Expr::value(reason))
        .col_expr(connection::Column::LastErrorAt, Expr::value(now))
        .col_expr(connection::Column::UpdatedAt, Expr::value(now))
        .col_expr(
            connection::Column::Version,
            Expr::col(connection::Column::Version).add(1),
        )
        .filter(connection::Column::Id.eq(c.id))
        .filter(connection::Column::Version.eq(version))
        .exec(db)
        .await?;
    let org = OrgId::parse(&c.org_id).map_err(|e| Error::Invalid(e.to_string()))?;
    events::record(
        db,
        now,
        &Actor::System,
        Some(&org),
        "connection.needs_reauth",
        serde_json::json!({ "connection_id": c.id, "class": class.as_str(), "reason": reason }),
    )
    .await?;
    match state::apply(
        db,
        &org,
        Change::NeedsReauth {
            reason: reason.to_owned(),
        },
        &Actor::System,
        now,
    )
    .await
    {
        Ok(_) => {}
        // An org that never got past consent cannot "need re-auth"; it needs attention instead.
        Err(Error::InvalidTransition { .. }) => {
            state::apply(
                db,
                &org,
                Change::NeedsAttention {
                    reason: reason.to_owned(),
                    owner: "customer".into(),
                },
                &Actor::System,
                now,
            )
            .await?;
        }
        Err(e) => return Err(e),
    }
    crate::notices::enqueue(
        db,
        &c.org_id,
        "reauth_needed",
        format!("{}|reauth_needed|{}", c.org_id, c.id),
        now,
    )
    .await?;
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

/// After a failure that leaves the token standing.
pub(super) async fn after_failure(
    v: &Vault,
    c: &connection::Model,
    class: ErrorClass,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let db = v.db();
    let org = OrgId::parse(&c.org_id).map_err(|e| Error::Invalid(e.to_string()))?;
    events::record(db, now, &Actor::System, Some(&org), "connection.refresh_failed", serde_json::json!({ "connection_id": c.id, "class": class.as_str(), "owner": class.owner(), "detail": detail })).await?;
    match class {
        ErrorClass::CustomerSetup => {
            let reason = format!(
                "Salesforce refuses our refreshes for a setting in the customer's org: {detail}. {}",
                instructions(detail)
            );
            state::apply(
                db,
                &org,
                Change::NeedsAttention {
                    reason,
                    owner: "customer".into(),
                },
                &Actor::System,
                now,
            )
            .await?;
        }
        ErrorClass::Ours => {
            alerts::raise(
                db,
                "vault.ours",
                Severity::Critical,
                Some(&c.org_id),
                detail,
                serde_json::json!({ "connection_id": c.id }),
                now,
            )
            .await?;
        }
        ErrorClass::Transient | ErrorClass::Ambiguous | ErrorClass::Revoked => {}
    }
    Ok(())
}

/// What the customer can do about a setup refusal.
fn instructions(detail: &str) -> &'static str {
    let d = detail.to_ascii_lowercase();
    if d.contains("ip restricted") || d.contains("login hours") {
        "Ask the customer to add the partner's egress ranges to the app's refresh-token IP allowlist (and to the user's profile login IP ranges)."
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
