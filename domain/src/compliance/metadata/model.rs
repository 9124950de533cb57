//! Typed models of the files the rules look at, read from the element tree.
//!
//! Only the elements the mandate is about are kept, each with its line. An element that is
//! absent stays `None` (the rules know each one's default); a value Salesforce would not accept
//! (a boolean that is not `true`/`false`) becomes an `RA000` finding and is treated as absent.

use super::catalog::{Finding, Rule};
use super::xml::Element;

/// A value and the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value<T> {
    pub value: T,
    pub line: u32,
}

/// Where a file is: relative path and the line of its root element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    pub rel: String,
    pub line: u32,
}

/// `ExtlClntAppGlobalOauthSettings`.
#[derive(Debug, Clone)]
pub struct GlobalOauth {
    pub file: FileRef,
    pub app: Option<Value<String>>,
    pub is_pkce_required: Option<Value<bool>>,
    pub is_refresh_token_rotation_enabled: Option<Value<bool>>,
    pub is_device_flow_enabled: Option<Value<bool>>,
    pub is_client_credentials_flow_enabled: Option<Value<bool>>,
    pub is_consumer_secret_optional: Option<Value<bool>>,
    pub is_secret_required_for_refresh_token: Option<Value<bool>>,
    pub should_rotate_consumer_secret: Option<Value<bool>>,
    pub should_rotate_consumer_key: Option<Value<bool>>,
    /// One entry per URL.
    pub callback_urls: Vec<Value<String>>,
    /// Line of a non-empty `consumerSecret` (never its value).
    pub consumer_secret_line: Option<u32>,
}

/// `ExtlClntAppOauthSettings`.
#[derive(Debug, Clone)]
pub struct EcaOauth {
    pub file: FileRef,
    pub app: Option<Value<String>>,
    /// Each scope token of `commaSeparatedOauthScopes`, on that element's line.
    pub scopes: Vec<Value<String>>,
}

/// `ExtlClntAppOauthConfigurablePolicies` (the subscriber's, when a retrieved copy is present).
#[derive(Debug, Clone)]
pub struct EcaOauthPolicy {
    pub file: FileRef,
    pub app: Option<Value<String>>,
    pub refresh_token_policy_type: Option<Value<String>>,
    pub refresh_token_validity_period: Option<Value<String>>,
    pub refresh_token_validity_unit: Option<Value<String>>,
    pub ip_relaxation_policy_type: Option<Value<String>>,
    pub is_client_credentials_flow_enabled: Option<Value<bool>>,
    pub client_credentials_flow_user: Option<Value<String>>,
}

/// A bundle file that is only grouped, not checked (`.eca`, `.ecaPlcy`).
#[derive(Debug, Clone)]
pub struct EcaPart {
    pub file: FileRef,
    pub app: Option<Value<String>>,
}

/// `ExtlClntAppOauthSecuritySettings`. Its XML is undocumented: the app reference is looked for
/// anywhere, and a "range" is any element with both `startIpAddress` and `endIpAddress`
/// children (the field names of the `ExtlClntAppOauthSecurityTokenIpRange` setup object).
#[derive(Debug, Clone)]
pub struct EcaOauthSecurity {
    pub file: FileRef,
    pub app: Option<Value<String>>,
    /// Line of each range.
    pub ranges: Vec<u32>,
}

/// `ConnectedApp`.
#[derive(Debug, Clone)]
pub struct ConnectedApp {
    pub file: FileRef,
    pub name: String,
    pub oauth_config: Option<CaOauthConfig>,
    pub oauth_policy: Option<CaOauthPolicy>,
}

/// `ConnectedApp/oauthConfig`.
#[derive(Debug, Clone)]
pub struct CaOauthConfig {
    pub line: u32,
    pub is_pkce_required: Option<Value<bool>>,
    pub is_refresh_token_rotation_enabled: Option<Value<bool>>,
    pub is_client_credential_enabled: Option<Value<bool>>,
    pub oauth_client_credential_user: Option<Value<String>>,
    pub is_consumer_secret_optional: Option<Value<bool>>,
    pub is_secret_required_for_refresh_token: Option<Value<bool>>,
    pub scopes: Vec<Value<String>>,
    pub callback_urls: Vec<Value<String>>,
    pub consumer_secret_line: Option<u32>,
}

