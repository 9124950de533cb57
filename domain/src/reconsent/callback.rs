//! The callback: Salesforce's answer, checked before anything is kept — the state, the
//! sign-in's age, the nonce in an ID token, the org that consented — then stored sealed and
//! verified. A grant reauth does not keep is revoked at once, so no orphan counts against
//! Salesforce's approvals.

use chrono::{DateTime, Utc};
use sea_orm::EntityTrait;
use secrecy::SecretString;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::verify::{Verified, verify};
use super::{APP, Flow, MAX_FLOW_AGE, Pending, redirect_uri};
use crate::alerts::{self, Severity};
use crate::entity::connection::ConnectionStatus;
use crate::error::{Error, Result};
use crate::events::{self, Actor};
use crate::reconsent::links;
use crate::registry::state::{self, Change, OrgState};
use crate::salesforce::{SfError, TokenGrant, id_token_nonce, wants_id_token};
use crate::types::{LoginUrl, OrgId};
use crate::vault::store;

/// What the callback's query said.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// How the callback ended, for the page that explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Stored and verified (`verified`), or stored but verification failed (`reason`).
    Connected {
        org_id: OrgId,
        org_name: String,
        verified: bool,
        reason: Option<String>,
        replaced: bool,
    },
    /// The admin signed into another org; its grant was revoked.
    WrongOrg {
        expected: OrgId,
        org_name: String,
        used: OrgId,
        environment: String,
    },
    /// Salesforce answered with an error (the admin denied, the app is blocked, …).
    Refused {
        error: String,
        description: Option<String>,
    },
    /// Salesforce issued no refresh token (the app's policy or scopes).
    NoRefreshToken { org_id: OrgId },
    /// No flow was in progress in this browser, the state did not match, or it was too old.
    BadState(StateProblem),
    /// The link was used, revoked or expired while the admin was at Salesforce.
    LinkGone,
    /// Salesforce could not be reached or answered nonsense.
    Unavailable(String),
}

/// Why a callback could not be matched to a sign-in started in this browser; the page says
/// each in its own words (`templates/reconsent/outcome.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    /// No sign-in is in progress in this browser (the callback was reloaded, or opened in
    /// another browser).
    NoSignIn,
    /// The answer carried no state.
    NoState,
    /// The answer's state or ID-token nonce belongs to another sign-in.
    Mismatch,
    /// The sign-in took longer than the flow may.
    TooOld,
    /// The answer carried neither a code nor an error.
    NoAnswer,
}

