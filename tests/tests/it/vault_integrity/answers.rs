//! Answers that look wrong: rotated tokens survive them; another org's answer quarantines the
//! connection.

use super::*;

/// Defect 1: an answer that carries a rotated refresh token is stored whatever else about it
/// looks wrong; the old token is never presented again.
async fn rotated_tokens_survive_answers_that_look_wrong(db: TestDb) {
    let (w, proxy) = proxied_world(db, |_| {}, |_| {}).await;
    let key = consent(&w).await;
    for tamper in [
        Tamper::UnknownInstanceHost,
        Tamper::BadSignature,
        Tamper::BadIssuedAt,
        Tamper::NoAccessToken,
    ] {
        advance(&w, Duration::from_secs(11));
        proxy.set(tamper);
        let (s, b) = force(&w, &key).await;
        proxy.set(Tamper::None);
        if tamper == Tamper::NoAccessToken {
            assert_eq!(s, 503, "{tamper:?}: no access token to serve: {b}");
        } else {
            assert_eq!(s, 200, "{tamper:?}: the new access token is served: {b}");
            assert!(
                b["instance_url"]
                    .as_str()
                    .unwrap()
                    .starts_with("http://127.0.0.1"),
                "{tamper:?}: an unrecognised instance URL is never handed out: {b}"
            );
        }
        let c = connections(&w).await.remove(0);
        assert_eq!(c.status, ConnectionStatus::Active, "{tamper:?}");
        assert!(c.anomaly.is_some(), "{tamper:?}: the anomaly is recorded");
        // The stored token is the one Salesforce rotated to: the next clean refresh works and
        // nothing was ever presented twice.
        advance(&w, Duration::from_secs(11));
        let (s, b) = force(&w, &key).await;
        assert_eq!(s, 200, "{tamper:?}: {b}");
        assert!(connections(&w).await[0].anomaly.is_none(), "cleared");
        let st = w.sim.stats();
        assert_eq!(
            (st.reuse_detected, st.grants_revoked_for_reuse),
            (0, 0),
            "{tamper:?}"
        );
    }
    assert!(alerts_of(&w, "vault.answer_anomaly").await >= 4);
    w.app.stop().await;
}

both_backends!(
    a_rotated_token_is_kept_when_the_answer_looks_wrong,
    rotated_tokens_survive_answers_that_look_wrong
);

/// An answer naming another org: the token is kept sealed but nothing is served.
async fn answers_for_another_org_quarantine_the_connection(db: TestDb) {
    let (w, proxy) = proxied_world(db, |_| {}, |_| {}).await;
    let key = consent(&w).await;
    advance(&w, Duration::from_secs(11));
    proxy.set(Tamper::OtherOrgId);
    let (s, b) = force(&w, &key).await;
    proxy.set(Tamper::None);
    assert_eq!(
        (s, b["error"].as_str()),
        (409, Some("connection_held")),
        "{b}"
    );
    let c = connections(&w).await.remove(0);
    assert_eq!(c.status, ConnectionStatus::Quarantined);
    assert_eq!(alerts_of(&w, "vault.identity_mismatch").await, 1);
    // Still nothing served, and nothing refreshed behind a person's back.
    advance(&w, Duration::from_secs(11));
    assert_eq!(force(&w, &key).await.0, 409);
    assert_eq!(w.sim.stats().refresh_ok, 1);
    w.app.stop().await;
}

both_backends!(
    a_refresh_answer_for_another_org_is_kept_but_never_served,
    answers_for_another_org_quarantine_the_connection
);
