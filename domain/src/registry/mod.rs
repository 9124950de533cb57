//! The org registry: importing the org list from CSV, listing, showing and exporting it.

mod csv_format;
mod detail;
mod export;
mod import;
mod page;
mod query;
mod search;
pub mod state;

pub use csv_format::{Column, HeaderError, ImportRow, ParsedCsv, RowError, parse_csv};
pub(crate) use detail::find_org;
pub use detail::{ContactView, OrgDetail, add_note, show};
pub use export::{ExportFormat, ExportRow, export_csv, export_rows};
pub use import::{
    DEFAULT_STEPS, FieldChange, ImportPlan, ImportReport, Planned, Progress, apply_plan,
    plan_import,
};
pub use page::{OrgPage, list_page};
pub use query::{ListFilter, OrgSummary, Sort, count, ids_after, list, summaries};