/// Completes the flow. `pending` is what the session held (already removed from it: one-shot).
pub async fn complete(
    flow: &Flow<'_>,
    pending: Option<Pending>,
    params: CallbackParams,
    now: DateTime<Utc>,
) -> Result<Finish> {
    let p = match check_state(pending, &params, now) {
        Ok(p) => p,
        Err(finish) => return Ok(finish),
    };
    let expected = OrgId::parse(&p.org_id).map_err(|e| Error::Internal(e.to_string()))?;
    let customer = Actor::Customer("customer admin".into());
    if let Some(error) = &params.error {
        events::record(
            flow.db,
            now,
            &customer,
            Some(&expected),
            "consent.refused",
            serde_json::json!({ "error": error, "description": params.error_description }),
        )
        .await?;
        return Ok(Finish::Refused {
            error: error.clone(),
            description: params.error_description.clone(),
        });
    }
    let Some(code) = params.code.as_deref() else {
        return Ok(Finish::BadState(StateProblem::NoAnswer));
    };
    let login = LoginUrl::parse(&p.login_url, &flow.config.salesforce.extra_login_hosts)
        .map_err(|e| Error::Internal(e.to_string()))?;
    let grant = match exchange(flow, &p, &login, code, &expected, now).await? {
        Ok(g) => g,
        Err(finish) => return Ok(finish),
    };
    let o = crate::entity::org::Entity::find_by_id(expected.clone())
        .one(flow.db)
        .await?
        .ok_or_else(|| Error::UnknownOrg(expected.clone()))?;
    let Some(id) = grant.id.clone() else {
        // Without a readable identity we cannot tell which org consented: keep nothing.
        let detail = grant.anomalies.join("; ");
        let revoked = revoke_grant(flow, &login, &grant).await;
        events::record(
            flow.db,
            now,
            &Actor::System,
            Some(&expected),
            "consent.exchange_failed",
            serde_json::json!({ "error": "unreadable identity", "detail": detail, "revoked": revoked }),
        )
        .await?;
        alerts::raise(
            flow.db,
            "consent.unreadable_answer",
            Severity::Critical,
            Some(&expected),
            &format!("A consent's answer did not say which org it is for ({detail}); its grant was revoked."),
            serde_json::json!({}),
            now,
        )
        .await?;
        return Ok(Finish::Unavailable(format!(
            "Salesforce's answer did not say which org you signed in to ({detail})"
        )));
    };
    if id.org_id != expected {
        // Never keep a grant for an org we did not ask for.
        let revoked = revoke_grant(flow, &login, &grant).await;
        events::record(
            flow.db,
            now,
            &customer,
            Some(&expected),
            "consent.wrong_org",
            serde_json::json!({ "expected": expected, "used": id.org_id, "revoked": revoked }),
        )
        .await?;
        return Ok(Finish::WrongOrg {
            expected,
            org_name: o.name,
            used: id.org_id,
            environment: o.environment.to_string(),
        });
    }
    let Some(refresh_token) = grant.refresh_token.clone() else {
        let _revoked = revoke_grant(flow, &login, &grant).await;
        events::record(
            flow.db,
            now,
            &customer,
            Some(&expected),
            "consent.no_refresh_token",
            serde_json::json!({ "scopes": grant.scopes }),
        )
        .await?;
        return Ok(Finish::NoRefreshToken { org_id: expected });
    };
    let anomaly = (!grant.anomalies.is_empty()).then(|| grant.anomalies.join("; "));
    // An instance URL on a host we do not recognise is not handed to anyone: the identity URL's
    // origin (the org's login host) serves until a clean answer brings a recognised one.
    let instance_url = grant
        .instance_url
        .clone()
        .unwrap_or_else(|| origin_of(&id.url));

    // Store, consume the link and move the org on, atomically.
    let txn = crate::db::begin_write(flow.db).await?;
    if !links::consume(&txn, p.link_id, now).await? {
        txn.rollback().await?;
        let _revoked = revoke_grant(flow, &login, &grant).await;
        return Ok(Finish::LinkGone);
    }
    let replaces = store::find(
        &txn,
        &expected,
        APP,
        &[ConnectionStatus::Active, ConnectionStatus::Refreshing],
    )
    .await?
    .first()
    .map(|c| c.id);
    let conn = store::insert(
        &txn,
        store::NewConnection {
            org_id: &expected,
            app: APP,
            status: ConnectionStatus::Verifying,
            id: &id,
            instance_url: &instance_url,
            scopes: &grant.scopes,
            access_token: Some(&grant.access_token),
            refresh_token: &refresh_token,
            anomaly: anomaly.clone(),
            replaces_id: replaces,
            heartbeat_interval: Some(flow.config.heartbeat.interval),
            issued_at: None,
            sf_username: None,
        },
        flow.sealer(),
        now,
    )
    .await?;
    events::record(
        &txn,
        now,
        &customer,
        Some(&expected),
        "consent.completed",
        serde_json::json!({ "connection_id": conn.id, "sf_user_id": id.user_id, "scopes": grant.scopes, "replaces": conn.replaces_id, "pkce": "S256", "anomaly": anomaly }),
    )
    .await?;
    txn.commit().await?;
    if let Some(a) = &anomaly {
        alerts::raise(
            flow.db,
            "vault.answer_anomaly",
            Severity::Warning,
            Some(&expected),
            &format!("Salesforce's answer to a consent looked wrong ({a}); its tokens were kept."),
            serde_json::json!({ "connection_id": conn.id }),
            now,
        )
        .await?;
    }
    state::apply(
        flow.db,
        &expected,
        Change::Advance(OrgState::Consented),
        &customer,
        now,
    )
    .await?;
    // The campaign stops the moment an org consents.
    crate::campaign::notices::cancel_campaign(flow.db, &expected, now).await?;
    let approvals = store::approvals_by_user(flow.db, &id.user_id, APP).await?;
    if approvals >= 4 {
        events::record(
            flow.db,
            now,
            &Actor::System,
            Some(&expected),
            "consent.many_approvals",
            serde_json::json!({ "sf_user_id": id.user_id, "approvals": approvals, "note": "Salesforce keeps five approvals per user per app; the oldest is revoked beyond that" }),
        )
        .await?;
    }

    // Verify with the new access token before trusting it over any older grant.
    Ok(
        match verify(flow, &expected, conn.id, Some(&grant.access_token), now).await? {
            Verified::Failed(reason) => Finish::Connected {
                org_id: expected,
                org_name: o.name,
                verified: false,
                reason: Some(reason),
                replaced: false,
            },
            Verified::Yes { replaced } => Finish::Connected {
                org_id: expected,
                org_name: o.name,
                verified: true,
                reason: None,
                replaced,
            },
        },
    )
}

