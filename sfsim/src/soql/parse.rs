//! Tokens, the recursive-descent parser over them, and the checks against the object's schema.

use super::*;

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
