//! The customer pages: `GET /r/{secret}`, `POST /r/{secret}/start`, `POST /r/{secret}/fresh`
//! and `GET /oauth/callback`. Each handler parses input, calls one domain function and renders.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use domain::reconsent::links::Lookup;
use domain::reconsent::{CallbackParams, Finish, Flow, Pending, Start};
use http::StatusCode;
use serde::Deserialize;
use tower_sessions::Session;

use crate::AppState;
use crate::error::AppError;
use crate::pages::{Action, Brand, Message, render};
use crate::security::{csrf_ok, csrf_token};

const PENDING_KEY: &str = "reconsent.pending";
/// The link this browser last started a flow from (an id, not the secret), for "Try again".
const LAST_LINK_KEY: &str = "reconsent.last_link";

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/r/{secret}", get(landing))
        .route("/r/{secret}/start", post(start))
        .route("/r/{secret}/fresh", post(fresh_link))
        .route("/r/retry", post(retry))
        .route("/oauth/callback", get(callback))
}

#[derive(Template)]
#[template(path = "reconsent/landing.html")]
struct Landing {
    brand: Brand,
    org_name: String,
    org_id: String,
    environment: String,
    login_host: String,
    deadline: Option<String>,
    scopes: Vec<(String, String)>,
    egress_ranges: Vec<String>,
    secret: String,
    csrf: String,
}

