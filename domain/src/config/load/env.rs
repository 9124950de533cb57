//! A figment provider over the `REAUTH_SECTION__KEY` variables given to `load` (not the live
//! process environment), so loading stays deterministic and testable.

/// A figment provider over a fixed list of `REAUTH_SECTION__KEY` variables.
pub(super) struct EnvSnapshot {
    pub(super) pairs: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named("environment variable(s)")
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let mut dict = figment::value::Dict::new();
        for (name, raw) in &self.pairs {
            let key = name["REAUTH_".len()..].to_ascii_lowercase();
            let path: Vec<&str> = key.split("__").collect();
            let value: figment::value::Value = raw.parse().unwrap_or_else(|_| raw.clone().into());
            insert_path(&mut dict, &path, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &[&str], value: figment::value::Value) {
    match path {
        [] => {}
        [last] => {
            dict.insert((*last).to_owned(), value);
        }
        [head, rest @ ..] => {
            let entry = dict
                .entry((*head).to_owned())
                .or_insert_with(|| figment::value::Value::from(figment::value::Dict::new()));
            if let figment::value::Value::Dict(_, inner) = entry {
                insert_path(inner, rest, value);
            }
        }
    }
}
