//! A tower-sessions store on sea-orm, so sessions live in our own database and any server process
//! can finish a flow another one started. (The published stores target older sea-orm/sqlx.)

use domain::entity::session;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// Sessions in the `tower_sessions` table, encoded with MessagePack.
#[derive(Clone, Debug)]
pub struct DbStore {
    db: DatabaseConnection,
}

impl DbStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn row(r: &Record) -> session_store::Result<session::ActiveModel> {
    Ok(session::ActiveModel {
        id: Set(r.id.to_string()),
        data: Set(rmp_serde::to_vec(r).map_err(|e| session_store::Error::Encode(e.to_string()))?),
        expiry_date: Set(r.expiry_date.unix_timestamp()),
    })
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

#[async_trait::async_trait]
impl SessionStore for DbStore {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        // Insert if absent; on the (astronomically unlikely) id collision, draw a new id.
        loop {
            let n = session::Entity::insert(row(r)?)
                .on_conflict(
                    OnConflict::column(session::Column::Id)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await
                .map_err(backend)?;
            if n == 1 {
                return Ok(());
            }
            r.id = Id::default();
        }
    }

    async fn save(&self, r: &Record) -> session_store::Result<()> {
        session::Entity::insert(row(r)?)
            .on_conflict(
                OnConflict::column(session::Column::Id)
                    .update_columns([session::Column::Data, session::Column::ExpiryDate])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        session::Entity::find_by_id(id.to_string())
            .filter(session::Column::ExpiryDate.gt(now))
            .one(&self.db)
            .await
            .map_err(backend)?
            .map(|m| {
                rmp_serde::from_slice(&m.data)
                    .map_err(|e| session_store::Error::Decode(e.to_string()))
            })
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        session::Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for DbStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        session::Entity::delete_many()
            .filter(session::Column::ExpiryDate.lte(now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
