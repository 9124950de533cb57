//! Running a parsed query over records: conditions, ordering, limit and offset.

use super::*;

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
