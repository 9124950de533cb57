//! The actions on one org's page: new links (copied or sent), notes, pausing notices, and
//! retrying or revoking a connection.

use axum::response::Response;
use domain::reconsent::{self, Flow};
use domain::types::OrgId;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::OrgRequest;
use crate::AppState;
use crate::error::AppError;
use crate::pages::render;
use crate::security::redirect;
use crate::staff::view::{Nav, when};
use crate::staff::{CurrentStaff, FormData};

/// What a link action on the org page did (`templates/staff/link_notice.html` words it).
enum LinkOutcome {
    /// A new link to copy, shown this once.
    Created { url: String, expires: String },
    /// The page of a created link, reloaded: the link is not shown again.
    CreatedShownOnce,
    /// A notice with a new link is queued.
    Sent,
    /// Nothing was queued: the org consented already, or its notices are paused.
    NotSent,
    /// The page of a sent link, reloaded: nothing is sent again.
    SentShownOnce,
}

impl LinkOutcome {
    /// The heading's colour: ok | warn.
    fn tone(&self) -> &'static str {
        match self {
            Self::Created { .. } | Self::Sent => "ok",
            Self::CreatedShownOnce | Self::NotSent | Self::SentShownOnce => "warn",
        }
    }
}

#[derive(askama::Template)]
#[template(path = "staff/link_notice.html")]
struct LinkNotice {
    nav: Nav,
    org_id: String,
    /// Empty on the pages of a sent link, whose wording does not name the org.
    org_name: String,
    outcome: LinkOutcome,
}

impl LinkNotice {
    fn page(nav: Nav, org: &OrgId, org_name: String, outcome: LinkOutcome) -> Response {
        let org_id = org.to_string();
        render(
            StatusCode::OK,
            &Self {
                nav,
                org_id,
                org_name,
                outcome,
            },
        )
    }
}

/// Where a new link to copy waits, in the session, for the page that shows it once.
const NEW_LINK_KEY: &str = "staff.new_link";

/// A link just created to copy, on its way from the POST to the page that shows it. Session rows
/// are stored as they are, so the link (a secret: it starts a re-consent) travels sealed.
#[derive(Debug, Serialize, Deserialize)]
struct NewLinkFlash {
    org_id: String,
    key_id: String,
    sealed_url: Vec<u8>,
    expires: String,
}

/// What a sealed new link is bound to.
fn flash_aad(org: &OrgId) -> String {
    format!("staff/new_link/{org}")
}

/// A new link: created to copy (shown once, after a redirect, so a reload creates no second
/// link), or sent to the primary contact.
#[tracing::instrument(skip_all, fields(org_id = %r.id))]
pub(crate) async fn new_link(
    r: OrgRequest,
    session: Session,
    form: FormData,
) -> Result<Response, AppError> {
    let OrgRequest {
        state, staff, id, ..
    } = r;
    match form.get("mode") {
        Some("copy") => {
            let flash = copy_link(&state, &staff, &id).await?;
            session.insert(NEW_LINK_KEY, &flash).await?;
            Ok(redirect(&format!("/orgs/{id}/links/new")))
        }
        Some("send") => {
            let queued = send_link(&state, &staff, &id).await?;
            session
                .insert(LINK_SENT_KEY, (id.to_string(), queued))
                .await?;
            Ok(redirect(&format!("/orgs/{id}/links/sent")))
        }
        other => Err(AppError::bad_request(format!(
            "Choose whether to copy the link or send it (mode copy or send, not “{}”). Nothing was changed.",
            other.unwrap_or("")
        ))),
    }
}

/// Creates a link to copy, sealed for the session that carries it to the page that shows it.
async fn copy_link(
    state: &AppState,
    staff: &CurrentStaff,
    id: &OrgId,
) -> Result<NewLinkFlash, AppError> {
    let new = domain::reconsent::links::NewLink {
        org_id: id,
        contact: None,
        ttl: state.config.links.ttl,
        notice_id: None,
    };
    let sealer = state.sealer()?;
    let (secret, link) =
        domain::reconsent::links::create(&state.db, new, &staff.actor(), state.clock.now()).await?;
    let sealed = sealer.seal(
        secret.url(&state.config.base_url).as_bytes(),
        &flash_aad(id),
    );
    Ok(NewLinkFlash {
        org_id: id.to_string(),
        key_id: sealed.key_id,
        sealed_url: sealed.bytes,
        expires: when(&link.expires_at),
    })
}

/// The link just created, shown once; a reload says so instead of showing it again.
#[tracing::instrument(skip_all, fields(org_id = %r.id))]
pub(crate) async fn created_link(r: OrgRequest, session: Session) -> Result<Response, AppError> {
    let OrgRequest {
        state, staff, id, ..
    } = r;
    let flash: Option<NewLinkFlash> = session.remove(NEW_LINK_KEY).await?;
    let name = domain::registry::show(&state.db, &id).await?.org.name;
    let opened = flash.filter(|f| f.org_id == id.as_str()).and_then(|f| {
        let url = state
            .sealer()
            .ok()?
            .open(&f.key_id, &f.sealed_url, &flash_aad(&id))
            .ok()?;
        Some((String::from_utf8(url).ok()?, f.expires))
    });
    let outcome = match opened {
        Some((url, expires)) => LinkOutcome::Created { url, expires },
        None => LinkOutcome::CreatedShownOnce,
    };
    Ok(LinkNotice::page(
        Nav::new(&state, &staff, "orgs"),
        &id,
        name,
        outcome,
    ))
}

