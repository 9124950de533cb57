//! Client secret rotation against sfsim: reauth configured with the old and the new secret
//! (newest last) keeps refreshing throughout a staged rotation, records which secret Salesforce
//! accepted, alerts once while only the previous one works, and treats a secret Salesforce no
//! longer accepts as the partner's fault, never the customer's.

use domain::entity::connection::{ConnectionStatus, ErrorClass};
use domain::registry::state::OrgState;
use domain::salesforce::SfClient;
use domain::vault::{Trigger, VaultError};
use reauth_tests::{TestDb, both_backends};
use sea_orm::EntityTrait as _;
use secrecy::SecretString;

use crate::reconsent_flow::{
    authorize_as, callback, connections, new_link, start, state_of, world_custom,
};

const ACME: &str = "00D4c0000008cs2";

both_backends!(
    a_staged_secret_rotation_keeps_every_refresh_working_on,
    a_staged_secret_rotation_keeps_every_refresh_working
);
async fn a_staged_secret_rotation_keeps_every_refresh_working(db: TestDb) {
    let old = "reauth-eca-secret";
    let new = "the-new-secret";
    let w = world_custom(
        db,
        true,
        |_| {},
        |c| {
            c.salesforce.client_secret = None;
            c.salesforce.client_secrets = vec![SecretString::from(old), SecretString::from(new)];
        },
    )
    .await;
    let secret = new_link(&w, ACME).await;
    let cb = authorize_as(start(&w, &secret).await, "admin@acme.com").await;
    assert_eq!(
        callback(&w, &cb).await.0,
        200,
        "the consent works on the previous secret"
    );
    let vault = w.app.state.vault.as_ref().unwrap();
    let id = connections(&w).await[0].id;
    let fp = |s: &str| SfClient::fingerprint(&SecretString::from(s));
    let status = || async {
        domain::security::secrets::status(
            &w.db.db,
            &w.app.state.config,
            chrono::Utc::now().date_naive(),
        )
        .await
        .unwrap()
        .remove(0)
    };

    // Salesforce still has only the old secret: the refresh falls back to it, once.
    vault.refresh(id, Trigger::Forced).await.unwrap().unwrap();
    vault.refresh(id, Trigger::Forced).await.unwrap().unwrap();
    let s = status().await;
    assert_eq!(s.configured, vec![fp(old), fp(new)]);
    assert_eq!(s.last_accepted, Some(fp(old)));
    assert!(!s.newest_accepted);
    let alerts = domain::entity::alert::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    let previous: Vec<_> = alerts
        .iter()
        .filter(|a| a.kind == "client_secret.previous_accepted")
        .collect();
    assert_eq!(
        previous.len(),
        1,
        "one open alert however many refreshes: {alerts:?}"
    );
    assert!(!previous[0].message.contains(old) && !previous[0].message.contains(new));

    // The partner adds the new secret at Salesforce (the old one still accepted): new first.
    assert!(w.sim.set_client_secret("reauth-eca", new, true));
    vault.refresh(id, Trigger::Forced).await.unwrap().unwrap();
    let s = status().await;
    assert_eq!(s.last_accepted, Some(fp(new)));
    assert!(s.newest_accepted, "now the old secret can be removed");

    // A secret Salesforce no longer knows is ours to fix: no token lost, no re-consent.
    assert!(w.sim.set_client_secret("reauth-eca", "yet-another", false));
    match vault.refresh(id, Trigger::Forced).await.unwrap() {
        Err(VaultError::Unavailable { class, .. }) => assert_eq!(class, ErrorClass::Ours),
        other => panic!("{other:?}"),
    }
    let c = connections(&w)
        .await
        .into_iter()
        .find(|c| c.id == id)
        .unwrap();
    assert_eq!(c.status, ConnectionStatus::Active);
    assert_eq!(state_of(&w, ACME).await, OrgState::Verified);
    let alerts = domain::entity::alert::Entity::find()
        .all(&w.db.db)
        .await
        .unwrap();
    assert!(
        alerts
            .iter()
            .any(|a| a.kind == "vault.ours" && a.severity == domain::alerts::Severity::Critical),
        "{alerts:?}"
    );
    let st = w.sim.stats();
    assert_eq!(st.reuse_detected, 0);
    // Back to a secret it knows: the same token still works.
    assert!(w.sim.set_client_secret("reauth-eca", new, false));
    vault.refresh(id, Trigger::Forced).await.unwrap().unwrap();
}

#[tokio::test]
async fn an_overdue_rotation_is_one_open_alert() {
    let db = TestDb::sqlite().await;
    let mut config = domain::config::Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some(SecretString::from("s1"));
    config.salesforce.secret_rotated_at = chrono::NaiveDate::from_ymd_opt(2026, 1, 1);
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
    let s = domain::security::secrets::status(&db.db, &config, today)
        .await
        .unwrap();
    assert_eq!(s[0].due, chrono::NaiveDate::from_ymd_opt(2026, 4, 1));
    assert!(s[0].overdue);
    let now = today.and_hms_opt(12, 0, 0).unwrap().and_utc();
    for _ in 0..3 {
        assert_eq!(
            domain::security::secrets::alert_overdue(&db.db, &config, now)
                .await
                .unwrap(),
            1
        );
    }
    let open: Vec<_> = domain::entity::alert::Entity::find()
        .all(&db.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.kind == "client_secret.rotation_overdue")
        .collect();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].occurrences, 3);
    // Rotated recently: not overdue.
    config.salesforce.secret_rotated_at = chrono::NaiveDate::from_ymd_opt(2026, 11, 1);
    assert_eq!(
        domain::security::secrets::alert_overdue(&db.db, &config, now)
            .await
            .unwrap(),
        0
    );
}
