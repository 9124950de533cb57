//! `connections`: one Salesforce grant for one org and one app, tokens sealed at rest.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connections")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub org_id: String,
    /// legacy | eca
    pub app: String,
    /// active | verifying | refreshing | needs_reauth | revoked | superseded
    pub status: String,
    pub refresh_token_ct: Option<Vec<u8>>,
    pub access_token_ct: Option<Vec<u8>>,
    pub key_id: Option<String>,
    pub instance_url: String,
    pub id_url: String,
    pub sf_user_id: String,
    pub sf_username: Option<String>,
    pub scopes: String,
    pub issued_at: DateTimeUtc,
    pub access_token_at: Option<DateTimeUtc>,
    pub last_exchange_at: DateTimeUtc,
    pub next_heartbeat_at: Option<DateTimeUtc>,
    pub heartbeat_interval_secs: Option<i64>,
    pub version: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub refresh_started_at: Option<DateTimeUtc>,
    pub last_error_class: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTimeUtc>,
    pub replaces_id: Option<i64>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

/// Ciphertexts are not secrets on their own, but nothing gains from printing them.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("org_id", &self.org_id)
            .field("app", &self.app)
            .field("status", &self.status)
            .field("version", &self.version)
            .field("last_exchange_at", &self.last_exchange_at)
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
