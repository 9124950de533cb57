//! The legacy cut-over against sfsim: import (held, sealed, never exchanged), activation and its
//! identity check, serving the best credential, the cut-over on consent in every process, the
//! fallback when the new grant dies, standby for another user, retirement and readiness.

use std::time::Duration;

use domain::config::Config;
use domain::entity::connection::{ConnectionApp, ConnectionStatus};
use domain::events::Actor;
use domain::legacy::import::{self, Format, Options};
use domain::legacy::{activate, report, retire};
use domain::registry::state::OrgState;
use domain::security::api_keys::ApiScope;
use domain::types::OrgId;
use reauth_tests::{TestApp, TestDb, both_backends};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use crate::reconsent_flow::{
    World, authorize_as, callback, connections, contains, new_link, raw_dump, start, state_of,
    world_custom,
};

const ACME: &str = "00D4c0000008cs2";
const OTHER: &str = "00D9z0000001xyz";

pub(crate) fn legacy_config(c: &mut Config) {
    // Forced refreshes exchange at once (the fallback test forces one right after a consent).
    c.heartbeat.min_gap = Duration::ZERO;
    c.legacy.client_id = Some("reauth-legacy".into());
    c.legacy.client_secret = Some("reauth-legacy-secret".to_owned().into());
    c.legacy.retire_after = Duration::from_secs(1);
}

async fn world(db: TestDb, sim: impl FnOnce(&mut sfsim::Config)) -> World {
    let w = world_custom(db, true, sim, legacy_config).await;
    reauth_tests::import_csv(
        &w.db.db,
        &format!("org_id,name,admin_email\n{OTHER},Other Customer,admin@other.example\n"),
    )
    .await;
    w
}

/// A legacy grant at sfsim, as the partner's token table holds it.
pub(crate) struct Minted {
    refresh_token: String,
    instance_url: String,
    user_id: String,
}

pub(crate) fn mint(w: &World, username: &str) -> Minted {
    let g = w
        .sim
        .mint_grant("reauth-legacy", username, &["api", "refresh_token"])
        .unwrap();
    let user_id = g.id.rsplit('/').next().unwrap().to_owned();
    Minted {
        refresh_token: g.refresh_token.unwrap(),
        instance_url: g.instance_url,
        user_id,
    }
}

pub(crate) fn csv_line(org: &str, m: &Minted) -> String {
    format!(
        "{org},{},,{},{},,,api refresh_token\n",
        m.refresh_token, m.instance_url, m.user_id
    )
}

pub(crate) const HEADER: &str =
    "org_id,refresh_token,login_url,instance_url,sf_user_id,sf_username,issued_at,scopes\n";

pub(crate) async fn import_text(w: &World, text: &str, opts: Options) -> import::Outcome {
    let vault = w.app.state.vault.as_ref().unwrap();
    let extra = &w.app.state.config.salesforce.extra_login_hosts;
    let parsed = import::parse(text.as_bytes(), Format::Csv, "tokens.csv", extra);
    import::import(
        vault,
        "tokens.csv",
        parsed,
        opts,
        &Actor::Cli("t".into()),
        &(),
    )
    .await
    .unwrap()
}

