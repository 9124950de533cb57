//! The token-use monitor against sfsim: each `/_sim/steal` mode raises the right alert with the
//! thief's address, and the alerts reach the webhook and the ops mailbox once each; our own
//! exchanges from outside `partner.egress_ranges` are `egress.out_of_range`; exchanges that never
//! show up make a connection `monitor_blind`; and monitoring never causes an exchange.

use std::time::Duration;

use domain::alerts::delivery::{self, Dispatcher};
use domain::entity::{alert, exchange, monitor_state};
use domain::vault::Trigger;
use reauth_tests::smtp::SmtpSink;
use reauth_tests::webhook::WebhookSink;
use reauth_tests::{TestDb, both_backends};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::reconsent_flow::{
    World, authorize_as, callback, connections, new_link, start, world_custom,
};

const ACME: &str = "00D4c0000008cs2EAA";

/// Acme consented and reauth made one refresh of its own (so calibration has a row to learn from).
async fn connected(
    db: TestDb,
    sim: impl FnOnce(&mut sfsim::Config),
    cfg: impl FnOnce(&mut domain::config::Config),
) -> (World, domain::vault::Vault, i64) {
    let w = world_custom(db, true, sim, cfg).await;
    let secret = new_link(&w, ACME).await;
    let auth = start(&w, &secret).await;
    let cb = authorize_as(auth, "admin@acme.com").await;
    assert_eq!(callback(&w, &cb).await.0, 200);
    let vault = w.app.state.vault.clone().expect("vault");
    let conn = connections(&w).await[0].id;
    advance(&w, Duration::from_secs(30));
    let answer = vault.refresh(conn, Trigger::Forced).await.unwrap();
    assert!(answer.is_ok(), "{answer:?}");
    // The vault records the exchange on a task of its own (not drained: the vault must stay open,
    // or "the monitor never refreshes" below would hold for the wrong reason).
    for _ in 0..100 {
        if !exchange::Entity::find()
            .all(&w.db.db)
            .await
            .unwrap()
            .is_empty()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (w, vault, conn)
}

fn advance(w: &World, d: Duration) {
    w.app.state.clock.advance(d);
    w.sim.advance_clock(d);
}

async fn open_alerts(w: &World, kind: &str) -> Vec<alert::Model> {
    alert::Entity::find()
        .filter(alert::Column::Kind.eq(kind))
        .filter(alert::Column::ResolvedAt.is_null())
        .all(&w.db.db)
        .await
        .unwrap()
}

fn steal(w: &World, with_secret: bool, ip: &str) -> sfsim::StealOutcome {
    w.sim
        .steal(&sfsim::Steal {
            username: Some("admin@acme.com".into()),
            client_id: Some("reauth-eca".into()),
            with_secret,
            from_ip: Some(ip.parse().unwrap()),
            ..sfsim::Steal::default()
        })
        .unwrap()
}

mod proxy;
mod refusals;
mod thefts;
