//! Housekeeping for server-side web sessions (the store itself lives in the server crate).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::session;
use crate::error::Result;

/// Deletes sessions that expired before `now`; returns how many.
pub async fn delete_expired<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiryDate.lte(now.timestamp()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
