//! The authorize endpoint: a login page and an Allow/Deny consent page a browser can complete,
//! and the non-interactive `--auto-approve` mode (`login_hint=USERNAME`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::config::AppInstall;
use crate::ids;
use crate::state::{Code, Inner, Shared, User};

/// An interactive authorization between the login page and the consent page.
#[derive(Debug, Clone)]
pub struct Txn {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Vec<String>,
    pub challenge: Option<String>,
    pub user_id: Option<String>,
    pub nonce: Option<String>,
}

/// Text for HTML, escaped as askama escapes it.
fn esc(s: &str) -> String {
    match askama::filters::escape(s, askama::filters::Html) {
        Ok(escaped) => escaped.to_string(),
        Err(never) => match never {},
    }
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;background:#f3f3f3}}main{{max-width:26rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:8px}}\
         label,input,button{{display:block;width:100%;margin:.4rem 0}}button{{padding:.6rem;background:#0176d3;color:#fff;border:0;border-radius:4px}}\
         button.deny{{background:#777}}.error{{color:#b00}}</style></head>\
         <body><main><h1>{t}</h1>{body}<p><small>sfsim — simulated Salesforce</small></p></main></body></html>",
        t = esc(title)
    )
}

fn error_page(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Html(page(
            "Error",
            &format!(
                "<p class=\"error\" id=\"error\">{}: {}</p>",
                esc(error),
                esc(description)
            ),
        )),
    )
        .into_response()
}

/// `redirect_uri` with `params` added to its query.
fn redirect_with(uri: &str, params: &[(&str, &str)]) -> Response {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            #[expect(
                clippy::disallowed_methods,
                reason = "an authorization server redirects to the client's registered redirect_uri"
            )]
            Redirect::to(u.as_str()).into_response()
        }
        Err(_) => error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        ),
    }
}

fn redirect_error(t: &Txn, error: &str, description: &str) -> Response {
    let mut p = vec![("error", error), ("error_description", description)];
    if let Some(s) = &t.state {
        p.push(("state", s));
    }
    redirect_with(&t.redirect_uri, &p)
}

pub async fn authorize(shared: Arc<Shared>, q: HashMap<String, String>) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let Some(client) = q.get("client_id").and_then(|id| g.client(id)).cloned() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_client_id",
            "client identifier invalid",
        );
    };
    let Some(redirect_uri) = q
        .get("redirect_uri")
        .filter(|r| client.redirect_uris.iter().any(|u| u == *r))
        .cloned()
    else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri_mismatch",
            "redirect_uri must match configuration",
        );
    };
    let mut txn = Txn {
        client_id: client.client_id.clone(),
        redirect_uri,
        state: q.get("state").cloned(),
        scopes: q
            .get("scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        challenge: q.get("code_challenge").cloned(),
        user_id: None,
        nonce: q.get("nonce").cloned(),
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return redirect_error(
            &txn,
            "unsupported_response_type",
            "response type not supported",
        );
    }
    // node-oidc-provider's rule (an OIDC-strict server); Salesforce ignores such a nonce.
    if g.config.settings.oidc_strict
        && txn.nonce.is_some()
        && !txn.scopes.iter().any(|s| s == "openid")
    {
        return redirect_error(
            &txn,
            "invalid_request",
            "openid scope must be requested when using the nonce parameter",
        );
    }
    if txn.challenge.is_none() && client.pkce_required {
        return redirect_error(&txn, "invalid_request", "missing required code challenge");
    }
    // A missing method means S256 (the Mobile SDK sends none, facts §1.2).
    match q.get("code_challenge_method").map(String::as_str) {
        None | Some("S256") => {}
        Some("plain") if !g.config.settings.reject_plain_pkce => {
            // Store the plain challenge as its S256 equivalent so one check serves both.
            if let Some(c) = &txn.challenge {
                use base64::Engine as _;
                use sha2::Digest as _;
                txn.challenge = Some(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(sha2::Sha256::digest(c.as_bytes())),
                );
            }
        }
        Some(_) => return redirect_error(&txn, "invalid_request", "invalid code challenge method"),
    }
    if g.config.settings.auto_approve
        && let Some(user) = q.get("login_hint").and_then(|h| g.user_by_name(h)).cloned()
    {
        return approve(&mut g, &shared.base_url, txn, &user);
    }
    let id = ids::random(32);
    g.txns.insert(id.clone(), txn);
    Html(login_form(&id, None)).into_response()
}

