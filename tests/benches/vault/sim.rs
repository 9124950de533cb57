//! sfsim in a process of its own, so the benchmark process is reauth alone (its RSS is reauth's).
//!
//! The benchmark binary runs itself again with `VAULT_BENCH_SIM=<orgs>:<users>`: that child starts
//! sfsim with `orgs × users` admins, seeds connections from real code exchanges into the
//! database it is told (`seed-minted`: from grants minted inside sfsim, no code exchange), and
//! answers one-line commands on stdin (`seed`, `seed-minted`, `latency`, `mint`,
//! `stats`, `quit`), each answered by one line on stdout.

use std::io::{BufRead as _, Write as _};
use std::process::Stdio;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};

pub const CALLBACK: &str = "http://127.0.0.1:9/cb";
pub const USERS_PER_ORG: usize = 1000;
const ENV: &str = "VAULT_BENCH_SIM";

pub fn org_id(i: usize) -> String {
    format!("00D{:012}", i + 1)
}

/// A simulator with `orgs` orgs of `users` admins each.
pub async fn start(orgs: usize, users: usize) -> sfsim::Sim {
    let mut sc = sfsim::Config::default_dataset().with_redirect_uri(CALLBACK);
    sc.orgs.clear();
    sc.settings.auto_approve = true;
    sc.settings.login_rate_per_hour = u32::MAX;
    for o in 0..orgs {
        let users = (0..users)
            .map(|u| sfsim::UserConfig::new(&format!("u{u}@o{o}.example"), true))
            .collect();
        sc = sc.with_org(&org_id(o), &format!("Org {o}"), "production", users);
    }
    sfsim::Sim::start(sc, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// reauth's configuration for a simulator at `base` (`host_port` allowed as a login host).
pub fn config(
    base: &str,
    host_port: &str,
    db_url: &str,
    key: SecretString,
) -> domain::config::Config {
    let mut config = domain::config::Config::default();
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = base.to_owned();
    config.salesforce.extra_login_hosts = vec![host_port.to_owned()];
    config.crypto.keys = vec![key];
    config.database_url = db_url.to_owned();
    config
}

/// `n` connections from real code exchanges, spread over the orgs' users, inserted 1,000 per
/// transaction as they arrive (nothing holds all of them at once).
pub async fn connect(
    db: &sea_orm::DatabaseConnection,
    config: &domain::config::Config,
    base: &str,
    n: usize,
    orgs: usize,
) {
    let sf = domain::salesforce::SfClient::from_config(config)
        .unwrap()
        .unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let login = domain::types::LoginUrl::parse(base, &config.salesforce.extra_login_hosts).unwrap();
    let http = reauth_tests::http_client();
    let grants = futures::stream::iter(0..n)
        .map(|i| {
            let (sf, login, http) = (sf.clone(), login.clone(), http.clone());
            async move {
                let (o, u) = (i % orgs, i / orgs);
                let pkce = domain::salesforce::Pkce::generate();
                let mut url =
                    url::Url::parse(&format!("{base}/services/oauth2/authorize")).unwrap();
                url.query_pairs_mut()
                    .append_pair("response_type", "code")
                    .append_pair("client_id", "reauth-eca")
                    .append_pair("redirect_uri", CALLBACK)
                    .append_pair("scope", "api refresh_token")
                    .append_pair("code_challenge", &pkce.challenge)
                    .append_pair("login_hint", &format!("u{u}@o{o}.example"));
                let r = http.get(url).send().await.unwrap();
                let loc = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
                let code = loc
                    .query_pairs()
                    .find(|(k, _)| k == "code")
                    .unwrap()
                    .1
                    .into_owned();
                let grant = sf
                    .exchange_code(&login, CALLBACK, &code, &pkce.verifier)
                    .await
                    .unwrap();
                (o, grant)
            }
        })
        .buffer_unordered(64)
        .chunks(1000);
    futures::pin_mut!(grants);
    let now = chrono::Utc::now();
    while let Some(chunk) = grants.next().await {
        let txn = sea_orm::TransactionTrait::begin(db).await.unwrap();
        for (o, grant) in &chunk {
            let org = domain::types::OrgId::parse(&org_id(*o)).unwrap();
            let rt = grant.refresh_token.clone().unwrap();
            let new = domain::vault::store::NewConnection::from_grant(
                &org,
                domain::entity::connection::ConnectionStatus::Active,
                grant,
                &rt,
                config.heartbeat.interval,
            )
            .unwrap();
            domain::vault::store::insert(&txn, new, &sealer, now)
                .await
                .unwrap();
        }
        txn.commit().await.unwrap();
    }
}

/// `n` connections from grants minted inside sfsim (no HTTP: the 1,000,000-connection run's
/// setup), inserted by 4 transactions of 1,000 at a time. Each is a grant sfsim will refresh
/// like any other; only the code exchange that made it is skipped.
pub async fn connect_minted(
    sim: &sfsim::Sim,
    db: &sea_orm::DatabaseConnection,
    config: &domain::config::Config,
    n: usize,
    orgs: usize,
) {
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();
    let hosts = &config.salesforce.extra_login_hosts;
    let scopes = vec!["api".to_owned(), "refresh_token".to_owned()];
    let now = chrono::Utc::now();
    let chunks: Vec<Vec<usize>> = (0..n)
        .collect::<Vec<_>>()
        .chunks(1000)
        .map(<[usize]>::to_vec)
        .collect();
    futures::stream::iter(chunks)
        .map(|chunk| {
            let minted: Vec<_> = chunk
                .iter()
                .map(|&i| {
                    let (o, u) = (i % orgs, i / orgs);
                    let g = sim
                        .mint_grant(
                            "reauth-eca",
                            &format!("u{u}@o{o}.example"),
                            &["api", "refresh_token"],
                        )
                        .unwrap();
                    (o, g)
                })
                .collect();
            let (sealer, scopes) = (&sealer, &scopes);
            async move {
                let txn = sea_orm::TransactionTrait::begin(db).await.unwrap();
                for (o, g) in &minted {
                    let org = domain::types::OrgId::parse(&org_id(*o)).unwrap();
                    let id = domain::salesforce::IdUrl::parse(&g.id, hosts).unwrap();
                    let (at, rt) = (
                        SecretString::from(g.access_token.clone()),
                        SecretString::from(g.refresh_token.clone().unwrap()),
                    );
                    let new = domain::vault::store::NewConnection {
                        org_id: &org,
                        app: domain::entity::connection::ConnectionApp::Eca,
                        status: domain::entity::connection::ConnectionStatus::Active,
                        id: &id,
                        instance_url: &g.instance_url,
                        scopes,
                        access_token: Some(&at),
                        refresh_token: &rt,
                        anomaly: None,
                        replaces_id: None,
                        heartbeat_interval: Some(config.heartbeat.interval),
                        issued_at: None,
                        sf_username: None,
                    };
                    domain::vault::store::insert(&txn, new, sealer, now)
                        .await
                        .unwrap();
                }
                txn.commit().await.unwrap();
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

/// In the child: runs sfsim and its commands until `quit` or end of input. `true` if this process
/// is the child.
pub async fn child() -> bool {
    let Ok(orgs) = std::env::var(ENV) else {
        return false;
    };
    let (orgs, users) = orgs.split_once(':').unwrap();
    let orgs: usize = orgs.parse().unwrap();
    let sim = start(orgs, users.parse().unwrap()).await;
    let say = |line: String| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").unwrap();
        out.flush().unwrap();
    };
    say(format!("ready {} {}", sim.base_url(), sim.host_port()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    while let Some(line) = rx.recv().await {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [how @ ("seed" | "seed-minted"), n, db_url, key] => {
                let t = Instant::now();
                let db = domain::db::connect(db_url).await.unwrap();
                let cfg = config(
                    sim.base_url(),
                    sim.host_port(),
                    db_url,
                    SecretString::from((*key).to_owned()),
                );
                let n = n.parse().unwrap();
                if *how == "seed" {
                    connect(&db, &cfg, sim.base_url(), n, orgs).await;
                } else {
                    connect_minted(&sim, &db, &cfg, n, orgs).await;
                }
                db.close().await.unwrap();
                say(format!("seeded {:.1}", t.elapsed().as_secs_f64()));
            }
            ["latency", ms] => {
                let ms: u64 = ms.parse().unwrap();
                sim.set_faults(sfsim::Faults {
                    latency: (ms > 0).then(|| Duration::from_millis(ms)),
                    ..Default::default()
                });
                say("ok".into());
            }
            ["mint", k] => {
                let tokens: Vec<String> = (0..k.parse::<usize>().unwrap())
                    .map(|i| {
                        let user = format!("u{}@o{}.example", i / orgs, i % orgs);
                        sim.mint_grant("reauth-eca", &user, &["api", "refresh_token"])
                            .unwrap()
                            .refresh_token
                            .unwrap()
                    })
                    .collect();
                say(tokens.join(" "));
            }
            ["stats"] => {
                let st = sim.stats();
                say(format!(
                    "{} {} {}",
                    st.refresh_ok, st.reuse_detected, st.concurrent_rejected
                ));
            }
            _ => break,
        }
    }
    sim.shutdown().await;
    true
}

/// sfsim's counts that matter here.
pub struct Stats {
    pub refresh_ok: u64,
    pub reuse: u64,
    pub concurrent: u64,
}

/// The parent's handle on the child.
pub struct SimProcess {
    child: tokio::process::Child,
    input: tokio::process::ChildStdin,
    output: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    pub base_url: String,
    pub host_port: String,
}

impl SimProcess {
    /// sfsim with `orgs` orgs of `users` admins each, in a process of its own.
    pub async fn spawn(orgs: usize, users: usize) -> Self {
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .env(ENV, format!("{orgs}:{users}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let input = child.stdin.take().unwrap();
        let mut output = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = output.next_line().await.unwrap().unwrap();
        let mut w = ready.split_whitespace().skip(1);
        let (base_url, host_port) = (w.next().unwrap().into(), w.next().unwrap().into());
        Self {
            child,
            input,
            output,
            base_url,
            host_port,
        }
    }

    pub async fn ask(&mut self, line: &str) -> String {
        self.input
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.input.flush().await.unwrap();
        self.output.next_line().await.unwrap().unwrap()
    }

    pub async fn latency(&mut self, d: Duration) {
        self.ask(&format!("latency {}", d.as_millis())).await;
    }

    pub async fn stats(&mut self) -> Stats {
        let line = self.ask("stats").await;
        let v: Vec<u64> = line
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        Stats {
            refresh_ok: v[0],
            reuse: v[1],
            concurrent: v[2],
        }
    }

    /// The child's resident set (VmRSS, KiB).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().unwrap_or(0);
        super::status_kib(&format!("/proc/{pid}/status"), "VmRSS:")
    }

    /// Prints sfsim's counts, asserts that no token was presented twice, and stops it.
    pub async fn finish(mut self) {
        let st = self.stats().await;
        println!(
            "  sfsim: refresh_ok {} reuse {} concurrent {}",
            st.refresh_ok, st.reuse, st.concurrent
        );
        assert_eq!((st.reuse, st.concurrent), (0, 0));
        self.quit().await;
    }

    pub async fn quit(mut self) {
        self.input.write_all(b"quit\n").await.unwrap();
        self.input.flush().await.unwrap();
        self.child.wait().await.ok();
    }
}
