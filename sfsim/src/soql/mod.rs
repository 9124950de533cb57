//! The slice of SOQL sfsim understands, and Salesforce's error answers for the rest.
//!
//! `SELECT f, g.h | COUNT() FROM Object [WHERE c AND c …] [ORDER BY f [ASC|DESC] [NULLS
//! FIRST|LAST], …] [LIMIT n] [OFFSET n]`, where a condition is `field op literal` (`=`, `!=`,
//! `<>`, `<`, `<=`, `>`, `>=`) or `field [NOT] IN (literal, …)`, and a literal is a quoted string,
//! a number, `true`/`false`/`null`, or an unquoted datetime (`2026-12-01T10:00:00Z`). Field names
//! are case-insensitive and checked against the object's schema: an unknown field is
//! `INVALID_FIELD`, filtering on a field Salesforce cannot filter on (e.g. `LoginHistory.Status`)
//! is `INVALID_FIELD` ("can not be filtered"), a quoted value for a datetime field is
//! `INVALID_FIELD`, an unknown object `INVALID_TYPE`, and anything sfsim does not parse
//! (`OR`, `LIKE`, sub-queries, date literals such as `TODAY`) `MALFORMED_QUERY`.
//!
//! This module: the query's types and the objects' schemas; `parse`: tokens, parser and schema
//! checks; `eval`: running a query over records.

mod eval;
mod parse;

pub use parse::{object_of, parse};

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A refused query: the REST `errorCode` and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoqlError {
    pub code: &'static str,
    pub message: String,
}

fn malformed(m: impl Into<String>) -> SoqlError {
    SoqlError {
        code: "MALFORMED_QUERY",
        message: m.into(),
    }
}

fn invalid_field(m: impl Into<String>) -> SoqlError {
    SoqlError {
        code: "INVALID_FIELD",
        message: m.into(),
    }
}

/// A field's type, as far as comparisons need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    /// A record id: 15- and 18-character forms compare equal.
    Id,
    DateTime,
    Int,
    Bool,
}

/// A field of an object's schema; `name` is canonical (`SubscriberPackage.Name` for a
/// relationship field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    pub name: &'static str,
    pub kind: Kind,
    pub filterable: bool,
}

const fn f(name: &'static str, kind: Kind, filterable: bool) -> FieldDef {
    FieldDef {
        name,
        kind,
        filterable,
    }
}

/// `LoginHistory`, with the filterable fields of the object reference.
pub const LOGIN_HISTORY: &[FieldDef] = &[
    f("ApiType", Kind::Str, false),
    f("ApiVersion", Kind::Str, false),
    f("Application", Kind::Str, false),
    f("AuthContextClassRef", Kind::Str, true),
    f("AuthMethodReference", Kind::Str, true),
    f("AuthenticationServiceId", Kind::Id, true),
    f("Browser", Kind::Str, false),
    f("CipherSuite", Kind::Str, true),
    f("ClientVersion", Kind::Str, false),
    f("CountryIso", Kind::Str, true),
    f("ForwardedForIp", Kind::Str, false),
    f("Id", Kind::Id, true),
    f("LoginGeoId", Kind::Id, true),
    f("LoginSubType", Kind::Str, false),
    f("LoginTime", Kind::DateTime, true),
    f("LoginType", Kind::Str, true),
    f("LoginUrl", Kind::Str, true),
    f("NetworkId", Kind::Id, true),
    f("OptionsIsGet", Kind::Bool, true),
    f("OptionsIsPost", Kind::Bool, true),
    f("Platform", Kind::Str, false),
    f("SourceIp", Kind::Str, false),
    f("Status", Kind::Str, false),
    f("TlsProtocol", Kind::Str, true),
    f("UserId", Kind::Id, true),
];

/// `OauthToken`.
pub const OAUTH_TOKEN: &[FieldDef] = &[
    f("AccessToken", Kind::Str, true),
    f("AppMenuItemId", Kind::Id, true),
    f("AppMenuItem.Label", Kind::Str, true),
    f("AppMenuItem.Name", Kind::Str, true),
    f("AppMenuItem.NamespacePrefix", Kind::Str, true),
    f("AppName", Kind::Str, true),
    f("CreatedDate", Kind::DateTime, true),
    f("DeleteToken", Kind::Str, true),
    f("Id", Kind::Id, true),
    f("LastUsedDate", Kind::DateTime, true),
    f("RequestToken", Kind::Str, true),
    f("UseCount", Kind::Int, true),
    f("UserId", Kind::Id, true),
];