/// Where the outcome of "Send a new link" waits for the page that reports it.
const LINK_SENT_KEY: &str = "staff.link_sent";

/// "Send a new link": queues the notice (`false`: nothing was queued); the caller redirects to
/// the page that reports it, so a reload sends no second mail.
async fn send_link(state: &AppState, staff: &CurrentStaff, id: &OrgId) -> Result<bool, AppError> {
    let now = state.clock.now();
    let occasion = format!("staff-{}", now.timestamp_millis());
    Ok(domain::staff::bulk::send_link(&state.db, id, &occasion, &staff.actor(), now).await?)
}

/// What "Send a new link" did, shown once; a reload says so and sends nothing.
#[tracing::instrument(skip_all, fields(org_id = %r.id))]
pub(crate) async fn sent_link(r: OrgRequest, session: Session) -> Result<Response, AppError> {
    let OrgRequest {
        state, staff, id, ..
    } = r;
    let flash: Option<(String, bool)> = session.remove(LINK_SENT_KEY).await?;
    let outcome = match flash.filter(|(org, _)| org == id.as_str()) {
        Some((_, true)) => LinkOutcome::Sent,
        Some((_, false)) => LinkOutcome::NotSent,
        None => LinkOutcome::SentShownOnce,
    };
    Ok(LinkNotice::page(
        Nav::new(&state, &staff, "orgs"),
        &id,
        String::new(),
        outcome,
    ))
}

#[tracing::instrument(skip_all, fields(org_id = %r.id))]
pub(crate) async fn add_note(r: OrgRequest, form: FormData) -> Result<Response, AppError> {
    let text = form.get("text").unwrap_or_default();
    let now = r.state.clock.now();
    domain::registry::add_note(&r.state.db, &r.id, text, &r.staff.actor(), now).await?;
    Ok(redirect(&format!("/orgs/{}#timeline", r.id)))
}

#[tracing::instrument(skip_all, fields(org_id = %r.id))]
pub(crate) async fn set_notices(r: OrgRequest, form: FormData) -> Result<Response, AppError> {
    let paused = form.bool("paused")?;
    let (state, id) = (&r.state, &r.id);
    domain::staff::bulk::set_notices_paused(
        &state.db,
        id,
        paused,
        &r.staff.actor(),
        state.clock.now(),
    )
    .await?;
    Ok(redirect(&format!("/orgs/{id}")))
}

fn flow(state: &AppState) -> Result<Flow<'_>, AppError> {
    Ok(Flow {
        db: &state.db,
        vault: state.vault()?,
        config: &state.config,
    })
}

/// A request about one of an org's connections (`/orgs/{id}/connections/{cid}/…`).
type ConnectionRequest = OrgRequest<(String, i64)>;

/// The connection in the path, which must belong to the org in the path.
async fn connection_of(r: &ConnectionRequest) -> Result<i64, AppError> {
    let (org, cid) = (&r.id, r.path.1);
    if domain::staff::org_page::connection_belongs(&r.state.db, org, cid).await? {
        Ok(cid)
    } else {
        Err(AppError::not_found(format!(
            "Org {org} has no connection {cid}. Nothing was changed."
        )))
    }
}

/// What a connection action on the org page did (`templates/staff/connection_notice.html`
/// words it).
enum ConnectionOutcome {
    /// A retried verification passed: the connection is active.
    Verified,
    /// A retried verification failed again, with Salesforce's reason.
    FailedAgain { reason: String },
    /// The connection is revoked; `outcome` is how the revocation at Salesforce went.
    Revoked { outcome: String },
}

impl ConnectionOutcome {
    /// The heading's colour: ok | bad.
    fn tone(&self) -> &'static str {
        match self {
            Self::Verified | Self::Revoked { .. } => "ok",
            Self::FailedAgain { .. } => "bad",
        }
    }
}

#[derive(askama::Template)]
#[template(path = "staff/connection_notice.html")]
struct ConnectionNotice {
    nav: Nav,
    org_id: String,
    connection_id: i64,
    outcome: ConnectionOutcome,
}

impl ConnectionNotice {
    fn page(r: &ConnectionRequest, outcome: ConnectionOutcome) -> Response {
        let page = Self {
            nav: Nav::new(&r.state, &r.staff, "orgs"),
            org_id: r.id.to_string(),
            connection_id: r.path.1,
            outcome,
        };
        render(StatusCode::OK, &page)
    }
}

#[tracing::instrument(skip_all, fields(org_id = %r.id, connection_id = r.path.1))]
pub(crate) async fn retry_verification(r: ConnectionRequest) -> Result<Response, AppError> {
    let cid = connection_of(&r).await?;
    let flow = flow(&r.state)?;
    let now = r.state.clock.now();
    let outcome = match reconsent::retry_verification(&flow, cid, &r.staff.actor(), now).await? {
        reconsent::Retry::Verified => ConnectionOutcome::Verified,
        reconsent::Retry::Failed(reason) => ConnectionOutcome::FailedAgain { reason },
    };
    Ok(ConnectionNotice::page(&r, outcome))
}

#[tracing::instrument(skip_all, fields(org_id = %r.id, connection_id = r.path.1))]
pub(crate) async fn revoke(r: ConnectionRequest) -> Result<Response, AppError> {
    let cid = connection_of(&r).await?;
    let flow = flow(&r.state)?;
    let now = r.state.clock.now();
    let outcome = reconsent::revoke_connection(&flow, cid, &r.staff.actor(), now).await?;
    let outcome = ConnectionOutcome::Revoked { outcome };
    Ok(ConnectionNotice::page(&r, outcome))
}