/// `ConnectedApp/oauthPolicy`.
#[derive(Debug, Clone)]
pub struct CaOauthPolicy {
    pub line: u32,
    pub refresh_token_policy: Option<Value<String>>,
    pub ip_relaxation: Option<Value<String>>,
    /// `isRefreshTokenRotationEnabled` put here, where Salesforce does not read it.
    pub misplaced_rotation: Option<Value<bool>>,
}

/// `OauthOidcSettings`.
#[derive(Debug, Clone)]
pub struct OrgOauthSettings {
    pub file: FileRef,
    pub block_oauth_un_pw_flow: Option<Value<bool>>,
    pub block_oauth_usr_agt_flow: Option<Value<bool>>,
}

/// Reads typed values from one element, collecting problems with values.
pub struct Reader<'a> {
    el: &'a Element,
    rel: &'a str,
    app: Option<&'a str>,
    problems: &'a mut Vec<Finding>,
}

impl<'a> Reader<'a> {
    /// A reader over `el` in file `rel`; problems name `app` when known.
    pub fn new(
        el: &'a Element,
        rel: &'a str,
        app: Option<&'a str>,
        problems: &'a mut Vec<Finding>,
    ) -> Self {
        Self {
            el,
            rel,
            app,
            problems,
        }
    }

    /// A boolean child: `true`/`false` (XML Schema also allows `1`/`0`).
    pub fn flag(&mut self, name: &str) -> Option<Value<bool>> {
        let c = self.el.child(name)?;
        let value = match c.trimmed() {
            "true" | "1" => true,
            "false" | "0" => false,
            other => {
                self.problems.push(Finding::new(
                    Rule::UnparsableFile,
                    self.app,
                    self.rel,
                    c.line,
                    format!("<{name}> holds `{other}`, which is not a boolean"),
                    format!("write <{name}>true</{name}> or <{name}>false</{name}>"),
                ));
                return None;
            }
        };
        Some(Value {
            value,
            line: c.line,
        })
    }

    /// A text child, trimmed; an empty element counts as absent.
    pub fn text(&self, name: &str) -> Option<Value<String>> {
        let c = self.el.child(name)?;
        let t = c.trimmed();
        (!t.is_empty()).then(|| Value {
            value: t.to_owned(),
            line: c.line,
        })
    }

    /// The URLs of a callback element, one per white-space separated token, each on its line.
    pub fn urls(&self, name: &str) -> Vec<Value<String>> {
        let Some(c) = self.el.child(name) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, line) in c.text.split('\n').enumerate() {
            for token in line.split_whitespace() {
                out.push(Value {
                    value: token.to_owned(),
                    line: c
                        .text_line
                        .saturating_add(u32::try_from(i).unwrap_or(u32::MAX)),
                });
            }
        }
        out
    }

    /// Line of a child with non-empty text (for secrets, whose value is never copied).
    pub fn present(&self, name: &str) -> Option<u32> {
        self.el
            .child(name)
            .filter(|c| !c.trimmed().is_empty())
            .map(|c| c.line)
    }
}

impl GlobalOauth {
    /// Reads the root element of a `.ecaGlblOauth` file.
    pub fn read(root: &Element, file: FileRef, problems: &mut Vec<Finding>) -> Self {
        let app = app_ref(root);
        let name = app.as_ref().map(|a| a.value.clone());
        let mut r = Reader::new(root, &file.rel, name.as_deref(), problems);
        Self {
            is_pkce_required: r.flag("isPkceRequired"),
            is_refresh_token_rotation_enabled: r.flag("isRefreshTokenRotationEnabled"),
            is_device_flow_enabled: r.flag("isDeviceFlowEnabled"),
            is_client_credentials_flow_enabled: r.flag("isClientCredentialsFlowEnabled"),
            is_consumer_secret_optional: r.flag("isConsumerSecretOptional"),
            is_secret_required_for_refresh_token: r.flag("isSecretRequiredForRefreshToken"),
            should_rotate_consumer_secret: r.flag("shouldRotateConsumerSecret"),
            should_rotate_consumer_key: r.flag("shouldRotateConsumerKey"),
            callback_urls: r.urls("callbackUrl"),
            consumer_secret_line: r.present("consumerSecret"),
            app,
            file,
        }
    }
}

