//! The default dataset, the TOML round trip and the builder methods.

use super::*;

impl Config {
    /// The default dataset: a production and a sandbox org with an admin each, a non-admin
    /// user, a confidential client (PKCE required, rotation on, 30-day idle policy), a public one,
    /// and the legacy Connected App (rotation off, valid until revoked); both orgs have the
    /// `Reauth Connector` package installed.
    pub fn default_dataset() -> Self {
        let user = |id: &str, username: &str, admin: bool| UserConfig {
            id: Some(id.into()),
            username: username.into(),
            password: "password".into(),
            admin,
            frozen: false,
        };
        Self {
            settings: Settings::default(),
            faults: Faults::default(),
            clients: vec![
                ClientConfig {
                    client_id: "reauth-eca".into(),
                    client_secret: Some("reauth-eca-secret".into()),
                    redirect_uris: vec!["http://127.0.0.1:8080/oauth/callback".into()],
                    pkce_required: true,
                    rotation: true,
                    refresh_policy: default_policy(),
                    secret_required_for_refresh: true,
                    ip_allowlist: vec![],
                    session_timeout: default_session(),
                    issue_refresh_token: true,
                    preauthorized_users: None,
                    app_label: Some("Reauth".into()),
                    previous_client_secret: None,
                },
                ClientConfig {
                    client_id: "reauth-public".into(),
                    client_secret: None,
                    redirect_uris: vec!["http://127.0.0.1:8080/oauth/callback".into()],
                    pkce_required: true,
                    rotation: true,
                    refresh_policy: default_policy(),
                    secret_required_for_refresh: false,
                    ip_allowlist: vec![],
                    session_timeout: default_session(),
                    issue_refresh_token: true,
                    preauthorized_users: None,
                    app_label: Some("Reauth Mobile".into()),
                    previous_client_secret: None,
                },
                ClientConfig {
                    client_id: "reauth-legacy".into(),
                    client_secret: Some("reauth-legacy-secret".into()),
                    redirect_uris: vec!["http://127.0.0.1:8080/oauth/callback".into()],
                    // A Connected App's `isPkceRequired` defaults to false.
                    pkce_required: false,
                    rotation: false,
                    refresh_policy: RefreshPolicy::Infinite,
                    secret_required_for_refresh: true,
                    ip_allowlist: vec![],
                    session_timeout: default_session(),
                    issue_refresh_token: true,
                    preauthorized_users: None,
                    app_label: Some("Reauth Legacy".into()),
                    previous_client_secret: None,
                },
            ],
            orgs: vec![
                OrgConfig {
                    id: "00D000000000001EAA".into(),
                    name: "Acme Production".into(),
                    environment: "production".into(),
                    users: vec![
                        user("005000000000001AAA", "admin@acme.example", true),
                        user("005000000000003AAA", "user@acme.example", false),
                    ],
                    locked: false,
                    apps: BTreeMap::new(),
                    installed_packages: vec![InstalledPackage::reauth_connector()],
                },
                OrgConfig {
                    id: "00D000000000002EAA".into(),
                    name: "Acme Sandbox".into(),
                    environment: "sandbox".into(),
                    users: vec![user("005000000000002AAA", "admin@acme.example.uat", true)],
                    locked: false,
                    apps: BTreeMap::new(),
                    installed_packages: vec![InstalledPackage::reauth_connector()],
                },
            ],
        }
    }

    /// Parses a TOML file's text; unknown keys are refused by name.
    pub fn from_toml_str(s: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(s)
    }

    /// The configuration as TOML (secrets included: it is a simulator).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }

    /// Adds an org (builder).
    pub fn with_org(
        mut self,
        id: &str,
        name: &str,
        environment: &str,
        users: Vec<UserConfig>,
    ) -> Self {
        self.orgs.push(OrgConfig {
            id: id.into(),
            name: name.into(),
            environment: environment.into(),
            users,
            locked: false,
            apps: BTreeMap::new(),
            installed_packages: vec![],
        });
        self
    }

    /// Adds a client (builder).
    pub fn with_client(mut self, c: ClientConfig) -> Self {
        self.clients.push(c);
        self
    }

    /// Adds a callback to every client (what `--redirect-uri` does).
    pub fn with_redirect_uri(mut self, uri: &str) -> Self {
        for c in &mut self.clients {
            if !c.redirect_uris.iter().any(|u| u == uri) {
                c.redirect_uris.push(uri.into());
            }
        }
        self
    }
}