async fn key(w: &World, scopes: &[ApiScope]) -> String {
    let (k, _) = domain::security::api_keys::create_with_scopes(
        &w.db.db,
        "billing-service",
        scopes,
        &Actor::Cli("t".into()),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    k.expose_secret().to_owned()
}

async fn token(app: &TestApp, key: &str, org: &str) -> (u16, Value) {
    let r = app
        .client
        .get(format!("{}/api/v1/orgs/{org}/access-token", app.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Whether sfsim accepts an access token (a REST call with it).
async fn works_at_sfsim(w: &World, answer: &Value) -> bool {
    let r = reauth_tests::http_client()
        .get(format!("{}/services/data/v66.0/limits", w.sim.base_url()))
        .bearer_auth(answer["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    r.status() == 200
}

fn org(s: &str) -> OrgId {
    OrgId::parse(s).unwrap()
}

async fn consent(w: &World, org: &str, username: &str) {
    let secret = new_link(w, org).await;
    let auth = start(w, &secret).await;
    let cb = authorize_as(auth, username).await;
    assert_eq!(callback(w, &cb).await.0, 200);
}

async fn legacy_rows(w: &World) -> Vec<domain::entity::connection::Model> {
    connections(w)
        .await
        .into_iter()
        .filter(|c| c.app == ConnectionApp::Legacy)
        .collect()
}

both_backends!(
    import_checks_every_row_and_writes_all_or_nothing_on,
    import_checks_every_row_and_writes_all_or_nothing
);
async fn import_checks_every_row_and_writes_all_or_nothing(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    let bad = format!(
        "{HEADER}{}00D000000000BAD,rt1,,{i},005000000000001,,,\n\
         nonsense,rt2,,{i},005000000000001,,,\n\
         {OTHER},,,{i},005000000000001,,,\n\
         {ACME},rt3,,{i},005000000000001,,,\n",
        csv_line(ACME, &m),
        i = m.instance_url
    );
    let errors = import_text(&w, &bad, Options::default()).await.unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(
            |e| e.starts_with("tokens.csv:3: org_id: org 00D000000000BAD")
                && e.contains("is not in the registry")
        ),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("tokens.csv:4: org_id: `nonsense`")),
        "{text:#?}"
    );
    let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
    assert!(lines.is_sorted(), "errors in file order: {lines:?}");
    assert!(
        text.iter()
            .any(|e| e == "tokens.csv:5: refresh_token: is required"),
        "{text:#?}"
    );
    assert!(
        text.iter().any(|e| e.starts_with(
            "tokens.csv:6: org_id: org 00D4c0000008cs2EAA appears twice (first on line 2)"
        )),
        "{text:#?}"
    );
    assert_eq!(text.len(), 4, "{text:#?}");
    // No message carries a token, and nothing was written.
    assert!(
        !text
            .iter()
            .any(|e| e.contains(&m.refresh_token) || e.contains("rt3"))
    );
    assert!(legacy_rows(&w).await.is_empty());

    let unknown = format!(
        "org_id,refresh_token,instance_url,sf_user_id,password\n{ACME},x,{},005000000000001,p\n",
        m.instance_url
    );
    let errors = import_text(&w, &unknown, Options::default())
        .await
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .to_string()
            .starts_with("tokens.csv:1: header: unknown column `password`")
    );

    // --skip-invalid stores the good row only.
    let r = import_text(
        &w,
        &bad,
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((r.imported, r.skipped), (1, 4));
    let rows = legacy_rows(&w).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, ConnectionStatus::Held);
    assert_eq!(rows[0].sf_user_id, m.user_id);

    // Held means never exchanged: the heartbeat and the token API leave it alone.
    let before = w.sim.stats();
    domain::vault::heartbeat::sweep(w.app.state.vault.as_ref().unwrap(), 100)
        .await
        .unwrap();
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("legacy_held")));
    let after = w.sim.stats();
    assert_eq!(after.refresh_ok, before.refresh_ok);
    assert_eq!(after.refresh_rejected, before.refresh_rejected);
    // Sealed at rest.
    assert!(!contains(&raw_dump(&w).await, &m.refresh_token));

    // Re-import replaces the held connection (the old row is set aside, never revoked).
    let m2 = mint(&w, "admin@acme.com");
    let r = import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m2)),
        Options::default(),
    )
    .await
    .unwrap();
    assert_eq!((r.imported, r.replaced), (1, 1));
    let rows = legacy_rows(&w).await;
    assert_eq!(
        rows.iter().map(|c| c.status).collect::<Vec<_>>(),
        vec![ConnectionStatus::Superseded, ConnectionStatus::Held]
    );
    assert!(w.sim.grants().iter().all(|g| !g.revoked));
}

both_backends!(
    a_token_of_another_org_serves_nothing_and_alerts_on,
    a_token_of_another_org_serves_nothing_and_alerts
);
async fn a_token_of_another_org_serves_nothing_and_alerts(db: TestDb) {
    let w = world(db, |_| {}).await;
    // The partner's table is wrong: Acme's token filed under the other customer.
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(OTHER, &m)),
        Options::default(),
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let a = activate::activate(vault, &org(OTHER), true, &Actor::Cli("t".into()))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(a, activate::Activated::Mismatch { .. }), "{a:?}");
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let (status, body) = token(&w.app, &k, OTHER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("connection_held")),
        "{body}"
    );
    let alerts = domain::entity::alert::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    assert!(
        alerts.iter().any(|a| a.kind == "vault.identity_mismatch"
            && a.severity == domain::alerts::Severity::Critical
            && a.org_id.as_ref() == Some(&org(OTHER))),
        "{alerts:?}"
    );
}

