//! Finding the metadata files under the audited folder.
//!
//! The whole tree is walked (so every `packageDirectories` entry of `sfdx-project.json` inside
//! it, and any folder of retrieved metadata, is covered), skipping hidden folders and
//! `node_modules` and never following symbolic links to folders. A file is recognised by its
//! suffix, in source format (`Name.eca-meta.xml`) or Metadata API format (`Name.eca`).

use std::path::{Path, PathBuf};

/// The metadata types the audit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `ExternalClientApplication` (`.eca`): the app's header.
    EcaHeader,
    /// `ExtlClntAppGlobalOauthSettings` (`.ecaGlblOauth`): PKCE, rotation, flows, callbacks.
    EcaGlobalOauth,
    /// `ExtlClntAppOauthSettings` (`.ecaOauth`): scopes.
    EcaOauth,
    /// `ExtlClntAppOauthConfigurablePolicies` (`.ecaOauthPlcy`): subscriber's OAuth policy.
    EcaOauthPolicy,
    /// `ExtlClntAppConfigurablePolicies` (`.ecaPlcy`): subscriber's app policy.
    EcaPolicy,
    /// `ExtlClntAppOauthSecuritySettings` (`.ecaOauthSecurity`): refresh-token IP allowlist.
    EcaOauthSecurity,
    /// `ConnectedApp` (`.connectedApp`).
    ConnectedApp,
    /// `OauthOidcSettings` (`settings/OauthOidc.settings`): org-wide flow blocks.
    OrgOauthSettings,
}

/// Suffix, folder and root element of one type.
#[derive(Debug)]
pub struct TypeInfo {
    pub kind: Kind,
    /// Without the dot, e.g. `ecaGlblOauth`.
    pub suffix: &'static str,
    /// The folder SDR puts it in.
    pub folder: &'static str,
    /// The XML root element.
    pub root: &'static str,
}

/// Every type the audit reads.
pub const TYPES: [TypeInfo; 8] = [
    TypeInfo {
        kind: Kind::EcaHeader,
        suffix: "eca",
        folder: "externalClientApps",
        root: "ExternalClientApplication",
    },
    TypeInfo {
        kind: Kind::EcaGlobalOauth,
        suffix: "ecaGlblOauth",
        folder: "extlClntAppGlobalOauthSets",
        root: "ExtlClntAppGlobalOauthSettings",
    },
    TypeInfo {
        kind: Kind::EcaOauth,
        suffix: "ecaOauth",
        folder: "extlClntAppOauthSettings",
        root: "ExtlClntAppOauthSettings",
    },
    TypeInfo {
        kind: Kind::EcaOauthPolicy,
        suffix: "ecaOauthPlcy",
        folder: "extlClntAppOauthPolicies",
        root: "ExtlClntAppOauthConfigurablePolicies",
    },
    TypeInfo {
        kind: Kind::EcaPolicy,
        suffix: "ecaPlcy",
        folder: "extlClntAppPolicies",
        root: "ExtlClntAppConfigurablePolicies",
    },
    TypeInfo {
        kind: Kind::EcaOauthSecurity,
        suffix: "ecaOauthSecurity",
        folder: "extlClntAppOauthSecuritySettings",
        root: "ExtlClntAppOauthSecuritySettings",
    },
    TypeInfo {
        kind: Kind::ConnectedApp,
        suffix: "connectedApp",
        folder: "connectedApps",
        root: "ConnectedApp",
    },
    TypeInfo {
        kind: Kind::OrgOauthSettings,
        suffix: "settings",
        folder: "settings",
        root: "OauthOidcSettings",
    },
];

impl Kind {
    /// Suffix, folder and root element.
    pub fn info(self) -> &'static TypeInfo {
        TYPES
            .iter()
            .find(|t| t.kind == self)
            .unwrap_or_else(|| unreachable!("TYPES lists every kind"))
    }
}

/// A recognised file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: Kind,
    /// The name before the suffix (the component's full name).
    pub name: String,
    pub path: PathBuf,
    /// Relative to the audited folder, `/`-separated.
    pub rel: String,
}

/// What the walk found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<Found>,
    /// Files inside one of the types' folders that carry none of the suffixes (relative path,
    /// the folder's type).
    pub unrecognised: Vec<(String, Kind)>,
    /// Files or folders that could not be read (relative path, reason).
    pub unreadable: Vec<(String, String)>,
}

