//! The rules of the metadata audit: stable ids, default severities, and the text and Salesforce
//! documentation each one points to (the SARIF `tool.driver.rules` and the README table come
//! from here).

use serde::{Serialize, Serializer};

/// How much a finding matters. Ordered: `Note < Warning < Error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, or something metadata cannot tell.
    Note,
    /// Weakens the app or needs a justification in the security review.
    Warning,
    /// Breaks the mandate or every connection.
    Error,
}

impl Severity {
    /// `error`, `warning` or `note` (also the SARIF `level`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Note => "note",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "note" => Ok(Self::Note),
            "warning" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            other => Err(format!(
                "unknown severity `{other}` (expected error, warning or note)"
            )),
        }
    }
}

/// One rule of the audit. The id (`RA001-pkce-required`) never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    UnparsableFile,
    PkceRequired,
    RefreshTokenRotation,
    RefreshTokenPolicy,
    IpRelaxation,
    RefreshTokenIpAllowlist,
    DeviceFlowOff,
    ClientCredentialsOff,
    UsernamePasswordFlowBlocked,
    UserAgentFlowBlocked,
    ConsumerSecretRotationOnDeploy,
    ConsumerKeyRotationOnDeploy,
    FullScope,
    WebScope,
    LocalhostCallbackMixed,
    HttpsCallback,
    ClientTypeConsistency,
    SecretInMetadata,
    LegacyConnectedApp,
    GlobalSettingsAbsent,
    UnrecognisedFile,
    OrphanEcaFile,
}

/// What a rule says about itself.
#[derive(Debug)]
pub struct RuleInfo {
    /// Stable id, e.g. `RA001-pkce-required`.
    pub id: &'static str,
    /// The SARIF `name` (PascalCase).
    pub name: &'static str,
    /// One line.
    pub title: &'static str,
    /// Why it matters.
    pub help: &'static str,
    /// Salesforce's public documentation for the setting.
    pub help_uri: &'static str,
    /// The severity of a plain violation (a finding may carry another, e.g. a note for
    /// "cannot tell from metadata").
    pub severity: Severity,
}

const META: &str = "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/";
const ECA_GLOBAL: &str = "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_extlclntappglobaloauthsettings.htm";
const ECA_POLICY: &str = "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_extlclntappoauthconfigurablepolicies.htm";
const ECA_OAUTH: &str = "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_extlclntappoauthsettings.htm";
const CONNECTED_APP: &str = "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_connectedapp.htm";
const OAUTH_OIDC: &str = "https://developer.salesforce.com/docs/atlas.en-us.api_meta.meta/api_meta/meta_oauthoidcsettings.htm";
const MANDATE: &str = "https://developer.salesforce.com/docs/atlas.en-us.packagingGuide.meta/packagingGuide/secure_code_ac_eca.htm";

impl Rule {
    /// Every rule, in id order.
    pub const ALL: [Rule; 22] = [
        Rule::UnparsableFile,
        Rule::PkceRequired,
        Rule::RefreshTokenRotation,
        Rule::RefreshTokenPolicy,
        Rule::IpRelaxation,
        Rule::RefreshTokenIpAllowlist,
        Rule::DeviceFlowOff,
        Rule::ClientCredentialsOff,
        Rule::UsernamePasswordFlowBlocked,
        Rule::UserAgentFlowBlocked,
        Rule::ConsumerSecretRotationOnDeploy,
        Rule::ConsumerKeyRotationOnDeploy,
        Rule::FullScope,
        Rule::WebScope,
        Rule::LocalhostCallbackMixed,
        Rule::HttpsCallback,
        Rule::ClientTypeConsistency,
        Rule::SecretInMetadata,
        Rule::LegacyConnectedApp,
        Rule::GlobalSettingsAbsent,
        Rule::UnrecognisedFile,
        Rule::OrphanEcaFile,
    ];

