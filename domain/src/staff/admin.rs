//! What an admin (or the command line) may change about another staff user.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ConnectionTrait, EntityTrait};
use secrecy::SecretString;

use crate::entity::staff_user;
use crate::error::{Error, Result};
use crate::events::{self, Actor};

use super::*;

/// Admin actions on another staff user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminChange {
    SetRole(Role),
    Disable,
    Enable,
    /// Forget the TOTP secret and recovery codes: the user enrolls again at next sign-in.
    ResetTwoFactor,
    /// A new one-time password (returned by [`admin_change`]); also unlocks the account.
    ResetPassword,
}

/// Who makes an admin change: a signed-in admin (who may not disable or demote themself, so
/// someone always stays admin), or an operator at the command line (the way back in when the
/// last admin lost their phone and recovery codes).
#[derive(Debug, Clone)]
pub enum ChangedBy<'a> {
    Admin(&'a staff_user::Model),
    Cli(Actor),
}

/// Applies an admin's change to a staff user. Returns the new one-time password for
/// `ResetPassword`.
pub async fn admin_change<C: ConnectionTrait>(
    db: &C,
    target_id: i64,
    change: &AdminChange,
    by: &ChangedBy<'_>,
    now: DateTime<Utc>,
) -> Result<Option<SecretString>> {
    let target = get(db, target_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no staff user with id {target_id}")))?;
    let actor = match by {
        ChangedBy::Admin(a) => Actor::Staff(a.email.clone()),
        ChangedBy::Cli(a) => a.clone(),
    };
    if let ChangedBy::Admin(admin) = by
        && target.id == admin.id
        && matches!(
            change,
            AdminChange::Disable | AdminChange::SetRole(Role::Viewer | Role::Operator)
        )
    {
        return Err(Error::Invalid(
            "you cannot disable or demote yourself; ask another admin".into(),
        ));
    }
    let mut row = staff_user::ActiveModel {
        id: Set(target.id),
        updated_at: Set(now),
        ..Default::default()
    };
    let mut password = None;
    let (kind, details) = match change {
        AdminChange::SetRole(r) => {
            row.role = Set(*r);
            (
                "staff.role_changed",
                serde_json::json!({ "from": target.role.as_str(), "to": r.as_str() }),
            )
        }
        AdminChange::Disable => {
            row.disabled_at = Set(Some(now));
            ("staff.disabled", serde_json::json!({}))
        }
        AdminChange::Enable => {
            row.disabled_at = Set(None);
            ("staff.enabled", serde_json::json!({}))
        }
        AdminChange::ResetTwoFactor => {
            row.totp_secret_ct = Set(None);
            row.key_id = Set(None);
            row.totp_enrolled_at = Set(None);
            row.totp_last_step = Set(None);
            row.recovery_codes = Set(None);
            ("staff.two_factor_reset", serde_json::json!({}))
        }
        AdminChange::ResetPassword => {
            let p = one_time_password();
            row.password_hash = Set(hash_password(&p).await?);
            row.must_change_password = Set(true);
            row.failed_attempts = Set(0);
            row.locked_until = Set(None);
            password = Some(p);
            ("staff.password_reset", serde_json::json!({}))
        }
    };
    staff_user::Entity::update(row).exec(db).await?;
    let mut details = details;
    details["staff_user"] = target.email.clone().into();
    events::record(db, now, &actor, None, kind, details).await?;
    Ok(password)
}
