//! sea-orm entities, one per table. They mirror the migrations exactly; business rules live in
//! the domain modules that use them, not here.

/// A status or kind stored as its `snake_case` name: the one set of derives (sea-orm's `String`
/// column, serde, strum) every such enum of the entities shares, so each is spelled the same in
/// the database, in JSON and in `Display`. The enum's docs and variants go inside as written.
macro_rules! snake_case_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            sea_orm::EnumIter,
            sea_orm::DeriveActiveEnum,
            serde::Serialize,
            serde::Deserialize,
            strum::IntoStaticStr,
            strum::Display,
        )]
        #[sea_orm(
            rs_type = "String",
            db_type = "String(sea_orm::sea_query::StringLen::None)",
            rename_all = "snake_case"
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        $vis enum $name { $($body)* }
    };
}

pub mod alert;
pub mod alert_delivery;
pub mod api_key;
pub mod breaker;
pub mod bulk_job;
pub mod cache_invalidation;
pub mod connection;
pub mod contact;
pub mod event;
pub mod exchange;
pub mod incident;
pub mod incident_connection;
pub mod link;
pub mod monitor_count;
pub mod monitor_state;
pub mod notice;
pub mod org;
pub mod published_ranges;
pub mod secret_usage;
pub mod session;
pub mod staff_user;
pub mod token_usage;
pub mod wave;

#[cfg(test)]
mod tests {
    use sea_orm::{ActiveEnum, Iterable};

    /// Every stored enum's `as_str` (strum's spelling, used in pages, events and JSON) is the
    /// value sea-orm writes to the column, for every variant.
    fn agree<E: ActiveEnum<Value = String> + Iterable + Copy + Into<&'static str>>() {
        for v in E::iter() {
            let shown: &'static str = v.into();
            assert_eq!(shown, v.to_value(), "{}", std::any::type_name::<E>());
        }
    }

    #[test]
    fn stored_spellings_agree_with_as_str() {
        agree::<super::notice::NoticeKind>();
        agree::<super::notice::NoticeStatus>();
        agree::<super::connection::ConnectionStatus>();
        agree::<super::connection::ConnectionApp>();
        agree::<super::connection::ErrorClass>();
        agree::<super::bulk_job::JobStatus>();
        agree::<crate::staff::Role>();
        agree::<crate::alerts::Severity>();
    }
}
