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

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Punct(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, SoqlError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(malformed("unterminated string literal")),
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('n') => v.push('\n'),
                            Some('t') => v.push('\t'),
                            Some(e) => v.push(*e),
                            None => return Err(malformed("unterminated string literal")),
                        }
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        v.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(v));
        } else if let Some(p) = ["<=", ">=", "!=", "<>"]
            .into_iter()
            .find(|p| chars[i..].starts_with(&p.chars().collect::<Vec<_>>()))
        {
            out.push(Tok::Punct(p));
            i += 2;
        } else if let Some(p) = ["=", "<", ">", "(", ")", ","]
            .into_iter()
            .find(|p| p.starts_with(c))
        {
            out.push(Tok::Punct(p));
            i += 1;
        } else if c.is_alphanumeric() || "_.:-+".contains(c) {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || "_.:-+".contains(chars[i])) {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else {
            return Err(malformed(format!("unexpected character '{c}'")));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    object: &'a str,
    schema: &'a [FieldDef],
}

impl Parser<'_> {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let hit = self.peek_kw(kw);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), SoqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(malformed(format!("expected {kw}")))
        }
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        let hit = matches!(self.toks.get(self.pos), Some(Tok::Punct(q)) if *q == p);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn word(&mut self) -> Result<String, SoqlError> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                Ok(w.clone())
            }
            _ => Err(malformed("expected a field name")),
        }
    }

    fn field(&mut self) -> Result<FieldDef, SoqlError> {
        let name = self.word()?;
        lookup(self.object, self.schema, &name)
    }

    fn literal(&mut self, kind: Kind, field: &str) -> Result<Literal, SoqlError> {
        let lit = match self.toks.get(self.pos) {
            Some(Tok::Str(s)) => {
                if kind == Kind::DateTime {
                    return Err(invalid_field(format!(
                        "value of filter criterion for field '{field}' must be of type dateTime and should not be enclosed in quotes"
                    )));
                }
                Literal::Str(s.clone())
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Literal::Null,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Word(w)) => {
                if let Some(t) = parse_datetime(w) {
                    Literal::DateTime(t)
                } else if let Ok(n) = w.parse::<f64>() {
                    Literal::Num(n)
                } else {
                    return Err(malformed(format!(
                        "unexpected token '{w}' (sfsim supports quoted strings, numbers, true, false, null and datetimes)"
                    )));
                }
            }
            _ => return Err(malformed("expected a value")),
        };
        self.pos += 1;
        match (&lit, kind) {
            (Literal::DateTime(_), Kind::DateTime) | (Literal::Null, _) => Ok(lit),
            (_, Kind::DateTime) => Err(invalid_field(format!(
                "value of filter criterion for field '{field}' must be of type dateTime and should not be enclosed in quotes"
            ))),
            (Literal::DateTime(_), _) => Err(invalid_field(format!(
                "value of filter criterion for field '{field}' must be of type {} and should be enclosed in quotes",
                if kind == Kind::Int {
                    "double"
                } else {
                    "string"
                }
            ))),
            _ => Ok(lit),
        }
    }

    fn condition(&mut self) -> Result<Cond, SoqlError> {
        if self.peek_kw("NOT") || matches!(self.toks.get(self.pos), Some(Tok::Punct("("))) {
            return Err(malformed(
                "sfsim supports only `field op value` conditions joined by AND",
            ));
        }
        let field = self.field()?;
        if !field.filterable {
            return Err(invalid_field(format!(
                "field '{}' can not be filtered in a query call",
                field.name
            )));
        }
        let op = match self.toks.get(self.pos) {
            Some(Tok::Punct("=")) => Op::Eq,
            Some(Tok::Punct("!=" | "<>")) => Op::Ne,
            Some(Tok::Punct("<")) => Op::Lt,
            Some(Tok::Punct("<=")) => Op::Le,
            Some(Tok::Punct(">")) => Op::Gt,
            Some(Tok::Punct(">=")) => Op::Ge,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("IN") => Op::In,
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NOT") => {
                self.pos += 1;
                if !self.peek_kw("IN") {
                    return Err(malformed("expected IN after NOT"));
                }
                Op::NotIn
            }
            Some(Tok::Word(w)) => {
                return Err(malformed(format!(
                    "sfsim does not support the operator {w}"
                )));
            }
            _ => return Err(malformed("expected an operator")),
        };
        self.pos += 1;
        let values = if matches!(op, Op::In | Op::NotIn) {
            if !self.eat_punct("(") {
                return Err(malformed("expected ( after IN"));
            }
            let mut v = vec![self.literal(field.kind, field.name)?];
            while self.eat_punct(",") {
                v.push(self.literal(field.kind, field.name)?);
            }
            if !self.eat_punct(")") {
                return Err(malformed("expected )"));
            }
            v
        } else {
            vec![self.literal(field.kind, field.name)?]
        };
        Ok(Cond { field, op, values })
    }

    fn number(&mut self, what: &str) -> Result<usize, SoqlError> {
        self.word()
            .ok()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| malformed(format!("expected a number after {what}")))
    }
}

