//! Key rotation: re-seal every secret under the newest key while the service keeps running.
//!
//! Each row is rewritten with an UPDATE guarded by what was read (the version fence for
//! connections, the old ciphertext elsewhere), so a concurrent refresh or send simply wins and the
//! row is picked up again on the next pass; nothing is ever overwritten with stale data.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::connections::aad;
use crate::crypto::Sealer;
use crate::entity::{connection, notice};
use crate::error::{Error, Result};

/// What a rotation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RotationReport {
    pub connections: u64,
    pub notices: u64,
    /// Rows that changed under us during a pass (they are retried on the next pass).
    pub raced: u64,
}

/// Re-seals every connection token and notice link secret not yet under the newest key.
pub async fn rotate<C: ConnectionTrait>(db: &C, sealer: &Sealer) -> Result<RotationReport> {
    let newest = sealer.newest_key_id().to_owned();
    let mut report = RotationReport::default();
    for _pass in 0..5 {
        let stale = connection::Entity::find()
            .filter(connection::Column::KeyId.ne(newest.as_str()))
            .filter(connection::Column::KeyId.is_not_null())
            .limit(10_000)
            .all(db)
            .await?;
        let notices = notice::Entity::find()
            .filter(notice::Column::KeyId.ne(newest.as_str()))
            .filter(notice::Column::KeyId.is_not_null())
            .limit(10_000)
            .all(db)
            .await?;
        if stale.is_empty() && notices.is_empty() {
            return Ok(report);
        }
        for c in stale {
            let key = c.key_id.clone().unwrap_or_default();
            let reseal = |ct: &Option<Vec<u8>>, field: &str| -> Result<Option<Vec<u8>>> {
                ct.as_ref()
                    .map(|bytes| {
                        let plain = sealer
                            .open(&key, bytes, &aad(c.id, field))
                            .map_err(|e| Error::Invalid(format!("connection {}: {e}", c.id)))?;
                        Ok(sealer.seal(&plain, &aad(c.id, field)).bytes)
                    })
                    .transpose()
            };
            let rt = reseal(&c.refresh_token_ct, "refresh_token")?;
            let at = reseal(&c.access_token_ct, "access_token")?;
            let res = connection::Entity::update_many()
                .col_expr(connection::Column::RefreshTokenCt, Expr::value(rt))
                .col_expr(connection::Column::AccessTokenCt, Expr::value(at))
                .col_expr(connection::Column::KeyId, Expr::value(newest.clone()))
                .col_expr(
                    connection::Column::Version,
                    Expr::col(connection::Column::Version).add(1),
                )
                .filter(connection::Column::Id.eq(c.id))
                .filter(connection::Column::Version.eq(c.version))
                .exec(db)
                .await?;
            if res.rows_affected == 1 {
                report.connections += 1
            } else {
                report.raced += 1
            }
        }
        for n in notices {
            let (Some(key), Some(ct)) = (&n.key_id, &n.link_secret_ct) else {
                continue;
            };
            let aad = notice_aad(n.id);
            let plain = sealer
                .open(key, ct, &aad)
                .map_err(|e| Error::Invalid(format!("notice {}: {e}", n.id)))?;
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
    }
    Ok(report)
}

/// Associated data for a notice's sealed link secret.
pub fn notice_aad(notice_id: i64) -> String {
    format!("reauth:notice:{notice_id}:link_secret")
}
