//! Printing data as a table, JSON or CSV.

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;

/// How data commands print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    /// Human-readable table.
    #[default]
    Table,
    /// One JSON document.
    Json,
    /// CSV with a header row.
    Csv,
}

/// A table/CSV column: its header and how to get the cell text from a row.
pub type Col<'a, T> = (&'a str, &'a dyn Fn(&T) -> String);

/// Prints rows; `columns` are `(header, extractor)` pairs for the table and CSV forms.
pub fn print_rows<T: Serialize>(
    format: Format,
    rows: &[T],
    columns: &[Col<'_, T>],
) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(std::io::stdout().lock());
            w.write_record(columns.iter().map(|(h, _)| *h))?;
            for r in rows {
                w.write_record(columns.iter().map(|(_, f)| f(r)))?;
            }
            w.flush()?;
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic);
            t.set_header(columns.iter().map(|(h, _)| *h));
            for r in rows {
                t.add_row(columns.iter().map(|(_, f)| f(r)));
            }
            println!("{t}");
        }
    }
    Ok(())
}

/// `Option<String>` as table text.
pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}