impl EcaOauth {
    /// Reads the root element of a `.ecaOauth` file.
    pub fn read(root: &Element, file: FileRef) -> Self {
        let scopes = root
            .child("commaSeparatedOauthScopes")
            .map(|c| {
                c.trimmed()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value {
                        value: s.to_owned(),
                        line: c.line,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            app: app_ref(root),
            scopes,
            file,
        }
    }
}

impl EcaOauthPolicy {
    /// Reads the root element of a `.ecaOauthPlcy` file.
    pub fn read(root: &Element, file: FileRef, problems: &mut Vec<Finding>) -> Self {
        let app = app_ref(root);
        let name = app.as_ref().map(|a| a.value.clone());
        let mut r = Reader::new(root, &file.rel, name.as_deref(), problems);
        Self {
            refresh_token_policy_type: r.text("refreshTokenPolicyType"),
            refresh_token_validity_period: r.text("refreshTokenValidityPeriod"),
            refresh_token_validity_unit: r.text("refreshTokenValidityUnit"),
            ip_relaxation_policy_type: r.text("ipRelaxationPolicyType"),
            is_client_credentials_flow_enabled: r.flag("isClientCredentialsFlowEnabled"),
            client_credentials_flow_user: r.text("clientCredentialsFlowUser"),
            app,
            file,
        }
    }
}

impl EcaOauthSecurity {
    /// Reads the root element of a `.ecaOauthSecurity` file.
    pub fn read(root: &Element, file: FileRef) -> Self {
        let app = root
            .descendants()
            .into_iter()
            .find(|e| e.name == "externalClientApplication" && !e.trimmed().is_empty())
            .map(|e| Value {
                value: e.trimmed().to_owned(),
                line: e.line,
            });
        let has = |e: &Element, n: &str| e.children.iter().any(|c| c.name.eq_ignore_ascii_case(n));
        let ranges = root
            .descendants()
            .into_iter()
            .filter(|e| has(e, "startIpAddress") && has(e, "endIpAddress"))
            .map(|e| e.line)
            .collect();
        Self { file, app, ranges }
    }
}

impl ConnectedApp {
    /// Reads the root element of a `.connectedApp` file named `name`.
    pub fn read(root: &Element, file: FileRef, name: &str, problems: &mut Vec<Finding>) -> Self {
        let oauth_config = root.child("oauthConfig").map(|c| {
            let mut r = Reader::new(c, &file.rel, Some(name), problems);
            CaOauthConfig {
                line: c.line,
                is_pkce_required: r.flag("isPkceRequired"),
                is_refresh_token_rotation_enabled: r.flag("isRefreshTokenRotationEnabled"),
                is_client_credential_enabled: r.flag("isClientCredentialEnabled"),
                oauth_client_credential_user: r.text("oauthClientCredentialUser"),
                is_consumer_secret_optional: r.flag("isConsumerSecretOptional"),
                is_secret_required_for_refresh_token: r.flag("isSecretRequiredForRefreshToken"),
                scopes: c
                    .children_named("scopes")
                    .filter(|s| !s.trimmed().is_empty())
                    .map(|s| Value {
                        value: s.trimmed().to_owned(),
                        line: s.line,
                    })
                    .collect(),
                callback_urls: r.urls("callbackUrl"),
                consumer_secret_line: r.present("consumerSecret"),
            }
        });
        let oauth_policy = root.child("oauthPolicy").map(|p| {
            let mut r = Reader::new(p, &file.rel, Some(name), problems);
            CaOauthPolicy {
                line: p.line,
                refresh_token_policy: r.text("refreshTokenPolicy"),
                ip_relaxation: r.text("ipRelaxation"),
                misplaced_rotation: r.flag("isRefreshTokenRotationEnabled"),
            }
        });
        Self {
            file,
            name: name.to_owned(),
            oauth_config,
            oauth_policy,
        }
    }
}

impl OrgOauthSettings {
    /// Reads the root element of `OauthOidc.settings`.
    pub fn read(root: &Element, file: FileRef, problems: &mut Vec<Finding>) -> Self {
        let mut r = Reader::new(root, &file.rel, None, problems);
        Self {
            block_oauth_un_pw_flow: r.flag("blockOAuthUnPwFlow"),
            block_oauth_usr_agt_flow: r.flag("blockOAuthUsrAgtFlow"),
            file,
        }
    }
}

/// The `externalClientApplication` child: which app a bundle file belongs to.
pub fn app_ref(root: &Element) -> Option<Value<String>> {
    root.child("externalClientApplication")
        .filter(|c| !c.trimmed().is_empty())
        .map(|c| Value {
            value: c.trimmed().to_owned(),
            line: c.line,
        })
}