fn login_form(txn: &str, error: Option<&str>) -> String {
    let err = error
        .map(|e| format!("<p class=\"error\" id=\"login-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        "Log in to Salesforce",
        &format!(
            "{err}<form method=\"post\" action=\"/services/oauth2/authorize/login\">\
             <input type=\"hidden\" name=\"txn\" value=\"{}\">\
             <label for=\"username\">Username</label><input id=\"username\" name=\"username\" autocomplete=\"username\">\
             <label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\">\
             <button id=\"Login\" type=\"submit\">Log In</button></form>",
            esc(txn)
        ),
    )
}

pub async fn login(shared: Arc<Shared>, form: HashMap<String, String>) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let txn_id = form.get("txn").cloned().unwrap_or_default();
    let Some(txn) = g.txns.get(&txn_id).cloned() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the sign-in expired; start again",
        );
    };
    let user = form
        .get("username")
        .and_then(|n| g.user_by_name(n))
        .filter(|u| Some(&u.password) == form.get("password"))
        .cloned();
    let Some(user) = user else {
        return Html(login_form(
            &txn_id,
            Some("Please check your username and password."),
        ))
        .into_response();
    };
    if user.frozen {
        return Html(login_form(
            &txn_id,
            Some("Your account is frozen. Contact your administrator."),
        ))
        .into_response();
    }
    let org_name = g
        .org(&user.org_id)
        .map(|o| o.name.clone())
        .unwrap_or_default();
    if let Some(t) = g.txns.get_mut(&txn_id) {
        t.user_id = Some(user.id.clone());
    }
    let scopes: String = txn
        .scopes
        .iter()
        .map(|s| format!("<li>{}</li>", esc(s)))
        .collect();
    Html(page(
        "Allow Access?",
        &format!(
            "<p id=\"consent-app\">{} is asking to access {} as {}{}.</p><ul>{scopes}</ul>\
             <form method=\"post\" action=\"/services/oauth2/authorize/consent\">\
             <input type=\"hidden\" name=\"txn\" value=\"{}\">\
             <button id=\"oaapprove\" name=\"decision\" value=\"allow\" type=\"submit\">Allow</button>\
             <button id=\"oadeny\" class=\"deny\" name=\"decision\" value=\"deny\" type=\"submit\">Deny</button></form>",
            esc(&txn.client_id),
            esc(&org_name),
            esc(&user.username),
            if user.admin { " (administrator)" } else { "" },
            esc(&txn_id)
        ),
    ))
    .into_response()
}

pub async fn consent(shared: Arc<Shared>, form: HashMap<String, String>) -> Response {
    crate::server::delay(&shared).await;
    let mut g = shared.lock();
    let Some(txn) = form.get("txn").and_then(|t| g.txns.remove(t)) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the sign-in expired; start again",
        );
    };
    let Some(user) = txn
        .user_id
        .as_deref()
        .and_then(|u| g.user_by_id(u))
        .cloned()
    else {
        return error_page(StatusCode::BAD_REQUEST, "invalid_request", "not signed in");
    };
    if form.get("decision").map(String::as_str) != Some("allow") {
        return redirect_error(&txn, "access_denied", "end-user denied authorization");
    }
    approve(&mut g, &shared.base_url, txn, &user)
}

/// Issues a code for `user`, unless the app is blocked or missing in the user's org.
fn approve(g: &mut Inner, base_url: &str, txn: Txn, user: &User) -> Response {
    if user.frozen {
        return redirect_error(&txn, "inactive_user", "user is inactive");
    }
    match g.app_state(&user.org_id, &txn.client_id) {
        AppInstall::Blocked => {
            return redirect_error(&txn, "OAUTH_APP_BLOCKED", "this app is blocked by admin");
        }
        AppInstall::NotInstalled => {
            return redirect_error(
                &txn,
                "OAUTH_EC_APP_NOT_FOUND",
                "External client app is not installed in this org",
            );
        }
        AppInstall::Installed => {}
    }
    let code = format!("aPrx{}", ids::random(60));
    let ttl = chrono::Duration::from_std(g.config.settings.code_ttl).unwrap_or_default();
    g.codes.insert(
        code.clone(),
        Code {
            client_id: txn.client_id.clone(),
            redirect_uri: txn.redirect_uri.clone(),
            org_id: user.org_id.clone(),
            user_id: user.id.clone(),
            challenge: txn.challenge.clone(),
            scopes: txn.scopes.clone(),
            expires: g.now() + ttl,
            login_host: base_url.to_owned(),
            nonce: txn.nonce.clone(),
        },
    );
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &txn.state {
        p.push(("state", s));
    }
    redirect_with(&txn.redirect_uri, &p)
}
