//! `orgs`: one row per customer org.

use sea_orm::entity::prelude::*;

use crate::types::OrgId;

use crate::registry::state::OrgState;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orgs")]
pub struct Model {
    /// The 18-character org id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: OrgId,
    pub name: String,
    /// The pre-flight check's verdict (`ok`, or `blocked: …`), when one ran.
    pub preflight: Option<String>,
    pub preflight_at: Option<DateTimeUtc>,
    pub name_lower: String,
    pub environment: crate::types::Environment,
    pub login_url: Option<String>,
    pub wave_id: Option<i64>,
    pub state: OrgState,
    pub state_changed_at: DateTimeUtc,
    pub resume_state: Option<OrgState>,
    pub attention_reason: Option<String>,
    pub attention_owner: Option<String>,
    pub csm_email: Option<String>,
    pub notices_paused: bool,
    /// Goes up when the org moves wave or returns to the campaign.
    pub campaign_round: i32,
    /// First time the org consented or was exempted: from then on it is not "remaining".
    pub completed_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::contact::Entity")]
    Contact,
    #[sea_orm(
        belongs_to = "super::wave::Entity",
        from = "Column::WaveId",
        to = "super::wave::Column::Id"
    )]
    Wave,
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl Related<super::wave::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Wave.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
