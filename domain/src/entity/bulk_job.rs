//! `bulk_jobs`: a staff member's action on many orgs, run in chunks with visible progress.

use sea_orm::entity::prelude::*;

snake_case_enum! {
    /// Where a bulk job stands.
    pub enum JobStatus {
        Queued,
        Running,
        Done,
        Failed,
        Cancelled,
    }
}

impl JobStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether a runner may still work on it.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Queued | Self::Running)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bulk_jobs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub action: String,
    pub argument: Option<String>,
    pub selection: Json,
    pub total: i64,
    pub done: i64,
    pub skipped: i64,
    pub failed: i64,
    pub cursor: Option<String>,
    /// queued | running | done | failed | cancelled
    pub status: JobStatus,
    pub error: Option<String>,
    pub created_by: String,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
