//! The customer pages: `GET /r/{secret}`, `POST /r/{secret}/start`, `POST /r/{secret}/fresh`
//! and `GET /oauth/callback`. Each handler parses input, calls one domain function and renders.
//! Every word the customer admin reads is in `templates/reconsent/`: the landing page, and one
//! outcome page whose variants ([`Outcome`]) say what happened and what to do next.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use domain::reconsent::landing::{LandingView, Opened};
use domain::reconsent::links::Lookup;
use domain::reconsent::{CallbackParams, Finish, Flow, Pending, Start, StateProblem};
use domain::registry::state::OrgState;
use http::StatusCode;
use serde::Deserialize;
use tower_sessions::Session;

use crate::AppState;
use crate::error::AppError;
use crate::pages::{Brand, render};
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
    view: LandingView,
    /// The scopes asked for; the template says each in plain words.
    scopes: Vec<String>,
    egress_ranges: Vec<String>,
    secret: String,
    csrf: String,
}

/// What happened, as the customer admin is told it (`templates/reconsent/outcome.html`).
pub(crate) enum Outcome {
    Connected {
        org_name: String,
        replaced: bool,
    },
    /// Stored, but the first test call failed.
    Checking {
        org_name: String,
        reason: String,
    },
    WrongOrg {
        used: String,
        expected: String,
        org_name: String,
        environment: String,
    },
    Refused {
        error: String,
        description: Option<String>,
    },
    NoRefreshToken,
    BadState {
        why: StateProblem,
    },
    LinkGone,
    Unavailable,
    LinkExpired {
        org_name: String,
        secret: String,
    },
    LinkUsed {
        org_name: String,
        done: bool,
        secret: String,
    },
    LinkRevoked {
        org_name: String,
        secret: String,
    },
    LinkUnknown,
    FreshLinkSent {
        org_name: String,
        to: Option<String>,
    },
    FormExpired,
}

impl Outcome {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadState { .. } => StatusCode::BAD_REQUEST,
            Self::LinkGone | Self::LinkUsed { .. } => StatusCode::CONFLICT,
            Self::Unavailable => StatusCode::BAD_GATEWAY,
            Self::LinkExpired { .. } | Self::LinkRevoked { .. } => StatusCode::GONE,
            Self::LinkUnknown => StatusCode::NOT_FOUND,
            Self::FormExpired => StatusCode::FORBIDDEN,
            _ => StatusCode::OK,
        }
    }

    /// The heading's colour: ok | warn | bad.
    fn tone(&self) -> &'static str {
        match self {
            Self::Connected { .. } | Self::FreshLinkSent { .. } => "ok",
            Self::LinkUsed { done: true, .. } => "ok",
            Self::WrongOrg { .. } | Self::BadState { .. } | Self::LinkUnknown => "bad",
            _ => "warn",
        }
    }

    /// Whether the page offers a button (try again, a fresh link), which posts a form token.
    fn has_button(&self) -> bool {
        match self {
            Self::WrongOrg { .. } | Self::Refused { .. } => true,
            Self::LinkExpired { .. } | Self::LinkRevoked { .. } => true,
            Self::LinkUsed { done, .. } => !done,
            _ => false,
        }
    }

    fn from_finish(f: Finish) -> Self {
        match f {
            Finish::Connected {
                org_name,
                verified: true,
                replaced,
                ..
            } => Self::Connected { org_name, replaced },
            Finish::Connected {
                org_name, reason, ..
            } => Self::Checking {
                org_name,
                reason: reason.unwrap_or_default(),
            },
            Finish::WrongOrg {
                expected,
                org_name,
                used,
                environment,
            } => Self::WrongOrg {
                used: used.to_string(),
                expected: expected.to_string(),
                org_name,
                environment,
            },
            Finish::Refused { error, description } => Self::Refused { error, description },
            Finish::NoRefreshToken { .. } => Self::NoRefreshToken,
            Finish::BadState(why) => Self::BadState { why },
            Finish::LinkGone => Self::LinkGone,
            Finish::Unavailable(detail) => {
                tracing::warn!(%detail, "code exchange failed");
                Self::Unavailable
            }
        }
    }

    fn from_lookup(l: Lookup, secret: &str) -> Self {
        let secret = secret.to_owned();
        match l {
            Lookup::Expired(_, o) => Self::LinkExpired {
                org_name: o.name,
                secret,
            },
            Lookup::Used(_, o) => Self::LinkUsed {
                done: matches!(o.state, OrgState::Verified | OrgState::LegacyRetired),
                org_name: o.name,
                secret,
            },
            Lookup::Revoked(_, o) => Self::LinkRevoked {
                org_name: o.name,
                secret,
            },
            Lookup::Unknown | Lookup::Valid(..) => Self::LinkUnknown,
        }
    }
}