both_backends!(
    a_dead_legacy_token_is_reported_on_verified_activation_on,
    a_dead_legacy_token_is_reported_on_verified_activation
);
async fn a_dead_legacy_token_is_reported_on_verified_activation(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    w.sim
        .mass_revoke(&sfsim::MassRevoke {
            client_id: Some("reauth-legacy".into()),
            share: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options::default(),
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let a = activate::activate(vault, &org(ACME), true, &Actor::Cli("t".into()))
        .await
        .unwrap()
        .unwrap();
    match a {
        activate::Activated::Dead { reason, .. } => {
            assert!(
                reason.starts_with("legacy token was already dead"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        legacy_rows(&w).await[0].status,
        ConnectionStatus::NeedsReauth
    );
}

both_backends!(cut_over_end_to_end_on, cut_over_end_to_end);
/// Legacy served → the admin consents on the real pages → every process serves the External
/// Client App → after `retire_after` the legacy grant is revoked at sfsim and the org retired.
/// Every token handed out worked at sfsim when it was handed out.
async fn cut_over_end_to_end(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    let r = import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.activated, 1);
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let second = TestApp::spawn(&w.db, (*w.app.state.config).clone()).await;
    for app in [&w.app, &second] {
        let (status, body) = token(app, &k, ACME).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["app"], "legacy");
        assert_eq!(body["sf_user_id"], m.user_id.as_str());
        assert!(works_at_sfsim(&w, &body).await);
    }

    consent(&w, ACME, "admin@acme.com").await;
    // The invalidation reaches the other process within its poll.
    tokio::time::sleep(w.app.state.vault.as_ref().unwrap().invalidation_horizon()).await;
    for app in [&w.app, &second] {
        let (status, body) = token(app, &k, ACME).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["app"], "eca", "{body}");
        assert!(works_at_sfsim(&w, &body).await);
    }
    assert_eq!(state_of(&w, ACME).await, OrgState::Verified);

    // Retirement: the External Client App connection must have refreshed since verification.
    let vault = w.app.state.vault.as_ref().unwrap();
    let nothing = retire::run(vault, &Actor::System).await.unwrap();
    assert_eq!(nothing.started, 0, "not refreshed since verification yet");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let eca = connections(&w)
        .await
        .into_iter()
        .find(|c| c.app == ConnectionApp::Eca && c.status == ConnectionStatus::Active)
        .unwrap();
    vault
        .refresh(eca.id, domain::vault::Trigger::Forced)
        .await
        .unwrap()
        .unwrap();
    let pass = retire::run(vault, &Actor::System).await.unwrap();
    assert_eq!(
        (pass.started, pass.revoked),
        (1, 0),
        "revoked only after the invalidation horizon"
    );
    assert_eq!(legacy_rows(&w).await[0].status, ConnectionStatus::Retiring);
    tokio::time::sleep(vault.invalidation_horizon()).await;
    let pass = retire::run(vault, &Actor::System).await.unwrap();
    assert_eq!(pass.revoked, 1);
    assert_eq!(legacy_rows(&w).await[0].status, ConnectionStatus::Revoked);
    assert_eq!(state_of(&w, ACME).await, OrgState::LegacyRetired);
    let legacy_grant = w
        .sim
        .grants()
        .into_iter()
        .find(|g| g.client_id == "reauth-legacy")
        .unwrap();
    assert!(legacy_grant.revoked);
    // The partner keeps getting working External Client App tokens from both processes.
    for app in [&w.app, &second] {
        let (status, body) = token(app, &k, ACME).await;
        assert_eq!((status, body["app"].as_str()), (200, Some("eca")));
        assert!(works_at_sfsim(&w, &body).await);
    }
    let stats = w.sim.stats();
    assert_eq!(stats.reuse_detected, 0);
    assert_eq!(stats.concurrent_rejected, 0);
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(rep.ready, "{}", rep.verdict);
    second.stop().await;
}

both_backends!(
    a_dead_eca_grant_falls_back_to_legacy_on,
    a_dead_eca_grant_falls_back_to_legacy
);
async fn a_dead_eca_grant_falls_back_to_legacy(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    consent(&w, ACME, "admin@acme.com").await;
    let k = key(&w, &[ApiScope::TokensRead]).await;
    assert_eq!(token(&w.app, &k, ACME).await.1["app"], "eca");
    // The customer revokes the new app's grant before retirement.
    w.sim
        .mass_revoke(&sfsim::MassRevoke {
            client_id: Some("reauth-eca".into()),
            share: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let r = w
        .app
        .client
        .post(format!(
            "{}/api/v1/orgs/{ACME}/access-token/refresh",
            w.app.base
        ))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "the forced refresh finds the grant dead");
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!(
        (status, body["app"].as_str()),
        (200, Some("legacy")),
        "{body}"
    );
    assert!(works_at_sfsim(&w, &body).await);
    assert_eq!(state_of(&w, ACME).await, OrgState::NeedsReauth);
    // Nothing retires a legacy connection that is the only one working.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let vault = w.app.state.vault.as_ref().unwrap();
    assert_eq!(retire::run(vault, &Actor::System).await.unwrap().started, 0);
}

both_backends!(
    another_consenting_user_keeps_legacy_until_accepted_on,
    another_consenting_user_keeps_legacy_until_accepted
);
async fn another_consenting_user_keeps_legacy_until_accepted(db: TestDb) {
    let w = world(db, |sc| {
        for o in &mut sc.orgs {
            if o.id.starts_with("00D4c0000008cs2") {
                o.users
                    .push(sfsim::UserConfig::new("second-admin@acme.com", true));
            }
        }
    })
    .await;
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    consent(&w, ACME, "second-admin@acme.com").await;
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!(
        (status, body["app"].as_str()),
        (200, Some("legacy")),
        "{body}"
    );
    let o = domain::entity::org::Entity::find_by_id(org(ACME))
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.state, OrgState::NeedsAttention);
    assert_eq!(o.attention_owner.as_deref(), Some("csm"));
    assert!(o.attention_reason.unwrap().contains("accept the new user"));
    assert!(
        connections(&w)
            .await
            .iter()
            .any(|c| c.status == ConnectionStatus::Standby)
    );

    let vault = w.app.state.vault.as_ref().unwrap();
    activate::accept_new_user(
        vault,
        &org(ACME),
        &Actor::Staff("csm@partner.example".into()),
    )
    .await
    .unwrap()
    .unwrap();
    let (status, body) = token(&w.app, &k, ACME).await;
    assert_eq!((status, body["app"].as_str()), (200, Some("eca")), "{body}");
    assert!(works_at_sfsim(&w, &body).await);
    assert_eq!(state_of(&w, ACME).await, OrgState::Verified);
}

both_backends!(
    two_hundred_callers_during_the_consent_callback_all_get_working_tokens_on,
    two_hundred_callers_during_the_consent_callback_all_get_working_tokens
);
async fn two_hundred_callers_during_the_consent_callback_all_get_working_tokens(db: TestDb) {
    let w = world(db, |sc| {
        sc.clients.iter_mut().for_each(|c| c.rotation = true)
    })
    .await;
    let m = mint(&w, "admin@acme.com");
    import_text(
        &w,
        &format!("{HEADER}{}", csv_line(ACME, &m)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let k = key(&w, &[ApiScope::TokensRead]).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    let callers: Vec<_> = (0..200)
        .map(|i| {
            let app_client = w.app.client.clone();
            let base = w.app.base.clone();
            let k = k.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis((i % 20) * 5)).await;
                let r = app_client
                    .get(format!("{base}/api/v1/orgs/{ACME}/access-token"))
                    .bearer_auth(&k)
                    .send()
                    .await
                    .unwrap();
                (
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                )
            })
        })
        .collect();
    assert_eq!(callback(&w, &cb).await.0, 200);
    let mut apps = std::collections::BTreeMap::new();
    for c in callers {
        let (status, body) = c.await.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(works_at_sfsim(&w, &body).await, "{body}");
        *apps
            .entry(body["app"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(apps.values().sum::<i32>(), 200, "{apps:?}");
    let stats = w.sim.stats();
    assert_eq!(stats.reuse_detected, 0);
    assert_eq!(stats.concurrent_rejected, 0);
}

both_backends!(
    readiness_flips_to_ready_only_when_no_org_depends_on_legacy_on,
    readiness_flips_to_ready_only_when_no_org_depends_on_legacy
);
async fn readiness_flips_to_ready_only_when_no_org_depends_on_legacy(db: TestDb) {
    let w = world(db, |_| {}).await;
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(rep.ready, "nothing imported: nothing depends on legacy");
    let a = mint(&w, "admin@acme.com");
    let o = mint(&w, "admin@other.example");
    import_text(
        &w,
        &format!("{HEADER}{}{}", csv_line(ACME, &a), csv_line(OTHER, &o)),
        Options::default(),
    )
    .await
    .unwrap();
    let count = |r: &report::Readiness, b: report::Bucket| {
        r.counts.iter().find(|(x, _)| *x == b).unwrap().1
    };
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(!rep.ready);
    assert_eq!(count(&rep, report::Bucket::Held), 2);
    assert_eq!(count(&rep, report::Bucket::NeverHadLegacy), 1);
    assert!(
        rep.verdict
            .starts_with("not ready: 2 orgs still depend on the legacy app"),
        "{}",
        rep.verdict
    );
    let vault = w.app.state.vault.as_ref().unwrap();
    for org_id in [ACME, OTHER] {
        activate::activate(vault, &org(org_id), false, &Actor::Cli("t".into()))
            .await
            .unwrap()
            .unwrap();
    }
    consent(&w, ACME, "admin@acme.com").await;
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert_eq!(
        (
            count(&rep, report::Bucket::Both),
            count(&rep, report::Bucket::LegacyOnly)
        ),
        (1, 1)
    );
    assert_eq!(rep.still_on_legacy.len(), 2);
    // Retire Acme by hand; the other org still depends on legacy.
    let out = retire::by_hand(
        vault,
        &[org(ACME), org(OTHER)],
        true,
        false,
        &Actor::Cli("t".into()),
    )
    .await
    .unwrap();
    assert_eq!(out[0].result, "refused", "{out:?}");
    assert_eq!(out[1].result, "retired", "{out:?}");
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(!rep.ready);
    assert_eq!(count(&rep, report::Bucket::Retired), 1);
    // The other org's legacy grant dies: it no longer depends on the legacy app.
    w.sim
        .mass_revoke(&sfsim::MassRevoke {
            client_id: Some("reauth-legacy".into()),
            share: Some(1.0),
            ..Default::default()
        })
        .unwrap();
    let legacy_other = legacy_rows(&w)
        .await
        .into_iter()
        .find(|c| c.org_id == org(OTHER))
        .unwrap();
    let _ = vault
        .refresh(legacy_other.id, domain::vault::Trigger::Forced)
        .await
        .unwrap();
    let rep = report::readiness(&w.db.db).await.unwrap();
    assert!(rep.ready, "{}", rep.verdict);
    assert_eq!(count(&rep, report::Bucket::Neither), 1);
}

both_backends!(
    the_import_api_needs_its_scope_and_never_echoes_the_token_on,
    the_import_api_needs_its_scope_and_never_echoes_the_token
);
async fn the_import_api_needs_its_scope_and_never_echoes_the_token(db: TestDb) {
    let w = world(db, |_| {}).await;
    let m = mint(&w, "admin@acme.com");
    let post = |key: String, body: Value| {
        let c = w.app.client.clone();
        let url = format!("{}/api/v1/legacy-connections", w.app.base);
        async move {
            let r = c
                .post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let body = json!({
        "org_id": ACME,
        "refresh_token": m.refresh_token,
        "instance_url": m.instance_url,
        "sf_user_id": m.user_id,
        "activate": true,
    });
    let reader = key(&w, &[ApiScope::TokensRead]).await;
    let (status, text) = post(reader.clone(), body.clone()).await;
    assert_eq!(status, 403, "{text}");
    let writer = key(&w, &[ApiScope::LegacyWrite]).await;
    let mut bad = body.clone();
    bad["sf_user_id"] = json!("not-a-user");
    let (status, text) = post(writer.clone(), bad).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("sf_user_id"), "{text}");
    assert!(!text.contains(&m.refresh_token));
    // A token sent in the wrong field, and an unknown field: refused, the token not echoed.
    let mut misplaced = body.clone();
    misplaced["activate"] = json!(m.refresh_token);
    let (status, text) = post(writer.clone(), misplaced).await;
    assert_eq!(status, 400, "{text}");
    assert!(!text.contains(&m.refresh_token), "{text}");
    let mut unknown = body.clone();
    unknown["password"] = json!("x");
    let (status, text) = post(writer.clone(), unknown).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("unknown field `password`"), "{text}");
    assert!(
        legacy_rows(&w).await.is_empty(),
        "nothing stored by refused requests"
    );
    let (status, text) = post(writer.clone(), body.clone()).await;
    assert_eq!(status, 201, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["status"], "active");
    assert!(!text.contains(&m.refresh_token));
    // A key that may only write cannot read tokens; the reader can, from the legacy app.
    assert_eq!(token(&w.app, &writer, ACME).await.0, 403);
    let (status, answer) = token(&w.app, &reader, ACME).await;
    assert_eq!((status, answer["app"].as_str()), (200, Some("legacy")));
    // Posting again would replace a connection reauth now owns: refused without force.
    let (status, text) = post(writer, body).await;
    assert_eq!(status, 409, "{text}");
}

use sea_orm::EntityTrait as _;

both_backends!(
    an_org_without_the_package_gets_the_install_notice_not_a_link_on,
    an_org_without_the_package_gets_the_install_notice_not_a_link
);
async fn an_org_without_the_package_gets_the_install_notice_not_a_link(db: TestDb) {
    let w = world_custom(
        db,
        true,
        |_| {},
        |c| {
            legacy_config(c);
            c.legacy.package_id = Some("033000000000001".into());
            c.legacy.package_min_version = Some("2.0".into());
            c.legacy.install_url = Some("https://install.example/04t000000000001".into());
        },
    )
    .await;
    reauth_tests::import_csv(
        &w.db.db,
        &format!(
            "org_id,name,admin_email,wave\n{ACME},Acme Corp,admin@acme.com,W1\n{OTHER},Other Customer,admin@other.example,W1\n"
        ),
    )
    .await;
    let now = w.app.state.clock.now();
    domain::campaign::set_schedule(
        &w.db.db,
        "W1",
        Some(now - chrono::Duration::minutes(1)),
        Some(now + chrono::Duration::days(30)),
        &Actor::Cli("t".into()),
        now,
    )
    .await
    .unwrap();
    w.sim
        .set_installed_packages(ACME, vec![sfsim::InstalledPackage::reauth_connector()]);
    let mut old = sfsim::InstalledPackage::reauth_connector();
    old.major = 1;
    old.minor = 9;
    w.sim.set_installed_packages(OTHER, vec![old]);
    let a = mint(&w, "admin@acme.com");
    let o = mint(&w, "admin@other.example");
    import_text(
        &w,
        &format!("{HEADER}{}{}", csv_line(ACME, &a), csv_line(OTHER, &o)),
        Options {
            activate: true,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let vault = w.app.state.vault.as_ref().unwrap();
    let pass = domain::legacy::preflight::run(vault, now).await.unwrap();
    assert_eq!((pass.ready, pass.blocked, pass.unknown), (1, 1, 0));
    domain::campaign::schedule(&w.db.db, now, None)
        .await
        .unwrap();
    let kinds = |org_id: &str| {
        let db = w.db.db.clone();
        let id = org(org_id);
        async move {
            domain::entity::notice::Entity::find()
                .all(&db)
                .await
                .unwrap()
                .into_iter()
                .filter(|n| n.org_id == id)
                .map(|n| n.kind)
                .collect::<Vec<_>>()
        }
    };
    use domain::campaign::notices::NoticeKind;
    assert_eq!(kinds(ACME).await, vec![NoticeKind::Announce]);
    assert_eq!(kinds(OTHER).await, vec![NoticeKind::InstallPackage]);
    let other = domain::entity::org::Entity::find_by_id(org(OTHER))
        .one(&w.db.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.state, OrgState::NeedsAttention);
    assert!(
        other
            .preflight
            .as_deref()
            .unwrap()
            .starts_with("blocked: version 1.9.0 of the package is installed"),
        "{:?}",
        other.preflight
    );
    // The admin installs the update: the next check resumes the org and the campaign links it.
    w.sim
        .set_installed_packages(OTHER, vec![sfsim::InstalledPackage::reauth_connector()]);
    let later = now + chrono::Duration::hours(7);
    let pass = domain::legacy::preflight::run(vault, later).await.unwrap();
    assert_eq!((pass.ready, pass.blocked), (2, 0), "{pass:?}");
    assert_eq!(state_of(&w, OTHER).await, OrgState::Pending);
    domain::campaign::schedule(&w.db.db, later, None)
        .await
        .unwrap();
    assert!(kinds(OTHER).await.contains(&NoticeKind::Announce));
}