/// Scopes in plain words.
fn describe_scope(s: &str) -> String {
    match s {
        "api" => "access and manage your data through the API".into(),
        "refresh_token" | "offline_access" => "stay connected when you are not signed in".into(),
        "id" | "openid" | "profile" => "know who approved the connection".into(),
        "web" => "use the app in the browser on your behalf".into(),
        "full" => "full access to everything you can access".into(),
        other => format!("Salesforce permission `{other}`"),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn landing(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    session: Session,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    match domain::reconsent::links::lookup(&state.db, &secret, now).await? {
        Lookup::Valid(link, o) => {
            record_org(&o.id);
            domain::reconsent::links::record_open(&state.db, &link, now).await?;
            let login = domain::reconsent::login_host(&o, &state.config)?;
            let deadline = match o.wave_id {
                Some(w) => domain::entity::wave::Entity::find_by_id(w)
                    .one(&state.db)
                    .await?
                    .and_then(|w| w.deadline)
                    .map(|d| d.format("%B %-d, %Y").to_string()),
                None => None,
            };
            let page = Landing {
                brand: Brand::from_state(&state),
                org_name: o.name,
                org_id: o.id.to_string(),
                environment: o.environment.to_string(),
                login_host: login.as_str().to_owned(),
                deadline,
                scopes: state
                    .config
                    .salesforce
                    .scopes
                    .iter()
                    .map(|s| (s.clone(), describe_scope(s)))
                    .collect(),
                egress_ranges: state
                    .config
                    .partner
                    .egress_ranges
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                secret,
                csrf: csrf_token(&session).await?,
            };
            Ok(render(StatusCode::OK, &page))
        }
        other => link_problem(&state, &session, &secret, other).await,
    }
}

use sea_orm::EntityTrait as _;

async fn start(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    if !csrf_ok(&session, &form.csrf).await {
        return Ok(expired_form(&state));
    }
    let flow = flow(&state)?;
    match domain::reconsent::start(&flow, &secret, state.clock.now()).await? {
        Start::Redirect { url, pending } => {
            // A new session id before we hold anything worth stealing.
            session.cycle_id().await?;
            session.insert(LAST_LINK_KEY, pending.link_id).await?;
            session.insert(PENDING_KEY, &pending).await?;
            Ok(crate::security::redirect_to_salesforce(&url))
        }
        Start::Link(other) => link_problem(&state, &session, &secret, *other).await,
    }
}

/// "Try again" after a refusal or a wrong org: a new flow for the link this browser used.
async fn retry(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    if !csrf_ok(&session, &form.csrf).await {
        return Ok(expired_form(&state));
    }
    let Some(link_id) = session.get::<i64>(LAST_LINK_KEY).await? else {
        return Ok(expired_form(&state));
    };
    let flow = flow(&state)?;
    match domain::reconsent::start_for_link(&flow, link_id, state.clock.now()).await? {
        Start::Redirect { url, pending } => {
            session.insert(PENDING_KEY, &pending).await?;
            Ok(crate::security::redirect_to_salesforce(&url))
        }
        Start::Link(other) => link_problem(&state, &session, "", *other).await,
    }
}

async fn fresh_link(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    session: Session,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    if !csrf_ok(&session, &form.csrf).await {
        return Ok(expired_form(&state));
    }
    let now = state.clock.now();
    let org = match domain::reconsent::links::lookup(&state.db, &secret, now).await? {
        Lookup::Expired(_, o)
        | Lookup::Used(_, o)
        | Lookup::Revoked(_, o)
        | Lookup::Valid(_, o) => o,
        Lookup::Unknown => return link_problem(&state, &session, &secret, Lookup::Unknown).await,
    };
    record_org(&org.id);
    let queued = domain::campaign::notices::request_fresh_link(&state.db, &org.id, now).await?;
    let to = queued
        .recipient
        .as_deref()
        .map(mask_email)
        .unwrap_or_else(|| "the contact we have on file".into());
    let page = Message::new(
        &state,
        "ok",
        "A fresh link is on its way",
        vec![
            format!("We are sending a new link for {} to {to}.", org.name),
            "For your security, links go only to the contact we have on file. If that address is wrong, reply to our last email or write to us.".into(),
        ],
    );
    Ok(render(StatusCode::OK, &page))
}

async fn callback(
    State(state): State<AppState>,
    session: Session,
    Query(params): Query<CallbackParams>,
) -> Result<Response, AppError> {
    // One-shot: whatever happens next, this state cannot be used again.
    let pending: Option<Pending> = session.remove(PENDING_KEY).await?;
    let flow = flow(&state)?;
    let finish = domain::reconsent::complete(&flow, pending, params, state.clock.now()).await?;
    let csrf = csrf_token(&session).await?;
    Ok(finish_page(&state, finish, csrf))
}

fn finish_page(state: &AppState, f: Finish, csrf: String) -> Response {
    let partner = state.config.partner.name.clone();
    let (status, page) = match f {
        Finish::Connected { org_name, verified: true, replaced, .. } => (
            StatusCode::OK,
            Message::new(state, "ok", format!("{org_name} is connected"), vec![
                format!("Thank you. {partner} now uses the new, more secure connection to {org_name}."),
                if replaced { "The previous connection has been switched off.".into() } else { "There is nothing more to do.".into() },
                "We keep the connection alive automatically; you will hear from us only if Salesforce ever asks for a new approval.".into(),
            ]),
        ),
        Finish::Connected { org_name, reason, .. } => (
            StatusCode::OK,
            Message::new(state, "warn", format!("{org_name} is connected; we are checking one thing"), vec![
                "Your approval was received and stored safely.".into(),
                format!("Our first test call did not succeed ({}). Our team has been notified and will follow up if anything is needed from you.", reason.unwrap_or_default()),
            ]),
        ),
        Finish::WrongOrg { expected, org_name, used, environment } => {
            let mut m = Message::new(state, "bad", "That was a different Salesforce org", vec![
                format!("You signed in to org {used}, but this link is for {org_name} ({expected}, {environment})."),
                "We did not keep that connection and have already withdrawn it at Salesforce.".into(),
                format!("Please use the link again and sign in as an administrator of {org_name}{}.", if environment == "sandbox" { " at the sandbox login" } else { "" }),
            ]);
            m.action = Some(Action { url: "/r/retry".into(), label: format!("Sign in to {org_name} again") });
            (StatusCode::OK, m)
        }
        Finish::Refused { error, description } => {
            let (title, why) = refusal_text(&error, description.as_deref());
            let mut m = Message::new(state, "warn", title, vec![why, "You can try again now, or open the link from our email whenever you are ready.".into()]);
            m.action = Some(Action { url: "/r/retry".into(), label: "Try again".into() });
            (StatusCode::OK, m)
        }
        Finish::NoRefreshToken { .. } => (
            StatusCode::OK,
            Message::new(state, "warn", "Salesforce did not allow a lasting connection", vec![
                "Salesforce approved the sign-in but issued no refresh token, so the connection would stop working within hours. We did not keep it.".into(),
                format!("This happens when the app's policy in your org does not include the \"refresh_token\" (Perform requests at any time) scope, or when the refresh token policy is set to expire immediately. Please check the External Client App policies for {} app, or contact us.", domain::wording::possessive(&partner)),
            ]),
        ),
        Finish::BadState(why) => (
            StatusCode::BAD_REQUEST,
            Message::new(state, "bad", "This sign-in could not be completed", vec![
                domain::wording::sentence(why),
                "Please open the link from our email again and click \"Continue to Salesforce\" once. Opening the page in another browser or waiting a long time can cause this.".into(),
            ]),
        ),
        Finish::LinkGone => (
            StatusCode::CONFLICT,
            Message::new(state, "warn", "This link is no longer valid", vec![
                "The link was used, withdrawn or expired while you were at Salesforce, so we did not keep this connection.".into(),
                "If you still need to approve the app, request a fresh link from the page of your link, or contact us.".into(),
            ]),
        ),
        Finish::Unavailable(detail) => {
            tracing::warn!(%detail, "code exchange failed");
            (StatusCode::BAD_GATEWAY, Message::new(state, "warn", "Salesforce could not be reached", vec![
                "We could not complete the connection with Salesforce just now. Nothing was changed.".into(),
                "Please try again in a few minutes by opening the link again.".into(),
            ]))
        }
    };
    let mut page = page;
    page.csrf = csrf;
    render(status, &page)
}

/// Plain words for Salesforce's authorize and token errors.
fn refusal_text(error: &str, description: Option<&str>) -> (String, String) {
    match error {
        "access_denied" => ("You chose not to allow access".into(), "Nothing was changed. The old connection keeps working until the deadline.".into()),
        "OAUTH_APP_BLOCKED" | "app_blocked" => (
            "The app is blocked in your org".into(),
            "An administrator has blocked this app in Salesforce (Setup → Connected Apps OAuth Usage, or the External Client App's policies). Unblock it, then open the link again.".into(),
        ),
        "OAUTH_EC_APP_NOT_FOUND" | "app_not_found" => (
            "The app is not installed in your org".into(),
            "The External Client App must be installed in your org before it can be approved. Install the latest version of our package, then open the link again.".into(),
        ),
        "inactive_user" | "inactive_org" => ("Your Salesforce user or org is inactive".into(), "Salesforce reports the user or org as inactive or frozen. Sign in with an active administrator.".into()),
        _ => (
            "Salesforce did not complete the approval".into(),
            format!("Salesforce answered: {}{}", error, description.map(|d| format!(" — {d}")).unwrap_or_default()),
        ),
    }
}

async fn link_problem(
    state: &AppState,
    session: &Session,
    secret: &str,
    l: Lookup,
) -> Result<Response, AppError> {
    let fresh = |m: &mut Message, csrf: String| {
        m.action = Some(Action {
            url: format!("/r/{secret}/fresh"),
            label: "Send me a fresh link".into(),
        });
        m.csrf = csrf;
    };
    let (status, page) = match l {
        Lookup::Expired(_, o) => {
            let mut m = Message::new(state, "warn", "This link has expired", vec![
                format!("Links are valid for a limited time. You can get a new link for {} sent to the contact we have on file.", o.name),
            ]);
            fresh(&mut m, csrf_token(session).await?);
            (StatusCode::GONE, m)
        }
        Lookup::Used(_, o) => {
            let done = matches!(o.state, domain::registry::state::OrgState::Verified | domain::registry::state::OrgState::LegacyRetired);
            let mut m = Message::new(state, if done { "ok" } else { "warn" }, "This link has already been used", vec![if done {
                format!("{} is connected; there is nothing more to do.", o.name)
            } else {
                format!("Each link works once. If {} still needs to be connected, request a fresh link.", o.name)
            }]);
            if !done {
                fresh(&mut m, csrf_token(session).await?);
            }
            (StatusCode::CONFLICT, m)
        }
        Lookup::Revoked(_, o) => {
            let mut m = Message::new(state, "warn", "This link was withdrawn", vec![
                format!("A newer link for {} may have been sent. Use the most recent email, or request a fresh link.", o.name),
            ]);
            fresh(&mut m, csrf_token(session).await?);
            (StatusCode::GONE, m)
        }
        Lookup::Unknown | Lookup::Valid(..) => (
            StatusCode::NOT_FOUND,
            Message::new(state, "bad", "We don't recognise this link", vec![
                "The link may be incomplete: some email programs break long links. Try copying the whole link from the email into your browser.".into(),
                format!("If that does not help, write to {} and we will send you a new one.", state.config.partner.support_email),
            ]),
        ),
    };
    Ok(render(status, &page))
}

fn expired_form(state: &AppState) -> Response {
    render(StatusCode::FORBIDDEN, &Message::new(state, "warn", "This page has expired", vec![
        "For your security, please open the link from our email again and use the button on that page.".into(),
    ]))
}

/// The flow's services, or the "not configured" error until `salesforce.client_id` and
/// `crypto.keys` are configured.
fn flow(state: &AppState) -> Result<Flow<'_>, AppError> {
    Ok(Flow {
        db: &state.db,
        vault: state.vault()?,
        config: &state.config,
    })
}

/// Names the org in the request's span (and so in every log line of the request).
fn record_org(org: &domain::types::OrgId) {
    tracing::Span::current().record("org_id", tracing::field::display(org));
}

/// `jane.doe@acme.com` → `j•••@acme.com`: enough to recognise, not enough to harvest.
fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((local, domain)) => format!("{}•••@{domain}", local.chars().next().unwrap_or('•')),
        None => "•••".into(),
    }
}
