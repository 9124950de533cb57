//! sea-orm entities, one per table. They mirror the migrations exactly; business rules live in
//! the domain modules that use them, not here.

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