/// Walks `root`. Fails only when `root` itself cannot be listed.
pub fn discover(root: &Path) -> std::io::Result<Discovery> {
    let mut out = Discovery::default();
    let entries = sorted_entries(root)?;
    walk(root, entries, &mut out);
    out.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn walk(root: &Path, entries: Vec<std::fs::DirEntry>, out: &mut Discovery) {
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let rel = relative(root, &path);
        let Ok(file_type) = entry.file_type() else {
            out.unreadable.push((rel, "cannot read its type".into()));
            continue;
        };
        // A symbolic link to a folder could loop; a link to a file is read like a file.
        let is_dir = file_type.is_dir();
        if is_dir {
            if name == "node_modules" {
                continue;
            }
            match sorted_entries(&path) {
                Ok(children) => walk(root, children, out),
                Err(e) => out.unreadable.push((rel, e.to_string())),
            }
            continue;
        }
        if file_type.is_symlink() && path.is_dir() {
            continue;
        }
        match classify(&name) {
            Some((kind, stem)) => out.files.push(Found {
                kind,
                name: stem,
                path,
                rel,
            }),
            None => {
                let folder = path
                    .parent()
                    .and_then(Path::file_name)
                    .map(|f| f.to_string_lossy().into_owned());
                if let Some(t) = TYPES.iter().find(|t| {
                    t.kind != Kind::OrgOauthSettings && folder.as_deref() == Some(t.folder)
                }) {
                    out.unrecognised.push((rel, t.kind));
                }
            }
        }
    }
}

/// The kind and component name of a file name, when it has one of the suffixes.
pub fn classify(file_name: &str) -> Option<(Kind, String)> {
    let base = file_name.strip_suffix("-meta.xml").unwrap_or(file_name);
    let (stem, suffix) = base.rsplit_once('.')?;
    if stem.is_empty() {
        return None;
    }
    let t = TYPES.iter().find(|t| t.suffix == suffix)?;
    // Only one settings file matters here; the others (Security.settings, …) are not ours.
    if t.kind == Kind::OrgOauthSettings && stem != "OauthOidc" {
        return None;
    }
    Some((t.kind, stem.to_owned()))
}

/// `path` relative to `root` with `/` separators (the path itself if it is not below root).
pub fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_and_metadata_api_file_names_are_both_recognised() {
        assert_eq!(
            classify("Reauth.eca-meta.xml"),
            Some((Kind::EcaHeader, "Reauth".into()))
        );
        assert_eq!(
            classify("Reauth_glbl.ecaGlblOauth"),
            Some((Kind::EcaGlobalOauth, "Reauth_glbl".into()))
        );
        assert_eq!(
            classify("Old.connectedApp-meta.xml"),
            Some((Kind::ConnectedApp, "Old".into()))
        );
        assert_eq!(
            classify("OauthOidc.settings-meta.xml"),
            Some((Kind::OrgOauthSettings, "OauthOidc".into()))
        );
    }

    #[test]
    fn look_alike_suffixes_and_other_settings_are_not_recognised() {
        assert_eq!(classify("Reauth.externalClientApp-meta.xml"), None);
        assert_eq!(classify("Reauth.ecaGlobalOauth-meta.xml"), None);
        assert_eq!(classify("Security.settings-meta.xml"), None);
        assert_eq!(classify("README.md"), None);
    }

    #[test]
    fn the_walk_skips_hidden_folders_and_reports_strays_in_type_folders() {
        let dir = tempfile::tempdir().unwrap();
        let apps = dir.path().join("force-app/externalClientApps");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::create_dir_all(dir.path().join(".sf/externalClientApps")).unwrap();
        std::fs::write(apps.join("A.eca-meta.xml"), "<x/>").unwrap();
        std::fs::write(apps.join("A.externalClientApp-meta.xml"), "<x/>").unwrap();
        std::fs::write(dir.path().join(".sf/externalClientApps/B.eca-meta.xml"), "").unwrap();
        let d = discover(dir.path()).unwrap();
        let rels: Vec<_> = d.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, ["force-app/externalClientApps/A.eca-meta.xml"]);
        assert_eq!(
            d.unrecognised,
            [(
                "force-app/externalClientApps/A.externalClientApp-meta.xml".to_owned(),
                Kind::EcaHeader
            )]
        );
    }
}
