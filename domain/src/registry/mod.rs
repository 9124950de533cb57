//! The org registry: importing the org list from CSV, listing, showing and exporting it.

mod csv_format;
mod export;
mod import;
mod page;
mod query;
pub mod state;

pub use csv_format::{Column, HeaderError, ImportRow, ParsedCsv, RowError, parse_csv};
pub use export::{ExportFormat, export_csv};
pub use import::{
    DEFAULT_STEPS, FieldChange, ImportPlan, ImportReport, Planned, Progress, apply_plan,
    plan_import,
};
pub use page::{OrgPage, list_page};
pub use query::{
    ContactView, ExportRow, ListFilter, OrgDetail, OrgSummary, Sort, add_note, count, export_rows,
    ids_after, list, show, summaries,
};
