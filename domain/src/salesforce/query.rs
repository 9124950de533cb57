//! SOQL queries through the REST API, paged through `nextRecordsUrl`: the token-use monitor's
//! `LoginHistory` reads. Only ever with an access token the caller already holds.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;

use super::SfError;

/// One `LoginHistory` row, as the monitor reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRow {
    pub id: String,
    pub login_time: DateTime<Utc>,
    pub source_ip: String,
    pub status: String,
    pub application: String,
    pub login_sub_type: String,
    pub country_iso: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRow {
    id: String,
    login_time: String,
    #[serde(default)]
    source_ip: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    application: Option<String>,
    #[serde(default)]
    login_sub_type: Option<String>,
    #[serde(default)]
    country_iso: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    records: Vec<RawRow>,
    #[serde(default)]
    next_records_url: Option<String>,
}

/// Salesforce's REST datetime (`2026-12-01T10:00:00.000+0000`) or RFC 3339.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The SOQL for a user's OAuth rows after `since` (the filters Salesforce can apply; status,
/// application and address are filtered by the caller).
pub fn login_history_soql(user_id: &str, since: DateTime<Utc>) -> String {
    // An id is letters and digits only: nothing to escape, and anything else is refused.
    let user: String = user_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "SELECT Id, LoginTime, SourceIp, Status, Application, LoginSubType, CountryIso FROM LoginHistory \
         WHERE UserId = '{user}' AND LoginType = 'Remote Access 2.0' AND LoginTime > {} ORDER BY LoginTime ASC",
        since.format("%Y-%m-%dT%H:%M:%S%.3fZ")
    )
}

impl super::SfClient {
    /// Every `LoginHistory` row of `user_id`'s OAuth logins after `since`, oldest first, and how
    /// many API calls reading them took. `max_pages` bounds one read.
    pub async fn login_history(
        &self,
        instance_url: &str,
        api_version: &str,
        access_token: &SecretString,
        user_id: &str,
        since: DateTime<Utc>,
        max_pages: u32,
    ) -> Result<(Vec<LoginRow>, u32), SfError> {
        let base = instance_url.trim_end_matches('/');
        let mut url = url::Url::parse(&format!("{base}/services/data/v{api_version}/query"))
            .map_err(|e| SfError::Garbage(format!("instance URL: {e}")))?;
        url.query_pairs_mut()
            .append_pair("q", &login_history_soql(user_id, since));
        let mut next = Some(url.to_string());
        let mut rows = Vec::new();
        let mut calls = 0;
        while let Some(u) = next.take() {
            if calls >= max_pages {
                break;
            }
            calls += 1;
            let page: Page = self
                .rest_get(&u, access_token)
                .await?
                .json()
                .await
                .map_err(|e| SfError::Garbage(format!("query answer: {e}")))?;
            for r in page.records {
                let Some(login_time) = parse_time(&r.login_time) else {
                    return Err(SfError::Garbage(format!(
                        "LoginHistory row {} has LoginTime `{}`",
                        r.id, r.login_time
                    )));
                };
                rows.push(LoginRow {
                    id: r.id,
                    login_time,
                    source_ip: r.source_ip.unwrap_or_default(),
                    status: r.status.unwrap_or_default(),
                    application: r.application.unwrap_or_default(),
                    login_sub_type: r.login_sub_type.unwrap_or_default(),
                    country_iso: r.country_iso,
                });
            }
            // Paging stays on the instance: a cursor is a path, never another host.
            next = match page.next_records_url {
                Some(p) if p.starts_with('/') => Some(format!("{base}{p}")),
                Some(p) => {
                    return Err(SfError::Garbage(format!(
                        "nextRecordsUrl `{p}` is not a path"
                    )));
                }
                None => None,
            };
        }
        Ok((rows, calls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_filters_what_salesforce_can_and_keeps_ids_clean() {
        let since = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap_or_else(|e| panic!("{e}"))
            .with_timezone(&Utc);
        let q = login_history_soql("005000000000001AAA' OR 'x", since);
        assert!(q.contains("UserId = '005000000000001AAAORx'"), "{q}");
        assert!(q.contains("LoginTime > 2026-12-01T10:00:00.000Z"), "{q}");
        assert!(q.contains("LoginType = 'Remote Access 2.0'"), "{q}");
        assert_eq!(
            parse_time("2026-12-01T10:00:00.000+0000"),
            Some(since),
            "Salesforce's REST datetime"
        );
    }
}
