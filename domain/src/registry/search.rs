//! Searching the registry by text: an org's name or any of its contacts' emails.

use sea_orm::ColumnTrait;
use sea_orm::sea_query::{Expr, Query};

use crate::entity::{contact, org};

/// Orgs whose name, or one of whose contacts' emails, contains `text` (case-insensitive).
///
/// Each side is its own indexed subquery (`id IN (… UNION …)`) rather than an `OR` across a
/// join, which no planner turns into index lookups. On SQLite a text of three characters or more
/// is a phrase query on the trigram index `org_search` (the migration `…_search` keeps it); a
/// shorter one, which trigrams cannot match, scans. On PostgreSQL the `pg_trgm` indexes serve
/// `LIKE '%…%'` when the extension is installed; without it the same query scans.
pub(super) fn search_matches(
    backend: sea_orm::DatabaseBackend,
    text: &str,
) -> sea_orm::sea_query::SimpleExpr {
    let lower = text.to_lowercase();
    if backend == sea_orm::DatabaseBackend::Sqlite && lower.chars().count() >= 3 {
        // An FTS5 string: double quotes doubled; the trigram tokenizer matches it as a substring.
        let phrase = format!("\"{}\"", lower.replace('"', "\"\""));
        return Expr::cust_with_values(
            "\"orgs\".\"id\" IN (SELECT org_id FROM org_search WHERE org_search MATCH ?)",
            [phrase],
        );
    }
    let pattern = format!("%{}%", escape_like(&lower));
    let mut by_name = Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::NameLower.like(like(&pattern)))
        .to_owned();
    let by_contact = Query::select()
        .column(contact::Column::OrgId)
        .from(contact::Entity)
        .and_where(contact::Column::Email.like(like(&pattern)))
        .to_owned();
    by_name.union(sea_orm::sea_query::UnionType::Distinct, by_contact);
    org::Column::Id.in_subquery(by_name)
}

/// A LIKE pattern with `\\` as its escape character, said explicitly: PostgreSQL assumes it,
/// SQLite has no escape character unless told.
fn like(pattern: &str) -> sea_orm::sea_query::LikeExpr {
    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')
}

/// Escapes `%` and `_` so user text matches literally in LIKE (see [`like`]).
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