/// The one-shot checks of the browser's sign-in: it is ours, it is the one answered, it is
/// recent.
fn check_state(
    pending: Option<Pending>,
    params: &CallbackParams,
    now: DateTime<Utc>,
) -> std::result::Result<Pending, Finish> {
    let Some(p) = pending else {
        return Err(Finish::BadState(StateProblem::NoSignIn));
    };
    let Some(state) = params.state.as_deref() else {
        return Err(Finish::BadState(StateProblem::NoState));
    };
    if !bool::from(state.as_bytes().ct_eq(p.state.as_bytes())) {
        return Err(Finish::BadState(StateProblem::Mismatch));
    }
    if now - p.started_at > chrono::Duration::from_std(MAX_FLOW_AGE).unwrap_or_default() {
        return Err(Finish::BadState(StateProblem::TooOld));
    }
    Ok(p)
}

/// Exchanges the code and checks the ID token's nonce. A grant that fails a check is revoked.
async fn exchange(
    flow: &Flow<'_>,
    p: &Pending,
    login: &LoginUrl,
    code: &str,
    expected: &OrgId,
    now: DateTime<Utc>,
) -> Result<std::result::Result<TokenGrant, Finish>> {
    let verifier = SecretString::from(p.verifier.clone());
    let failed = |detail: serde_json::Value| {
        events::record(
            flow.db,
            now,
            &Actor::System,
            Some(expected),
            "consent.exchange_failed",
            detail,
        )
    };
    let grant = match flow
        .sf()
        .exchange_code(login, &redirect_uri(flow.config), code, &verifier)
        .await
    {
        Ok(g) => g,
        Err(SfError::OAuth {
            error, description, ..
        }) => {
            failed(serde_json::json!({ "error": error, "description": description })).await?;
            return Ok(Err(Finish::Refused { error, description }));
        }
        Err(SfError::Salvaged {
            detail,
            refresh_token,
        }) => {
            // An unusable answer that still made a grant: revoke it, keep nothing.
            let revoked = flow.sf().revoke(login, &refresh_token).await.is_ok();
            failed(serde_json::json!({ "error": detail, "revoked": revoked })).await?;
            return Ok(Err(Finish::Unavailable(detail)));
        }
        Err(e) => {
            failed(serde_json::json!({ "error": e.to_string() })).await?;
            return Ok(Err(Finish::Unavailable(e.to_string())));
        }
    };
    // OpenID Connect: an ID token answers for the nonce this browser's sign-in sent.
    if wants_id_token(&flow.config.salesforce.scopes)
        && let Some(id_token) = &grant.id_token
    {
        let matches = id_token_nonce(id_token)
            .is_some_and(|n| bool::from(n.as_bytes().ct_eq(p.nonce.as_bytes())));
        if !matches {
            let revoked = revoke_grant(flow, login, &grant).await;
            failed(serde_json::json!({ "error": "the ID token's nonce does not match", "revoked": revoked })).await?;
            return Ok(Err(Finish::BadState(StateProblem::Mismatch)));
        }
    }
    Ok(Ok(grant))
}

/// Revokes a grant reauth will not keep (its refresh token, else its access token).
async fn revoke_grant(flow: &Flow<'_>, login: &LoginUrl, grant: &TokenGrant) -> bool {
    let token = grant.refresh_token.as_ref().unwrap_or(&grant.access_token);
    flow.sf().revoke(login, token).await.is_ok()
}

/// The origin of an identity URL (the org's login host).
fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}
