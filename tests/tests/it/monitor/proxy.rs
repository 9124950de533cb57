//! Egress through a real forward proxy, and the worker's monitor job on its schedule.

use super::*;

/// Every Salesforce call through a real local forward proxy whose "static egress" sfsim sees.
async fn through_proxy(
    db: TestDb,
    egress: &str,
) -> (
    World,
    domain::vault::Vault,
    i64,
    reauth_tests::proxy::ForwardProxy,
) {
    let proxy = reauth_tests::proxy::ForwardProxy::start(egress, Some("egress:pr0xy-pw")).await;
    let url = proxy.url(Some("egress:pr0xy-pw"));
    let (w, vault, conn) = connected(
        db,
        |s| {
            s.settings.trust_forwarded_for = true;
            // Salesforce's refresh-token allowlist is not what this test is about: the monitor
            // must notice a wrong egress that Salesforce lets through.
            for c in &mut s.clients {
                c.ip_allowlist.clear();
            }
        },
        |c| {
            c.salesforce.proxy = Some(domain::config::ProxyUrl::parse(&url).unwrap());
        },
    )
    .await;
    (w, vault, conn, proxy)
}

async fn calls_go_through_the_proxy_and_its_egress_is_checked(db: TestDb) {
    // The world's egress_ranges are 203.0.113.0/28.
    let (w, vault, conn, proxy) = through_proxy(db, "203.0.113.5").await;
    let seen = proxy.seen();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("POST http://") && l.contains("/services/oauth2/token")),
        "the code exchange and the refresh went through the proxy: {seen:?}"
    );
    advance(&w, Duration::from_secs(180));
    let r = domain::monitor::sweep(&vault).await.unwrap();
    assert_eq!(r.rows.get("ours"), Some(&1), "{r:?}");
    assert!(open_alerts(&w, "egress.out_of_range").await.is_empty());
    let ex = exchange::Entity::find()
        .filter(exchange::Column::ConnectionId.eq(conn))
        .all(&w.db.db)
        .await
        .unwrap();
    assert_eq!(ex[0].egress_ip.as_deref(), Some("203.0.113.5"));
    assert!(
        proxy
            .seen()
            .iter()
            .any(|l| l.contains("/services/data/") && l.contains("LoginHistory")),
        "the monitor's query went through the proxy too"
    );

    // `reauth egress check`'s domain call: the address seen through the proxy, inside.
    let mut config = (*w.app.state.config).clone();
    config.salesforce.egress_check_url =
        Some(url::Url::parse(&format!("{}/_sim/ip", w.sim.base_url())).unwrap());
    let check = domain::salesforce::egress_check(&config).await.unwrap();
    assert_eq!(check.ip.to_string(), "203.0.113.5");
    assert!(check.in_egress_ranges);
    let shown = check.proxy.unwrap();
    assert!(
        !shown.contains("pr0xy-pw") && shown.contains("***"),
        "{shown}"
    );
    assert!(
        !format!("{config:?}").contains("pr0xy-pw"),
        "Debug redacts the proxy password"
    );
    assert!(!config.to_redacted_toml().contains("pr0xy-pw"));
    // no_proxy: the same call goes direct.
    config.salesforce.no_proxy = vec!["127.0.0.1".into()];
    let direct = domain::salesforce::egress_check(&config).await.unwrap();
    assert_eq!(direct.ip.to_string(), "127.0.0.1");
    assert!(!direct.in_egress_ranges);
}

both_backends!(
    calls_go_through_the_proxy_and_its_egress_is_checked,
    calls_go_through_the_proxy_and_its_egress_is_checked
);

async fn a_misconfigured_proxy_egress_is_out_of_range(db: TestDb) {
    let (w, vault, _conn, _proxy) = through_proxy(db, "198.18.0.9").await;
    advance(&w, Duration::from_secs(180));
    domain::monitor::sweep(&vault).await.unwrap();
    let a = open_alerts(&w, "egress.out_of_range").await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].details["source_ip"], "198.18.0.9");
    assert!(a[0].message.contains("203.0.113.0/28"), "{}", a[0].message);
}

both_backends!(
    a_misconfigured_proxy_egress_is_out_of_range,
    a_misconfigured_proxy_egress_is_out_of_range
);

/// The worker's own jobs, on their schedules: a theft is found by the `monitor` job within one
/// interval (2 s here) and reaches the webhook through the `alerts` job, without a refresh.
async fn the_worker_finds_a_theft_within_one_interval_and_delivers_it(db: TestDb) {
    let hooks = WebhookSink::start().await;
    let hook_url = hooks.url();
    let (w, vault, _conn) = connected(
        db,
        |_| {},
        |c| {
            c.partner.egress_ranges = vec!["127.0.0.0/8".parse().unwrap()];
            c.alerts.webhook_url = Some(hook_url);
        },
    )
    .await;
    let mut config = (*w.app.state.config).clone();
    config.monitor.every = Duration::from_secs(2);
    config.campaign.tick = Duration::from_secs(1);
    let ctx = worker::JobContext::new(
        w.db.db.clone(),
        std::sync::Arc::new(config),
        w.app.state.clock.clone(),
        domain::process::ProcessId::new("monitor-test"),
        Some(vault.clone()),
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let jobs = tokio::spawn(worker::run(ctx, async move {
        let _ = stopped.await;
    }));
    advance(&w, Duration::from_secs(180));
    let before = w.sim.stats().refresh_ok;
    let s = steal(&w, false, "192.0.2.66");
    assert!(!s.refreshed);
    // Past the settling time of a fresh row.
    advance(&w, Duration::from_secs(60));
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    while started.elapsed() < Duration::from_secs(15) {
        got = hooks.hooks();
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let waited = started.elapsed();
    let _ = stop.send(());
    let _ = jobs.await;
    assert_eq!(got.len(), 1, "delivered once, within {waited:?}");
    assert_eq!(got[0].json()["alert"]["kind"], "token.foreign_use_attempt");
    assert!(
        waited < Duration::from_secs(5),
        "one monitor interval (2 s) plus the alerts job's second: {waited:?}"
    );
    assert_eq!(
        w.sim.stats().refresh_ok,
        before,
        "the jobs caused no refresh"
    );
}

both_backends!(
    the_worker_finds_a_theft_within_one_interval_and_delivers_it,
    the_worker_finds_a_theft_within_one_interval_and_delivers_it
);