#[derive(Template)]
#[template(path = "reconsent/outcome.html")]
struct OutcomePage {
    brand: Brand,
    outcome: Outcome,
    csrf: String,
}

/// Renders an outcome. Only a page with a button takes the session's form token, so a stray
/// or forged link never creates a session.
async fn outcome(state: &AppState, session: &Session, o: Outcome) -> Result<Response, AppError> {
    let csrf = if o.has_button() {
        csrf_token(session).await?
    } else {
        String::new()
    };
    let status = o.status();
    Ok(render(
        status,
        &OutcomePage {
            brand: Brand::from_state(state),
            outcome: o,
            csrf,
        },
    ))
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// The session of a re-consent form whose CSRF token is the session's. A form whose token does
/// not match (or that has none) is answered with the "form expired" page instead.
struct CheckedForm(Session);

impl axum::extract::FromRequest<AppState> for CheckedForm {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        use axum::extract::FromRequestParts as _;
        use axum::response::IntoResponse as _;
        let (mut parts, body) = req.into_parts();
        let session = Session::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| e.into_response())?;
        let req = axum::extract::Request::from_parts(parts, body);
        let Form(form) = Form::<CsrfForm>::from_request(req, state)
            .await
            .map_err(|e| e.into_response())?;
        if csrf_ok(&session, &form.csrf).await {
            return Ok(Self(session));
        }
        Err(outcome(state, &session, Outcome::FormExpired)
            .await
            .unwrap_or_else(|e| e.into_response()))
    }
}

async fn landing(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    session: Session,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let view =
        match domain::reconsent::landing::open(&state.db, &state.config, &secret, now).await? {
            Opened::Landing(view) => view,
            Opened::Problem(l) => {
                return outcome(&state, &session, Outcome::from_lookup(*l, &secret)).await;
            }
        };
    record_org(&view.org_id);
    let config = &state.config;
    let page = Landing {
        brand: Brand::from_state(&state),
        view,
        scopes: config.salesforce.scopes.clone(),
        egress_ranges: config.partner.egress_range_texts(),
        secret,
        csrf: csrf_token(&session).await?,
    };
    Ok(render(StatusCode::OK, &page))
}

async fn start(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    CheckedForm(session): CheckedForm,
) -> Result<Response, AppError> {
    let flow = flow(&state)?;
    match domain::reconsent::start(&flow, &secret, state.clock.now()).await? {
        Start::Redirect { url, pending } => {
            // A new session id before we hold anything worth stealing.
            session.cycle_id().await?;
            session.insert(LAST_LINK_KEY, pending.link_id).await?;
            session.insert(PENDING_KEY, &pending).await?;
            Ok(crate::security::redirect_to_salesforce(&url))
        }
        Start::Link(other) => {
            outcome(&state, &session, Outcome::from_lookup(*other, &secret)).await
        }
    }
}

/// "Try again" after a refusal or a wrong org: a new flow for the link this browser used.
async fn retry(
    State(state): State<AppState>,
    CheckedForm(session): CheckedForm,
) -> Result<Response, AppError> {
    let Some(link_id) = session.get::<i64>(LAST_LINK_KEY).await? else {
        return outcome(&state, &session, Outcome::FormExpired).await;
    };
    let flow = flow(&state)?;
    match domain::reconsent::start_for_link(&flow, link_id, state.clock.now()).await? {
        Start::Redirect { url, pending } => {
            session.insert(PENDING_KEY, &pending).await?;
            Ok(crate::security::redirect_to_salesforce(&url))
        }
        Start::Link(other) => outcome(&state, &session, Outcome::from_lookup(*other, "")).await,
    }
}

async fn fresh_link(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    CheckedForm(session): CheckedForm,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let org = match domain::reconsent::links::lookup(&state.db, &secret, now).await? {
        Lookup::Expired(_, o)
        | Lookup::Used(_, o)
        | Lookup::Revoked(_, o)
        | Lookup::Valid(_, o) => o,
        Lookup::Unknown => return outcome(&state, &session, Outcome::LinkUnknown).await,
    };
    record_org(&org.id);
    let queued = domain::campaign::notices::request_fresh_link(&state.db, &org.id, now).await?;
    let to = queued.recipient.as_deref().map(mask_email);
    outcome(
        &state,
        &session,
        Outcome::FreshLinkSent {
            org_name: org.name,
            to,
        },
    )
    .await
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
    outcome(&state, &session, Outcome::from_finish(finish)).await
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
