//! A tower-sessions store on our own database (rows kept by `domain::staff::sessions`), so any
//! server process can finish a flow another one started. (The published stores target older
//! sea-orm/sqlx.) Sessions are encoded with MessagePack.

use domain::staff::sessions;
use sea_orm::DatabaseConnection;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};

/// Sessions in the `tower_sessions` table.
#[derive(Clone, Debug)]
pub struct DbStore {
    db: DatabaseConnection,
}

impl DbStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn encode(r: &Record) -> session_store::Result<Vec<u8>> {
    rmp_serde::to_vec(r).map_err(|e| session_store::Error::Encode(e.to_string()))
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[async_trait::async_trait]
impl SessionStore for DbStore {
    async fn create(&self, r: &mut Record) -> session_store::Result<()> {
        // Insert if absent; on the (astronomically unlikely) id collision, draw a new id.
        loop {
            let (id, expires) = (r.id.to_string(), r.expiry_date.unix_timestamp());
            if sessions::insert_new(&self.db, &id, encode(r)?, expires)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            r.id = Id::default();
        }
    }

    async fn save(&self, r: &Record) -> session_store::Result<()> {
        let expires = r.expiry_date.unix_timestamp();
        sessions::save(&self.db, &r.id.to_string(), encode(r)?, expires)
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        sessions::load(&self.db, &id.to_string(), now())
            .await
            .map_err(backend)?
            .map(|data| {
                rmp_serde::from_slice(&data)
                    .map_err(|e| session_store::Error::Decode(e.to_string()))
            })
            .transpose()
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        sessions::delete(&self.db, &id.to_string())
            .await
            .map_err(backend)
    }
}

#[async_trait::async_trait]
impl ExpiredDeletion for DbStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = chrono::DateTime::from_timestamp(now(), 0).unwrap_or_default();
        sessions::delete_expired(&self.db, now)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