    /// The stable id.
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// Everything the rule says about itself.
    pub fn info(self) -> &'static RuleInfo {
        use Severity::{Error, Note, Warning};
        macro_rules! info {
            ($id:literal, $name:literal, $sev:expr, $uri:expr, $title:literal, $help:literal) => {{
                const I: RuleInfo = RuleInfo {
                    id: $id,
                    name: $name,
                    severity: $sev,
                    help_uri: $uri,
                    title: $title,
                    help: $help,
                };
                &I
            }};
        }
        match self {
            Rule::UnparsableFile => info!(
                "RA000-unparsable-file",
                "UnparsableFile",
                Error,
                META,
                "A metadata file cannot be read",
                "The file is not well-formed XML, has an unexpected root element, or holds a value Salesforce does not accept; nothing else in it was checked."
            ),
            Rule::PkceRequired => info!(
                "RA001-pkce-required",
                "PkceRequired",
                Error,
                ECA_GLOBAL,
                "PKCE must be required",
                "The mandate requires PKCE for every web-server flow, public or confidential. An External Client App requires it unless isPkceRequired is false; a Connected App only when oauthConfig/isPkceRequired is true (its default is false)."
            ),
            Rule::RefreshTokenRotation => info!(
                "RA002-refresh-token-rotation",
                "RefreshTokenRotation",
                Error,
                ECA_GLOBAL,
                "Refresh token rotation must be enabled",
                "The mandate requires one-time-use refresh tokens: isRefreshTokenRotationEnabled=true in the External Client App's global OAuth settings, or in a Connected App's oauthConfig (not oauthPolicy)."
            ),
            Rule::RefreshTokenPolicy => info!(
                "RA003-refresh-token-policy",
                "RefreshTokenPolicy",
                Error,
                ECA_POLICY,
                "Refresh tokens must expire after at most 30 idle days",
                "The refresh-token policy must be 'expire if not used for N' with N at most 30 days, or 'immediately expire'. 'Valid until revoked' fails. An External Client App's policy belongs to each subscriber org (the generated default is a 365-day lifetime), so it is checked only from a retrieved policy file."
            ),
            Rule::IpRelaxation => info!(
                "RA004-ip-relaxation",
                "IpRelaxation",
                Error,
                ECA_POLICY,
                "IP restrictions must be enforced",
                "IP relaxation lets tokens be used from outside the user's login IP ranges. Enforce is expected; relaxing for refresh tokens is noted; bypassing is a finding. Subscriber-owned on an External Client App."
            ),
            Rule::RefreshTokenIpAllowlist => info!(
                "RA005-refresh-token-ip-allowlist",
                "RefreshTokenIpAllowlist",
                Note,
                "https://help.salesforce.com/s/articleView?id=xcloud.set_ip_allowlist_for_refresh_tokens.htm",
                "A refresh-token IP allowlist should be enforced",
                "The allowlist lives in ExtlClntAppOauthSecuritySettings (.ecaOauthSecurity), a retrieve-only type whose XML is undocumented; no Connected App equivalent is documented. The audit reports what it found and that enforcement cannot be told from metadata."
            ),
            Rule::DeviceFlowOff => info!(
                "RA006-device-flow-off",
                "DeviceFlowOff",
                Error,
                ECA_GLOBAL,
                "The device flow must be off",
                "isDeviceFlowEnabled must be absent or false. Connected App metadata has no device-flow field, so there it cannot be told from metadata."
            ),
            Rule::ClientCredentialsOff => info!(
                "RA007-client-credentials-off",
                "ClientCredentialsOff",
                Error,
                ECA_GLOBAL,
                "The client credentials flow must be off",
                "A client-credentials grant acts as a fixed user without any customer consent. Turn off isClientCredentialsFlowEnabled (global settings and policy) / isClientCredentialEnabled, and remove the run-as user."
            ),
            Rule::UsernamePasswordFlowBlocked => info!(
                "RA008-username-password-flow-blocked",
                "UsernamePasswordFlowBlocked",
                Warning,
                OAUTH_OIDC,
                "The username-password flow should be blocked",
                "There is no per-app switch: the org setting OauthOidcSettings.blockOAuthUnPwFlow blocks it. External Client Apps do not support the flow at all."
            ),
            Rule::UserAgentFlowBlocked => info!(
                "RA009-user-agent-flow-blocked",
                "UserAgentFlowBlocked",
                Warning,
                OAUTH_OIDC,
                "The user-agent (implicit) flow should be blocked",
                "There is no per-app switch: the org setting OauthOidcSettings.blockOAuthUsrAgtFlow blocks it."
            ),
            Rule::ConsumerSecretRotationOnDeploy => info!(
                "RA010-consumer-secret-rotation-on-deploy",
                "ConsumerSecretRotationOnDeploy",
                Error,
                ECA_GLOBAL,
                "The consumer secret must not rotate on deploy",
                "shouldRotateConsumerSecret=true replaces the secret on every deploy, which breaks every connection that holds the old one. Rotate deliberately (staged credentials) instead."
            ),
            Rule::ConsumerKeyRotationOnDeploy => info!(
                "RA011-consumer-key-rotation-on-deploy",
                "ConsumerKeyRotationOnDeploy",
                Error,
                ECA_GLOBAL,
                "The consumer key must not rotate on deploy",
                "shouldRotateConsumerKey=true replaces the consumer key on every deploy: every client configured with the old key stops working."
            ),
            Rule::FullScope => info!(
                "RA012-full-scope",
                "FullScope",
                Error,
                ECA_OAUTH,
                "The Full scope is not least privilege",
                "Full grants everything the user can reach. Salesforce's own AppExchange rule flags it; ask for the scopes the integration uses."
            ),
            Rule::WebScope => info!(
                "RA013-web-scope",
                "WebScope",
                Warning,
                ECA_OAUTH,
                "The Web scope needs a justification",
                "Web (with Visualforce) lets the token open UI sessions; the security review asks why a server integration needs it."
            ),
            Rule::LocalhostCallbackMixed => info!(
                "RA014-localhost-callback-mixed",
                "LocalhostCallbackMixed",
                Warning,
                CONNECTED_APP,
                "Localhost callbacks should not be mixed with real ones",
                "A production app that also accepts a loopback callback lets anything listening on a user's machine receive codes. Keep development callbacks in a separate app."
            ),
            Rule::HttpsCallback => info!(
                "RA015-https-callback",
                "HttpsCallback",
                Error,
                CONNECTED_APP,
                "Callback URLs must use HTTPS",
                "An authorization code sent over plain HTTP can be read on the way. Loopback addresses and custom schemes are the only exceptions."
            ),
            Rule::ClientTypeConsistency => info!(
                "RA016-client-type-consistency",
                "ClientTypeConsistency",
                Warning,
                ECA_GLOBAL,
                "Public and confidential settings should agree",
                "isConsumerSecretOptional=true makes a public client, which cannot refresh if isSecretRequiredForRefreshToken is true; a confidential client with isSecretRequiredForRefreshToken=false lets a stolen refresh token work without the secret."
            ),
            Rule::SecretInMetadata => info!(
                "RA017-secret-in-metadata",
                "SecretInMetadata",
                Error,
                ECA_GLOBAL,
                "A consumer secret is in the files",
                "A consumer secret in source control is a leaked secret: rotate it and remove the element."
            ),
            Rule::LegacyConnectedApp => info!(
                "RA018-legacy-connected-app",
                "LegacyConnectedApp",
                Warning,
                "https://help.salesforce.com/s/articleView?id=xcloud.connected_app_to_external_client_app_migration.htm",
                "A legacy Connected App is still present",
                "The rollout moves every org to the packaged External Client App; the Connected App stays until no org uses it (the count comes from reauth's registry when a database is configured)."
            ),
            Rule::GlobalSettingsAbsent => info!(
                "RA019-global-settings-absent",
                "GlobalSettingsAbsent",
                Warning,
                ECA_GLOBAL,
                "The External Client App's global OAuth settings were not found",
                "PKCE, rotation, flows, callbacks and secret rotation live in the .ecaGlblOauth file, which is neither packaged nor kept in source control. Retrieve a copy into the audited folder to have them checked."
            ),
            Rule::UnrecognisedFile => info!(
                "RA020-unrecognised-file",
                "UnrecognisedFile",
                Warning,
                MANDATE,
                "A file in a metadata folder has a suffix Salesforce does not read",
                "Salesforce reads each type only under its own suffix (e.g. .eca-meta.xml, .ecaGlblOauth-meta.xml); a file named otherwise is silently not deployed."
            ),
            Rule::OrphanEcaFile => info!(
                "RA021-orphan-eca-file",
                "OrphanEcaFile",
                Note,
                META,
                "An External Client App file names an app that has no .eca file here",
                "The file was checked on its own; deploying it needs the ExternalClientApplication it references."
            ),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One thing the audit found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id.
    pub rule: Rule,
    pub severity: Severity,
    /// The app's API name, when the finding belongs to one.
    pub app: Option<String>,
    /// Path relative to the audited folder, with `/` separators.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// What was found.
    pub found: String,
    /// What to set instead.
    pub fix: String,
    /// True when the finding says the metadata cannot answer the question.
    pub cannot_tell: bool,
}

impl Finding {
    /// A finding at the rule's default severity.
    pub fn new(
        rule: Rule,
        app: Option<&str>,
        file: &str,
        line: u32,
        found: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self {
            rule,
            severity: rule.info().severity,
            app: app.map(str::to_owned),
            file: file.to_owned(),
            line,
            found: found.into(),
            fix: fix.into(),
            cannot_tell: false,
        }
    }

    /// Changes the severity (a milder or harsher case of the rule).
    pub fn set_severity(&mut self, severity: Severity) -> &mut Self {
        self.severity = severity;
        self
    }

    /// Marks it "cannot tell from metadata" (always a note).
    pub fn mark_cannot_tell(&mut self) -> &mut Self {
        self.severity = Severity::Note;
        self.cannot_tell = true;
        self
    }
}
