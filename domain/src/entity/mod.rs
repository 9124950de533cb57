//! sea-orm entities, one per table. They mirror the migrations exactly; business rules live in
//! the domain modules that use them, not here.

/// A status or kind stored as its `snake_case` name: the one set of derives (sea-orm's `String`
/// column, serde, strum) every such enum of the entities shares, so each is spelled the same in
/// the database, in JSON and in `Display`. The enum's docs and variants go inside as written,
/// and so do attributes of its own: a `#[derive(PartialOrd, Ord, strum::EnumString)]` there adds
/// to the shared set (the two `derive` attributes combine, and the macro's `#[strum(..)]` applies
/// to the added strum derives too).
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
pub(crate) use snake_case_enum;

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
        agree::<crate::types::Environment>();
    }

    /// An enum's own derives combine with the shared ones: roles and severities order and
    /// parse, and serde, `Display` and the column spell each the same.
    #[test]
    fn an_enums_own_derives_combine_with_the_shared_ones() {
        use crate::alerts::Severity;
        use crate::staff::Role;
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
        for r in Role::iter() {
            assert_eq!(Role::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
            assert_eq!(r.to_string(), r.as_str());
        }
        for s in Severity::iter() {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Role::parse("superuser"), None);
    }
}