/// The schema field for `name` (case-insensitive), or `INVALID_FIELD`.
fn lookup(object: &str, schema: &[FieldDef], name: &str) -> Result<FieldDef, SoqlError> {
    schema
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| {
            invalid_field(format!(
                "No such column '{name}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
            ))
        })
}

/// The object named by `SELECT … FROM Object`, before the schema is known.
pub fn object_of(soql: &str) -> Result<String, SoqlError> {
    let toks = tokenize(soql)?;
    let from = toks
        .iter()
        .position(|t| matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("FROM")))
        .ok_or_else(|| malformed("expected SELECT … FROM …"))?;
    match toks.get(from + 1) {
        Some(Tok::Word(w)) => Ok(w.clone()),
        _ => Err(malformed("expected an object after FROM")),
    }
}

/// Parses `soql` against `schema` (the schema of `object`, the name `FROM` gave).
pub fn parse(soql: &str, object: &str, schema: &[FieldDef]) -> Result<Query, SoqlError> {
    let mut p = Parser {
        toks: tokenize(soql)?,
        pos: 0,
        object,
        schema,
    };
    p.expect_kw("SELECT")?;
    let mut fields = Vec::new();
    let mut count_only = false;
    if p.peek_kw("COUNT") && matches!(p.toks.get(p.pos + 1), Some(Tok::Punct("("))) {
        p.pos += 2;
        if !p.eat_punct(")") {
            return Err(malformed("sfsim supports COUNT() without a field"));
        }
        count_only = true;
    } else {
        loop {
            if matches!(p.toks.get(p.pos), Some(Tok::Punct("("))) {
                return Err(malformed("sfsim does not support sub-queries"));
            }
            let d = p.field()?;
            if !fields.iter().any(|x: &FieldDef| x.name == d.name) {
                fields.push(d);
            }
            if !p.eat_punct(",") {
                break;
            }
        }
    }
    p.expect_kw("FROM")?;
    p.word()?;
    let mut conditions = Vec::new();
    if p.eat_kw("WHERE") {
        conditions.push(p.condition()?);
        loop {
            if p.eat_kw("AND") {
                conditions.push(p.condition()?);
            } else if p.peek_kw("OR") {
                return Err(malformed("sfsim does not support OR"));
            } else {
                break;
            }
        }
    }
    let mut order = Vec::new();
    if p.eat_kw("ORDER") {
        p.expect_kw("BY")?;
        loop {
            let field = p.field()?;
            let desc = if p.eat_kw("DESC") {
                true
            } else {
                p.eat_kw("ASC");
                false
            };
            // SOQL's default: nulls first ascending, last descending.
            let mut nulls_last = desc;
            if p.eat_kw("NULLS") {
                nulls_last = if p.eat_kw("LAST") {
                    true
                } else {
                    p.expect_kw("FIRST")?;
                    false
                };
            }
            order.push(Order {
                field,
                desc,
                nulls_last,
            });
            if !p.eat_punct(",") {
                break;
            }
        }
    }
    let mut limit = None;
    let mut offset = 0;
    if p.eat_kw("LIMIT") {
        limit = Some(p.number("LIMIT")?);
    }
    if p.eat_kw("OFFSET") {
        offset = p.number("OFFSET")?;
    }
    if let Some(t) = p.toks.get(p.pos) {
        return Err(malformed(format!("unexpected token {t:?}")));
    }
    Ok(Query {
        object: object.to_owned(),
        fields,
        count_only,
        conditions,
        order,
        limit,
        offset,
    })
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

fn norm_id(s: &str) -> String {
    if s.len() == 15 {
        crate::ids::to18(s)
    } else {
        s.to_owned()
    }
}

/// Compares a row's value with a literal, as a field of `kind`.
fn compare(kind: Kind, v: &Value, lit: &Literal) -> Option<Ordering> {
    match (kind, v, lit) {
        (_, Value::Null, Literal::Null) => Some(Ordering::Equal),
        (_, Value::Null, _) | (_, _, Literal::Null) => None,
        (Kind::DateTime, Value::String(s), Literal::DateTime(t)) => Some(parse_datetime(s)?.cmp(t)),
        (Kind::Id, Value::String(s), Literal::Str(l)) => Some(
            norm_id(s)
                .to_ascii_lowercase()
                .cmp(&norm_id(l).to_ascii_lowercase()),
        ),
        (_, Value::String(s), Literal::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (_, Value::Number(n), Literal::Num(l)) => n.as_f64()?.partial_cmp(l),
        (_, Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        _ => None,
    }
}

impl Cond {
    /// Whether a row's value for this condition's field satisfies it.
    pub fn holds(&self, v: &Value) -> bool {
        let is = |lit: &Literal| compare(self.field.kind, v, lit);
        match self.op {
            Op::Eq => self.values.iter().any(|l| is(l) == Some(Ordering::Equal)),
            // As in SOQL, `!= 'x'` also matches null values.
            Op::Ne => !self.values.iter().any(|l| is(l) == Some(Ordering::Equal)),
            Op::Lt => self.values.iter().any(|l| is(l) == Some(Ordering::Less)),
            Op::Le => self
                .values
                .iter()
                .any(|l| matches!(is(l), Some(Ordering::Less | Ordering::Equal))),
            Op::Gt => self.values.iter().any(|l| is(l) == Some(Ordering::Greater)),
            Op::Ge => self
                .values
                .iter()
                .any(|l| matches!(is(l), Some(Ordering::Greater | Ordering::Equal))),
            Op::In => self.values.iter().any(|l| is(l) == Some(Ordering::Equal)),
            Op::NotIn => !self.values.iter().any(|l| is(l) == Some(Ordering::Equal)),
        }
    }
}

fn order_values(kind: Kind, a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) if kind == Kind::DateTime => {
            parse_datetime(x).cmp(&parse_datetime(y))
        }
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

impl Query {
    /// Filters, orders, offsets and limits rows, where `get(row, canonical field name)` gives a
    /// field's value. Returns the matching rows (still whole).
    pub fn select<'r, T>(
        &self,
        rows: impl Iterator<Item = &'r T>,
        get: impl Fn(&T, &str) -> Value,
    ) -> Vec<&'r T>
    where
        T: 'r,
    {
        let mut hits: Vec<&T> = rows
            .filter(|r| {
                self.conditions
                    .iter()
                    .all(|c| c.holds(&get(r, c.field.name)))
            })
            .collect();
        if !self.order.is_empty() {
            hits.sort_by(|a, b| {
                for o in &self.order {
                    let (va, vb) = (get(a, o.field.name), get(b, o.field.name));
                    let ord = match (va.is_null(), vb.is_null()) {
                        (true, true) => Ordering::Equal,
                        (true, false) if o.nulls_last => Ordering::Greater,
                        (true, false) => Ordering::Less,
                        (false, true) if o.nulls_last => Ordering::Less,
                        (false, true) => Ordering::Greater,
                        (false, false) => {
                            let x = order_values(o.field.kind, &va, &vb);
                            if o.desc { x.reverse() } else { x }
                        }
                    };
                    if ord != Ordering::Equal {
                        return ord;
                    }
                }
                Ordering::Equal
            });
        }
        hits.into_iter()
            .skip(self.offset)
            .take(self.limit.unwrap_or(usize::MAX))
            .collect()
    }

    /// One output record: `attributes` and the selected fields, relationship fields nested
    /// under their relationship with its own `attributes`.
    pub fn project<T>(&self, row: &T, get: impl Fn(&T, &str) -> Value, attributes: Value) -> Value {
        let mut out = Map::new();
        out.insert("attributes".into(), attributes);
        for d in &self.fields {
            let v = get(row, d.name);
            match d.name.split_once('.') {
                None => {
                    out.insert(d.name.into(), v);
                }
                Some((rel, field)) => {
                    let entry = out.entry(rel.to_owned()).or_insert_with(|| {
                        let mut m = Map::new();
                        m.insert(
                            "attributes".into(),
                            serde_json::json!({ "type": relationship_type(&self.object, rel) }),
                        );
                        Value::Object(m)
                    });
                    if let Value::Object(m) = entry {
                        m.insert(field.to_owned(), v);
                    }
                }
            }
        }
        Value::Object(out)
    }
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
