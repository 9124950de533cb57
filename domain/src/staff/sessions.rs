//! Server-side web sessions' rows: the server's tower-sessions store encodes a session and keeps
//! it here, so any server process can finish a flow another one started; and the housekeeping
//! that deletes expired ones.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::session;
use crate::error::Result;

fn row(id: &str, data: Vec<u8>, expires: i64) -> session::ActiveModel {
    session::ActiveModel {
        id: Set(id.to_owned()),
        data: Set(data),
        expiry_date: Set(expires),
    }
}

/// Stores a new session unless its id is taken; returns whether it was stored.
pub async fn insert_new<C: ConnectionTrait>(
    db: &C,
    id: &str,
    data: Vec<u8>,
    expires: i64,
) -> Result<bool> {
    let n = session::Entity::insert(row(id, data, expires))
        .on_conflict(
            OnConflict::column(session::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(n == 1)
}

/// Stores a session, replacing its data and expiry if it exists.
pub async fn save<C: ConnectionTrait>(db: &C, id: &str, data: Vec<u8>, expires: i64) -> Result<()> {
    session::Entity::insert(row(id, data, expires))
        .on_conflict(
            OnConflict::column(session::Column::Id)
                .update_columns([session::Column::Data, session::Column::ExpiryDate])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The data of a session that has not expired at `now` (a unix timestamp).
pub async fn load<C: ConnectionTrait>(db: &C, id: &str, now: i64) -> Result<Option<Vec<u8>>> {
    Ok(session::Entity::find_by_id(id.to_owned())
        .filter(session::Column::ExpiryDate.gt(now))
        .one(db)
        .await?
        .map(|m| m.data))
}

/// Deletes one session.
pub async fn delete<C: ConnectionTrait>(db: &C, id: &str) -> Result<()> {
    session::Entity::delete_by_id(id.to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes sessions that expired before `now`; returns how many.
pub async fn delete_expired<C: ConnectionTrait>(db: &C, now: DateTime<Utc>) -> Result<u64> {
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiryDate.lte(now.timestamp()))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
