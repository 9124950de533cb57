//! Reading every discovered file and grouping them into apps: one bundle per External Client
//! App (by each file's `externalClientApplication` reference; the header by its own name), one
//! entry per Connected App, and the org's OAuth settings.

use std::collections::BTreeMap;

use super::catalog::{Finding, Rule};
use super::discover::{Discovery, Found, Kind};
use super::model::{
    ConnectedApp, EcaOauth, EcaOauthPolicy, EcaOauthSecurity, EcaPart, FileRef, GlobalOauth,
    OrgOauthSettings, Value, app_ref,
};
use super::xml::{self, Element};

/// Every file of one External Client App.
#[derive(Debug, Clone, Default)]
pub struct EcaBundle {
    /// The app's API name.
    pub name: String,
    /// `.eca` (normally exactly one).
    pub headers: Vec<EcaPart>,
    /// `.ecaGlblOauth` (retrieved copies; usually none in a repository).
    pub globals: Vec<GlobalOauth>,
    /// `.ecaOauth`.
    pub oauth: Vec<EcaOauth>,
    /// `.ecaOauthPlcy` (subscriber-owned; present only when retrieved).
    pub policies: Vec<EcaOauthPolicy>,
    /// `.ecaPlcy`.
    pub app_policies: Vec<EcaPart>,
    /// `.ecaOauthSecurity`.
    pub security: Vec<EcaOauthSecurity>,
}

impl EcaBundle {
    /// The file a finding about something absent points at: the header, else any file.
    pub fn primary(&self) -> FileRef {
        self.headers
            .first()
            .map(|h| h.file.clone())
            .or_else(|| self.oauth.first().map(|f| f.file.clone()))
            .or_else(|| self.globals.first().map(|f| f.file.clone()))
            .or_else(|| self.policies.first().map(|f| f.file.clone()))
            .or_else(|| self.app_policies.first().map(|f| f.file.clone()))
            .or_else(|| self.security.first().map(|f| f.file.clone()))
            .unwrap_or(FileRef {
                rel: String::new(),
                line: 1,
            })
    }

    /// Every file of the bundle, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .headers
            .iter()
            .map(|f| &f.file)
            .chain(self.globals.iter().map(|f| &f.file))
            .chain(self.oauth.iter().map(|f| &f.file))
            .chain(self.policies.iter().map(|f| &f.file))
            .chain(self.app_policies.iter().map(|f| &f.file))
            .chain(self.security.iter().map(|f| &f.file))
            .map(|f| f.rel.clone())
            .collect();
        v.sort();
        v
    }
}

/// Everything read from the audited folder.
#[derive(Debug, Default)]
pub struct Project {
    /// Sorted by name.
    pub ecas: Vec<EcaBundle>,
    /// Sorted by file.
    pub connected_apps: Vec<ConnectedApp>,
    pub org_settings: Vec<OrgOauthSettings>,
    /// Files that could not be read or grouped (RA000, RA020, RA021).
    pub problems: Vec<Finding>,
}