/// The Tooling API's `InstalledSubscriberPackage`.
pub const INSTALLED_SUBSCRIBER_PACKAGE: &[FieldDef] = &[
    f("Id", Kind::Id, true),
    f("SubscriberPackageId", Kind::Id, true),
    f("SubscriberPackageVersionId", Kind::Id, true),
    f("SubscriberPackage.Id", Kind::Id, true),
    f("SubscriberPackage.Name", Kind::Str, true),
    f("SubscriberPackage.NamespacePrefix", Kind::Str, true),
    f("SubscriberPackageVersion.Id", Kind::Id, true),
    f("SubscriberPackageVersion.Name", Kind::Str, true),
    f("SubscriberPackageVersion.MajorVersion", Kind::Int, true),
    f("SubscriberPackageVersion.MinorVersion", Kind::Int, true),
    f("SubscriberPackageVersion.PatchVersion", Kind::Int, true),
    f("SubscriberPackageVersion.BuildNumber", Kind::Int, true),
];

/// The sObject type of a relationship (for `attributes.type` of nested records).
pub fn relationship_type(object: &str, rel: &str) -> String {
    match (object, rel) {
        ("OauthToken", "AppMenuItem") => "AppMenuItem".into(),
        _ => rel.to_owned(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Num(f64),
    DateTime(DateTime<Utc>),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub field: FieldDef,
    pub op: Op,
    pub values: Vec<Literal>,
}

#[derive(Debug, Clone)]
pub struct Order {
    pub field: FieldDef,
    pub desc: bool,
    pub nulls_last: bool,
}

/// A parsed, schema-checked query.
#[derive(Debug, Clone)]
pub struct Query {
    pub object: String,
    /// Empty for `COUNT()`.
    pub fields: Vec<FieldDef>,
    pub count_only: bool,
    pub conditions: Vec<Cond>,
    pub order: Vec<Order>,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// A SOQL datetime literal: `2026-12-01T10:00:00Z`, `…:00.000Z`, `…:00+01:00`, `…:00.000+0000`.
pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    if !s.contains('T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Result<Query, SoqlError> {
        parse(s, "LoginHistory", LOGIN_HISTORY)
    }

    #[test]
    fn the_monitor_query_parses() {
        let p = q("SELECT Id, LoginTime, SourceIp, Status FROM LoginHistory WHERE UserId = '005000000000001' AND LoginType = 'Remote Access 2.0' AND LoginTime > 2026-12-01T10:00:00Z ORDER BY LoginTime LIMIT 10").unwrap();
        assert_eq!(p.fields.len(), 4);
        assert_eq!(p.conditions.len(), 3);
        assert_eq!(p.limit, Some(10));
        assert!(p.conditions[0].holds(&Value::String("005000000000001AAA".into())));
        assert!(p.conditions[2].holds(&Value::String("2026-12-01T10:00:00.001+0000".into())));
        assert!(!p.conditions[2].holds(&Value::String("2026-12-01T10:00:00.000+0000".into())));
    }

    #[test]
    fn unsupported_or_wrong_queries_get_salesforce_codes() {
        let code = |s: &str| q(s).unwrap_err().code;
        assert_eq!(
            code("SELECT Id FROM LoginHistory WHERE Status = 'Success'"),
            "INVALID_FIELD"
        );
        assert_eq!(code("SELECT Nope FROM LoginHistory"), "INVALID_FIELD");
        assert_eq!(
            code("SELECT Id FROM LoginHistory WHERE LoginTime > '2026-12-01T10:00:00Z'"),
            "INVALID_FIELD"
        );
        assert_eq!(
            code("SELECT Id FROM LoginHistory WHERE UserId = 'a' OR UserId = 'b'"),
            "MALFORMED_QUERY"
        );
        assert_eq!(
            code("SELECT Id FROM LoginHistory WHERE LoginTime > TODAY"),
            "MALFORMED_QUERY"
        );
        assert_eq!(code("DELETE FROM LoginHistory"), "MALFORMED_QUERY");
    }

    #[test]
    fn datetime_literals_take_every_soql_form() {
        for s in [
            "2026-12-01T10:00:00Z",
            "2026-12-01T10:00:00.000Z",
            "2026-12-01T11:00:00+01:00",
            "2026-12-01T10:00:00.000+0000",
        ] {
            assert_eq!(
                parse_datetime(s).unwrap().to_rfc3339(),
                "2026-12-01T10:00:00+00:00",
                "{s}"
            );
        }
    }
}
