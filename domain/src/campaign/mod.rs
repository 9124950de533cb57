//! The rollout campaign: waves with a start, a deadline and a schedule of notice steps; a
//! scheduler that creates notice rows for orgs that still have to act (unique per org, wave, step
//! and round, so nothing is scheduled twice, yet an org that moves wave or returns to the campaign
//! is notified again); the sender in `notices` delivers them.

pub mod notices;
mod schedule;
mod steps;
mod waves;

pub use schedule::{ScheduleReport, outside_quiet_hours, schedule};
pub use steps::{Anchor, Step, StepKind, Steps, StepsError};
pub use waves::{
    WaveDetail, WaveView, all_waves, create_wave, list_waves, move_orgs, set_paused, set_schedule,
    show_wave,
};
