//! `reauth demo`: everything in one process on a fresh SQLite file — the Salesforce simulator,
//! the server, the worker, mail to files — with a few seeded orgs, a staff user and re-auth
//! links to click.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use domain::config::Config;
use domain::events::Actor;
use domain::reconsent::links::NewLink;
use domain::types::{Email, OrgId};
use secrecy::ExposeSecret;

/// The demo's customers: (org id, name, environment, admin user at the simulator).
const ORGS: &[(&str, &str, &str, &str)] = &[
    (
        "00D5g000004DeMo",
        "Acme Corp",
        "production",
        "admin@acme.example",
    ),
    (
        "00D5g000004DeMs",
        "Acme Corp (UAT sandbox)",
        "sandbox",
        "admin@acme.example.uat",
    ),
    (
        "00D5g000007GlBx",
        "Globex",
        "production",
        "it@globex.example",
    ),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where reauth listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Where the simulated Salesforce listens.
    #[arg(long, default_value = "127.0.0.1:4010")]
    sim_bind: SocketAddr,
    /// The SQLite file (recreated at every start).
    #[arg(long, default_value = "reauth-demo.db")]
    db: PathBuf,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    super::init_tracing("info,sqlx=warn,tower_http=warn");
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", args.db.display()));
        if p.exists() {
            std::fs::remove_file(&p)
                .with_context(|| format!("cannot remove the old demo database {}", p.display()))?;
        }
    }
    let base_url = format!("http://{}", args.bind);

    let mut sim_config = sfsim::Config::default_dataset();
    sim_config.orgs.clear();
    for (id, name, env, admin) in ORGS {
        sim_config = sim_config.with_org(id, name, env, vec![sfsim::UserConfig::new(admin, true)]);
    }
    let sim_config = sim_config.with_redirect_uri(&format!("{base_url}/oauth/callback"));
    let sim = sfsim::Sim::start(sim_config, args.sim_bind)
        .await
        .with_context(|| format!("cannot start the simulator on {}", args.sim_bind))?;

    let mut config = Config {
        bind: args.bind,
        base_url: base_url.parse()?,
        database_url: format!("sqlite://{}?mode=rwc", args.db.display()),
        ..Config::default()
    };
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.sandbox_login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    config.partner.egress_ranges = vec!["203.0.113.0/28".parse()?];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("demo")];
    // Mail to files: the log transport never prints bodies, which hold link secrets.
    let mail_dir = std::env::current_dir()?.join("reauth-demo-mail");
    if mail_dir.exists() {
        std::fs::remove_dir_all(&mail_dir)
            .with_context(|| format!("cannot clear {}", mail_dir.display()))?;
    }
    config.mail.transport = format!("file://{}", mail_dir.display());

    let db = domain::db::open(&config.database_url).await?;
    let now = chrono::Utc::now();
    let actor = Actor::System;
    let mut csv = String::from("org_id,name,environment,wave,admin_email\n");
    for (id, name, env, admin) in ORGS {
        csv.push_str(&format!("{id},\"{name}\",{env},Demo wave,{admin}\n"));
    }
    let parsed = domain::registry::parse_csv(csv.as_bytes(), "demo", &[], |_| {})
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = domain::registry::plan_import(&db, "demo", parsed).await?;
    domain::registry::apply_plan(&db, plan, &actor, now, &()).await?;
    domain::campaign::set_schedule(
        &db,
        "Demo wave",
        Some(now),
        Some(now + chrono::Duration::days(30)),
        &actor,
        now,
    )
    .await?;
    let staff_email = Email::parse("admin@partner.example")?;
    let staff_password = domain::staff::one_time_password();
    domain::staff::add(
        &db,
        &staff_email,
        domain::staff::Role::Admin,
        &staff_password,
        &actor,
        now,
    )
    .await?;
    let mut links = Vec::new();
    for (id, name, _, admin) in ORGS {
        let org = OrgId::parse(id)?;
        let new = NewLink {
            org_id: &org,
            contact: None,
            ttl: config.links.ttl,
            notice_id: None,
        };
        let (secret, _) = domain::reconsent::links::create(&db, new, &actor, now).await?;
        links.push((*name, *admin, secret.url(&config.base_url)));
    }

    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    println!(
        "reauth demo is running (database {}, mail written to {})\n",
        args.db.display(),
        mail_dir.display()
    );
    println!("  reauth                 {base_url}   (health: {base_url}/healthz)");
    println!(
        "  simulated Salesforce   {}   (stats: {}/_sim/stats)",
        sim.base_url(),
        sim.base_url()
    );
    println!(
        "  staff user             {} / {}   (sign in at the base URL; first sign-in sets up two-factor)",
        staff_email,
        staff_password.expose_secret()
    );
    println!(
        "\nRe-auth links — open one, click \"Continue to Salesforce\", sign in as the admin shown (password: password), Allow:"
    );
    for (name, admin, url) in &links {
        println!("  {name:<26} {admin:<24} {url}");
    }
    println!(
        "\nTry signing into the sandbox with the production link to see the wrong-org check. Ctrl-C stops the demo."
    );
    super::run::run_app(
        db,
        Arc::new(config),
        listener,
        true,
        super::run::shutdown_signal(),
    )
    .await?;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
