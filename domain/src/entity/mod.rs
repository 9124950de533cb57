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