/// Reads and groups every discovered file. Never fails: a bad file becomes a finding.
pub fn load(d: Discovery) -> Project {
    let mut p = Project::default();
    let mut ecas: BTreeMap<String, EcaBundle> = BTreeMap::new();
    let mut loose_security = Vec::new();
    for (rel, reason) in d.unreadable {
        p.problems.push(Finding::new(
            Rule::UnparsableFile,
            None,
            &rel,
            1,
            format!("cannot read it: {reason}"),
            "make it readable, or move it out of the audited folder",
        ));
    }
    for (rel, kind) in d.unrecognised {
        let t = kind.info();
        p.problems.push(Finding::new(
            Rule::UnrecognisedFile,
            None,
            &rel,
            1,
            format!(
                "this file is in {}/ but does not end in .{}-meta.xml (or .{}), so Salesforce does not read it as {}",
                t.folder, t.suffix, t.suffix, t.root
            ),
            format!(
                "rename it to NAME.{}-meta.xml, or move it out of {}/",
                t.suffix, t.folder
            ),
        ));
    }
    for f in d.files {
        let Some((root, file)) = read_root(&f, &mut p.problems) else {
            continue;
        };
        match f.kind {
            Kind::EcaHeader => entry(&mut ecas, &f.name).headers.push(EcaPart {
                file,
                app: Some(Value {
                    value: f.name.clone(),
                    line: root.line,
                }),
            }),
            Kind::EcaGlobalOauth => {
                let g = GlobalOauth::read(&root, file, &mut p.problems);
                if let Some(app) = referenced(&g.app, &g.file, &mut p.problems) {
                    entry(&mut ecas, &app).globals.push(g);
                }
            }
            Kind::EcaOauth => {
                let o = EcaOauth::read(&root, file);
                if let Some(app) = referenced(&o.app, &o.file, &mut p.problems) {
                    entry(&mut ecas, &app).oauth.push(o);
                }
            }
            Kind::EcaOauthPolicy => {
                let o = EcaOauthPolicy::read(&root, file, &mut p.problems);
                if let Some(app) = referenced(&o.app, &o.file, &mut p.problems) {
                    entry(&mut ecas, &app).policies.push(o);
                }
            }
            Kind::EcaPolicy => {
                let o = EcaPart {
                    app: app_ref(&root),
                    file,
                };
                if let Some(app) = referenced(&o.app, &o.file, &mut p.problems) {
                    entry(&mut ecas, &app).app_policies.push(o);
                }
            }
            Kind::EcaOauthSecurity => {
                let s = EcaOauthSecurity::read(&root, file);
                match &s.app {
                    Some(app) => {
                        let app = app.value.clone();
                        entry(&mut ecas, &app).security.push(s);
                    }
                    None => loose_security.push((f.name.clone(), s)),
                }
            }
            Kind::ConnectedApp => {
                let ca = ConnectedApp::read(&root, file, &f.name, &mut p.problems);
                p.connected_apps.push(ca);
            }
            Kind::OrgOauthSettings => {
                let s = OrgOauthSettings::read(&root, file, &mut p.problems);
                p.org_settings.push(s);
            }
        }
    }
    // The security settings' schema is undocumented; without an app reference, the record
    // name (`<App>_…` by convention) is the only other link.
    for (stem, s) in loose_security {
        let owner = ecas
            .keys()
            .filter(|app| stem == **app || stem.starts_with(&format!("{app}_")))
            .max_by_key(|app| app.len())
            .cloned();
        match owner {
            Some(app) => entry(&mut ecas, &app).security.push(s),
            None => p.problems.push(Finding::new(
                Rule::OrphanEcaFile,
                None,
                &s.file.rel,
                s.file.line,
                "cannot tell which External Client App this security settings file belongs to: it has no <externalClientApplication> and its name starts with no app's name",
                "retrieve it together with its app, or name it APP_oauthSecurity",
            )),
        }
    }
    for b in ecas.values() {
        if b.headers.is_empty() {
            let f = b.primary();
            p.problems.push(Finding::new(
                Rule::OrphanEcaFile,
                Some(&b.name),
                &f.rel,
                f.line,
                format!("no {}.eca-meta.xml was found in the audited folder; the app's other files were checked on their own", b.name),
                format!("audit the folder that also holds externalClientApps/{}.eca-meta.xml", b.name),
            ));
        }
    }
    p.ecas = ecas.into_values().collect();
    p
}

fn entry<'a>(ecas: &'a mut BTreeMap<String, EcaBundle>, name: &str) -> &'a mut EcaBundle {
    ecas.entry(name.to_owned()).or_insert_with(|| EcaBundle {
        name: name.to_owned(),
        ..Default::default()
    })
}

/// The app a bundle file names; a missing reference is an RA000 finding.
fn referenced(
    app: &Option<Value<String>>,
    file: &FileRef,
    problems: &mut Vec<Finding>,
) -> Option<String> {
    match app {
        Some(a) => Some(a.value.clone()),
        None => {
            problems.push(Finding::new(
                Rule::UnparsableFile,
                None,
                &file.rel,
                file.line,
                "the required <externalClientApplication> is missing or empty, so it is not known which app this file belongs to",
                "add <externalClientApplication>APP_NAME</externalClientApplication>",
            ));
            None
        }
    }
}

/// Reads, parses and checks the root element; problems become RA000 findings.
fn read_root(f: &Found, problems: &mut Vec<Finding>) -> Option<(Element, FileRef)> {
    let app = matches!(f.kind, Kind::EcaHeader | Kind::ConnectedApp).then_some(f.name.as_str());
    let fail = |line: u32, found: String, problems: &mut Vec<Finding>| {
        problems.push(Finding::new(
            Rule::UnparsableFile,
            app,
            &f.rel,
            line,
            found,
            "fix the file so it is well-formed metadata XML (nothing else in it was checked)",
        ));
    };
    let bytes = match std::fs::read(&f.path) {
        Ok(b) => b,
        Err(e) => {
            fail(1, format!("cannot read it: {e}"), problems);
            return None;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        fail(1, "it is not UTF-8 text".into(), problems);
        return None;
    };
    let root = match xml::parse(&text) {
        Ok(r) => r,
        Err(e) => {
            fail(
                e.line,
                format!("not well-formed XML: {}", e.message),
                problems,
            );
            return None;
        }
    };
    let expected = f.kind.info().root;
    if root.name != expected {
        fail(
            root.line,
            format!(
                "the root element is <{}>, but a .{} file must hold <{expected}>",
                root.name,
                f.kind.info().suffix
            ),
            problems,
        );
        return None;
    }
    let file = FileRef {
        rel: f.rel.clone(),
        line: root.line,
    };
    Some((root, file))
}
