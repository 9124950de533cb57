//! Waves: groups of orgs with a start, a deadline and a notice schedule. (The campaign builds the
//! scheduler on these rows.)

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::entity::wave;
use crate::error::{Error, Result};
use crate::events::{self, Actor};

/// Sets a wave's start and deadline.
pub async fn set_schedule<C: ConnectionTrait>(
    db: &C,
    name: &str,
    starts_at: Option<DateTime<Utc>>,
    deadline: Option<DateTime<Utc>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<()> {
    let w = wave::Entity::find()
        .filter(wave::Column::Name.eq(name))
        .one(db)
        .await?
        .ok_or_else(|| Error::Invalid(format!("no wave named `{name}`")))?;
    if let (Some(s), Some(d)) = (starts_at, deadline)
        && d <= s
    {
        return Err(Error::Invalid(
            "a wave's deadline must come after its start".into(),
        ));
    }
    wave::Entity::update(wave::ActiveModel {
        id: Set(w.id),
        starts_at: Set(starts_at),
        deadline: Set(deadline),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await?;
    events::record(
        db,
        now,
        actor,
        None,
        "wave.scheduled",
        serde_json::json!({ "wave": name, "starts_at": starts_at, "deadline": deadline }),
    )
    .await?;
    Ok(())
}
