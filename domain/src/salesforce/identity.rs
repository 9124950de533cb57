//! The identity URL (`id` in token answers): which org and user a token belongs to.

use secrecy::SecretString;
use serde::Deserialize;

use super::SfError;
use crate::types::{LoginUrl, OrgId};

/// A parsed `https://<login host>/id/<org id>/<user id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdUrl {
    pub url: String,
    pub org_id: OrgId,
    pub user_id: String,
}

impl IdUrl {
    /// Parses and checks the host (a Salesforce host, or a listed test host).
    pub fn parse(s: &str, extra_hosts: &[String]) -> Result<Self, SfError> {
        let bad = |why: &str| SfError::Garbage(format!("identity URL: {why}"));
        let url = url::Url::parse(s).map_err(|_| bad("not a URL"))?;
        let origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
            + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
        LoginUrl::parse(&origin, extra_hosts).map_err(|e| bad(&e.to_string()))?;
        let segs: Vec<&str> = url
            .path_segments()
            .map(Iterator::collect)
            .unwrap_or_default();
        let [.., "id", org, user] = segs.as_slice() else {
            return Err(bad("expected /id/<org>/<user>"));
        };
        let org_id = OrgId::parse(org).map_err(|e| bad(&e.to_string()))?;
        if !(user.len() == 15 || user.len() == 18) || !user.starts_with("005") {
            return Err(bad("the user id is not a Salesforce user id"));
        }
        Ok(Self {
            url: s.to_owned(),
            org_id,
            user_id: (*user).to_owned(),
        })
    }
}

/// What the identity URL says about a token's user.
#[derive(Debug, Clone, Deserialize)]
pub struct Identity {
    pub organization_id: String,
    pub user_id: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
}

impl super::SfClient {
    /// Calls the identity URL with an access token. Needs no extra permission, unlike `/limits`.
    pub async fn identity(
        &self,
        id: &IdUrl,
        access_token: &SecretString,
    ) -> Result<Identity, SfError> {
        self.rest_get(&id.url, access_token)
            .await?
            .json::<Identity>()
            .await
            .map_err(|e| SfError::Garbage(format!("identity answer: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_urls_yield_org_and_user() {
        let id = IdUrl::parse(
            "https://test.salesforce.com/id/00D4c0000008cs2EAA/0054c000000etGWAAY",
            &[],
        )
        .unwrap();
        assert_eq!(id.org_id.as_str(), "00D4c0000008cs2EAA");
        assert_eq!(id.user_id, "0054c000000etGWAAY");
    }

    #[test]
    fn foreign_hosts_and_shapes_are_refused() {
        assert!(
            IdUrl::parse(
                "https://evil.example/id/00D4c0000008cs2EAA/0054c000000etGWAAY",
                &[]
            )
            .is_err()
        );
        assert!(IdUrl::parse("https://login.salesforce.com/id/0054c000000etGWAAY", &[]).is_err());
        assert!(
            IdUrl::parse(
                "https://login.salesforce.com/id/00D4c0000008cs2EAA/00Q4c000000etGW",
                &[]
            )
            .is_err()
        );
    }
}
