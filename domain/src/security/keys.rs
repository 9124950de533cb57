//! Key rotation: re-seal every secret under the newest key while the service keeps running.
//!
//! Each row is rewritten with an UPDATE guarded by what was read (the old ciphertext, and for
//! connections their version and "no lease on it"), so a concurrent refresh or send simply wins
//! and the row is picked up again on a later pass; nothing is ever overwritten with stale data.
//! Re-sealing does not bump a connection's version: the token is the same, so a lease holder's
//! fence stays valid. A connection under a live lease is skipped and come back to.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::entity::connection::{self, ConnectionStatus};
use crate::entity::{notice, staff_user};
use crate::error::{Error, Result};
use crate::security::crypto::Sealer;
use crate::vault::store::aad;

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    pub connections: u64,
    pub notices: u64,
    pub staff_users: u64,
    /// Rows that changed under us during a pass (they were retried on the next pass).
    pub raced: u64,
    /// Connections still under a refresh's lease when rotation gave up waiting (run it again).
    pub left_leased: u64,
}

/// How many passes rotation makes, and the pause between them while leased rows remain.
const PASSES: usize = 40;
const PASS_PAUSE: Duration = Duration::from_millis(250);
const BATCH: u64 = 10_000;

/// Re-seals every connection token, parked token, notice link secret and staff TOTP secret not
/// yet under the newest key. A connection with any lease on it (a refresh in flight, or a dead
/// holder's lease that recovery has not taken yet) is left for a later pass.
pub async fn rotate<C: ConnectionTrait>(db: &C, sealer: &Sealer) -> Result<RotationReport> {
    let newest = sealer.newest_key_id().to_owned();
    let mut report = RotationReport::default();
    for pass in 0..PASSES {
        let stale_conn = Condition::any()
            .add(
                Condition::all()
                    .add(connection::Column::KeyId.ne(newest.as_str()))
                    .add(connection::Column::KeyId.is_not_null()),
            )
            .add(
                Condition::all()
                    .add(connection::Column::PendingKeyId.ne(newest.as_str()))
                    .add(connection::Column::PendingKeyId.is_not_null()),
            );
        let stale = connection::Entity::find()
            .filter(stale_conn)
            .limit(BATCH)
            .all(db)
            .await?;
        let notices = notice::Entity::find()
            .filter(notice::Column::KeyId.ne(newest.as_str()))
            .filter(notice::Column::KeyId.is_not_null())
            .limit(BATCH)
            .all(db)
            .await?;
        let staff = staff_user::Entity::find()
            .filter(staff_user::Column::KeyId.ne(newest.as_str()))
            .filter(staff_user::Column::KeyId.is_not_null())
            .limit(BATCH)
            .all(db)
            .await?;
        if stale.is_empty() && notices.is_empty() && staff.is_empty() {
            report.left_leased = 0;
            return Ok(report);
        }
        let mut leased = 0;
        for c in stale {
            if c.lease_owner.is_some() || c.status == ConnectionStatus::Refreshing {
                // A lease holder owns the row; its persist seals under the newest key anyway.
                leased += 1;
                continue;
            }
            match reseal_connection(db, sealer, &c, &newest).await? {
                true => report.connections += 1,
                false => report.raced += 1,
            }
        }
        for n in notices {
            let (Some(key), Some(ct)) = (&n.key_id, &n.link_secret_ct) else {
                continue;
            };
            let aad = notice_aad(n.id);
            let plain = sealer
                .open(key, ct, &aad)
                .map_err(|e| Error::Internal(format!("notice {}: {e}", n.id)))?;
            let res = notice::Entity::update_many()
                .col_expr(
                    notice::Column::LinkSecretCt,
                    Expr::value(sealer.seal(&plain, &aad).bytes),
                )
                .col_expr(notice::Column::KeyId, Expr::value(newest.clone()))
                .filter(notice::Column::Id.eq(n.id))
                .filter(notice::Column::LinkSecretCt.eq(ct.clone()))
                .exec(db)
                .await?;
            if res.rows_affected == 1 {
                report.notices += 1
            } else {
                report.raced += 1
            }
        }
        for u in staff {
            let (Some(key), Some(ct)) = (&u.key_id, &u.totp_secret_ct) else {
                continue;
            };
            let aad = crate::staff::totp_aad(u.id);
            let plain = sealer
                .open(key, ct, &aad)
                .map_err(|e| Error::Internal(format!("staff user {}: {e}", u.id)))?;
            let res = staff_user::Entity::update_many()
                .col_expr(
                    staff_user::Column::TotpSecretCt,
                    Expr::value(sealer.seal(&plain, &aad).bytes),
                )
                .col_expr(staff_user::Column::KeyId, Expr::value(newest.clone()))
                .filter(staff_user::Column::Id.eq(u.id))
                .filter(staff_user::Column::TotpSecretCt.eq(ct.clone()))
                .exec(db)
                .await?;
            if res.rows_affected == 1 {
                report.staff_users += 1
            } else {
                report.raced += 1
            }
        }
        report.left_leased = leased;
        if leased > 0 && pass + 1 < PASSES {
            tokio::time::sleep(PASS_PAUSE).await;
        }
    }
    Ok(report)
}

/// Re-seals one connection's ciphertexts, only if it is exactly as read and under no live lease.
async fn reseal_connection<C: ConnectionTrait>(
    db: &C,
    sealer: &Sealer,
    c: &connection::Model,
    newest: &str,
) -> Result<bool> {
    let reseal = |ct: &Option<Vec<u8>>, key: &Option<String>, field: &str| match (ct, key) {
        (Some(bytes), Some(key)) => {
            let plain = sealer
                .open(key, bytes, &aad(c.id, field))
                .map_err(|e| Error::Internal(format!("connection {}: {e}", c.id)))?;
            Ok(Some(sealer.seal(&plain, &aad(c.id, field)).bytes))
        }
        _ => Ok::<_, Error>(ct.clone()),
    };
    let rt = reseal(&c.refresh_token_ct, &c.key_id, "refresh_token")?;
    let at = reseal(&c.access_token_ct, &c.key_id, "access_token")?;
    let pending = reseal(
        &c.pending_refresh_token_ct,
        &c.pending_key_id,
        "pending_refresh_token",
    )?;
    let res = connection::Entity::update_many()
        .col_expr(connection::Column::RefreshTokenCt, Expr::value(rt))
        .col_expr(connection::Column::AccessTokenCt, Expr::value(at))
        .col_expr(
            connection::Column::KeyId,
            Expr::value(c.key_id.as_ref().map(|_| newest.to_owned())),
        )
        .col_expr(
            connection::Column::PendingRefreshTokenCt,
            Expr::value(pending),
        )
        .col_expr(
            connection::Column::PendingKeyId,
            Expr::value(c.pending_key_id.as_ref().map(|_| newest.to_owned())),
        )
        .filter(connection::Column::Id.eq(c.id))
        .filter(connection::Column::Version.eq(c.version))
        .filter(connection::Column::Status.ne(ConnectionStatus::Refreshing))
        .filter(connection::Column::LeaseOwner.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Associated data for a notice's sealed link secret.
pub fn notice_aad(notice_id: i64) -> String {
    format!("reauth:notice:{notice_id}:link_secret")
}
