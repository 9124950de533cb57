//! `reauth demo`: everything in one process on a fresh SQLite file — the Salesforce simulator,
//! the server, the worker, mail to files — with a few seeded orgs, a staff user and re-auth
//! links to click.
//!
//! So that the other commands a newcomer runs next (`reauth orgs list`, `reauth links create …`)
//! see the demo's orgs, the demo writes a `reauth.toml` pointing at its database and address in
//! the directory it runs in (unless one of the user's own is there), removes it when it stops,
//! and prints the `export` line for other directories.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use domain::config::Config;
use domain::events::Actor;
use domain::reconsent::links::NewLink;
use domain::types::{Email, OrgId};
use secrecy::ExposeSecret;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A customer of the demo.
struct DemoOrg {
    id: &'static str,
    name: &'static str,
    environment: &'static str,
    /// The admin user at the simulator; `None` for the org kept for the wrong-org check.
    admin: Option<&'static str>,
}

/// The demo's customers.
const ORGS: &[DemoOrg] = &[
    DemoOrg {
        id: "00D5g000004DeMo",
        name: "Acme Corp",
        environment: "production",
        admin: Some("admin@acme.example"),
    },
    DemoOrg {
        id: "00D5g000004DeMs",
        name: "Acme Corp (UAT sandbox)",
        environment: "sandbox",
        admin: Some("admin@acme.example.uat"),
    },
    DemoOrg {
        id: "00D5g000007GlBx",
        name: "Globex",
        environment: "production",
        admin: Some("it@globex.example"),
    },
    // No admin of its own at the simulator, so its link can only be signed into with another
    // org's admin: the wrong-org check can be seen at any time, whatever was consented before.
    DemoOrg {
        id: "00D5g000009InTc",
        name: "Initech",
        environment: "production",
        admin: None,
    },
];

/// The org other commands are shown with in the banner and the README.
const EXAMPLE_ORG: &str = "00D5g000007GlBx";

/// The configuration file the demo writes for the other commands, and how it marks it as its own.
const CONFIG_FILE: &str = "reauth.toml";
const CONFIG_MARK: &str = "# Written by `reauth demo`";

/// Log levels: quiet while starting, so the banner is not buried in start-up lines, then what
/// a person watching the demo wants to see.
const QUIET_START: &str = "warn";
const RUNNING: &str = "info,sqlx=warn,tower_http=warn,apalis_core=warn,sea_orm_migration=warn";

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where reauth listens (port 0: any free port; the banner shows which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Where the simulated Salesforce listens (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:4010")]
    sim_bind: SocketAddr,
    /// The SQLite file (recreated at every start).
    #[arg(long, default_value = super::db::DEMO_DB)]
    db: PathBuf,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let loud = super::init_tracing_quiet_start(QUIET_START, RUNNING);
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let db_file = cwd.join(&args.db);
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db_file.display()));
        if p.exists() {
            std::fs::remove_file(&p)
                .with_context(|| format!("cannot remove the old demo database {}", p.display()))?;
        }
    }
    // Bound first, so `--bind 127.0.0.1:0` works: the address is known before anything uses it.
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    let base_url = format!("http://{addr}");

    let mut sim_config = sfsim::Config::default_dataset();
    sim_config.orgs.clear();
    for o in ORGS {
        let users = o
            .admin
            .map(|a| vec![sfsim::UserConfig::new(a, true)])
            .unwrap_or_default();
        sim_config = sim_config.with_org(o.id, o.name, o.environment, users);
    }
    let sim_config = sim_config.with_redirect_uri(&format!("{base_url}/oauth/callback"));
    let sim = sfsim::Sim::start(sim_config, args.sim_bind)
        .await
        .with_context(|| format!("cannot start the simulator on {}", args.sim_bind))?;

    let mut config = Config {
        bind: addr,
        base_url: base_url.parse()?,
        database_url: super::db::demo_database_url(&db_file),
        ..Config::default()
    };
    config.salesforce.client_id = Some("reauth-eca".into());
    config.salesforce.client_secret = Some("reauth-eca-secret".to_owned().into());
    config.salesforce.login_url = sim.base_url().to_owned();
    config.salesforce.sandbox_login_url = sim.base_url().to_owned();
    config.salesforce.extra_login_hosts = vec![sim.host_port().to_owned()];
    // The partner's legacy Connected App, whose tokens the demo imports and activates: the org
    // page shows `legacy` serving until the admin consents, then `eca`.
    config.legacy.client_id = Some("reauth-legacy".into());
    config.legacy.client_secret = Some("reauth-legacy-secret".to_owned().into());
    config.partner.egress_ranges = vec!["203.0.113.0/28".parse()?];
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("demo")];
    // Mail to files: the log transport never prints bodies, which hold link secrets.
    let mail_dir = cwd.join("reauth-demo-mail");
    if mail_dir.exists() {
        std::fs::remove_dir_all(&mail_dir)
            .with_context(|| format!("cannot clear {}", mail_dir.display()))?;
    }
    config.mail.transport = format!("file://{}", mail_dir.display());

    let db = domain::db::open(&config.database_url).await?;
    let seeded = seed(&db, &config).await?;
    seed_legacy(&db, &config, &sim).await?;

    let export = super::db::demo_export_line(&db_file, Some(&base_url));
    let config_file = cwd.join(CONFIG_FILE);
    let wrote_config = write_config_file(&config_file, &config.database_url, &base_url)?;

    let sim_url = sim.base_url().to_owned();
    let mut app = tokio::spawn(super::run::run_app(
        db,
        Arc::new(config),
        listener,
        true,
        super::run::shutdown_signal(),
    ));
    let banner = Banner {
        base_url: &base_url,
        sim_url: &sim_url,
        db_file: &db_file,
        mail_dir: &mail_dir,
        seeded: &seeded,
        config_file: wrote_config.as_ref().map(|_| config_file.as_path()),
        export: &export,
    };
    let outcome = tokio::select! {
        ready = wait_until_ready(addr) => {
            if !ready {
                tracing::warn!("reauth did not answer /readyz within 30 s; the links may not work yet");
            }
            banner.print();
            loud();
            app.await
        }
        ended = &mut app => ended,
    };
    if let Some(written) = wrote_config {
        remove_config_file(&config_file, &written);
    }
    sim.shutdown().await;
    outcome.context("the demo's server task")??;
    Ok(ExitCode::SUCCESS)
}

/// What the demo seeded: the staff user and a link per org.
struct Seeded {
    staff_email: Email,
    staff_password: secrecy::SecretString,
    /// (org name, admin to sign in as, link URL)
    links: Vec<(&'static str, Option<&'static str>, String)>,
}

/// Imports the orgs into a wave, adds the staff user and mints a link per org.
async fn seed(db: &sea_orm::DatabaseConnection, config: &Config) -> anyhow::Result<Seeded> {
    let now = chrono::Utc::now();
    let actor = Actor::System;
    let mut csv = String::from("org_id,name,environment,wave,admin_email\n");
    for o in ORGS {
        let contact = o.admin.unwrap_or("admin@initech.example");
        csv.push_str(&format!(
            "{},\"{}\",{},Demo wave,{contact}\n",
            o.id, o.name, o.environment
        ));
    }
    let parsed = domain::registry::parse_csv(csv.as_bytes(), "demo", &[], |_| {})
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let plan = domain::registry::plan_import(db, "demo", parsed).await?;
    domain::registry::apply_plan(db, plan, &actor, now, &()).await?;
    domain::campaign::set_schedule(
        db,
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
        db,
        &staff_email,
        domain::staff::Role::Admin,
        &staff_password,
        &actor,
        now,
    )
    .await?;
    let mut links = Vec::new();
    for o in ORGS {
        let org = OrgId::parse(o.id)?;
        let new = NewLink {
            org_id: &org,
            contact: None,
            ttl: config.links.ttl,
            notice_id: None,
        };
        let (secret, _) = domain::reconsent::links::create(db, new, &actor, now).await?;
        links.push((o.name, o.admin, secret.url(&config.base_url)));
    }
    Ok(Seeded {
        staff_email,
        staff_password,
        links,
    })
}

/// The partner's existing legacy tokens, one per org with an admin at the simulator: imported
/// and activated, as a partner does when its services switch to the token API.
async fn seed_legacy(
    db: &sea_orm::DatabaseConnection,
    config: &Config,
    sim: &sfsim::Sim,
) -> anyhow::Result<()> {
    let mut csv = String::from("org_id,refresh_token,instance_url,sf_user_id,scopes\n");
    for o in ORGS {
        let Some(admin) = o.admin else { continue };
        let g = sim
            .mint_grant("reauth-legacy", admin, &["api", "refresh_token"])
            .map_err(|e| anyhow::anyhow!("the simulator would not mint a legacy grant: {e}"))?;
        let user = g.id.rsplit('/').next().unwrap_or_default().to_owned();
        let rt = g.refresh_token.unwrap_or_default();
        csv.push_str(&format!(
            "{},{rt},{},{user},api refresh_token\n",
            o.id, g.instance_url
        ));
    }
    let vault = domain::vault::Vault::from_config(
        db.clone(),
        Arc::new(config.clone()),
        domain::time::Clock::system(),
        "demo-seed",
    )?
    .context("the demo's vault")?;
    let parsed = domain::legacy::import::parse(
        csv.as_bytes(),
        domain::legacy::import::Format::Csv,
        "demo",
        &config.salesforce.extra_login_hosts,
    );
    let opts = domain::legacy::import::Options {
        activate: true,
        ..Default::default()
    };
    match domain::legacy::import::import(&vault, "demo", parsed, opts, &Actor::System, &()).await? {
        Ok(_) => Ok(()),
        Err(errors) => Err(anyhow::anyhow!(
            "the demo's legacy tokens did not import: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// Writes `reauth.toml` for the other commands unless the user has one of their own there;
/// returns what was written, to remove it later only if it is unchanged.
fn write_config_file(
    path: &Path,
    database_url: &str,
    base_url: &str,
) -> anyhow::Result<Option<String>> {
    if let Ok(existing) = std::fs::read_to_string(path)
        && !existing.starts_with(CONFIG_MARK)
    {
        return Ok(None);
    }
    if path.exists() && !path.is_file() {
        return Ok(None);
    }
    let text = format!(
        "{CONFIG_MARK} and removed when it stops: the other reauth commands run in\n\
         # this directory use the demo's database and address.\n\
         database_url = \"{database_url}\"\n\
         base_url = \"{base_url}\"\n"
    );
    std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(text))
}

/// Removes the demo's `reauth.toml`, unless it was changed since (then it is the user's now).
fn remove_config_file(path: &Path, written: &str) {
    match std::fs::read_to_string(path) {
        Ok(now) if now == written => {
            if let Err(e) = std::fs::remove_file(path) {
                eprintln!("warning: cannot remove {}: {e}", path.display());
            }
        }
        _ => {}
    }
}

/// Whether reauth answers `GET /readyz` with 200 within 30 seconds.
async fn wait_until_ready(addr: SocketAddr) -> bool {
    for _ in 0..300 {
        if probe(addr).await.unwrap_or(false) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// One `GET /readyz` over a plain HTTP/1.1 connection.
async fn probe(addr: SocketAddr) -> std::io::Result<bool> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET /readyz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    Ok(head.starts_with(b"HTTP/1.1 200"))
}

/// What the demo prints once it answers: the URLs, the staff user, the links, and how to point
/// other commands at it.
struct Banner<'a> {
    base_url: &'a str,
    sim_url: &'a str,
    db_file: &'a Path,
    mail_dir: &'a Path,
    seeded: &'a Seeded,
    /// The `reauth.toml` written for the other commands, if one was.
    config_file: Option<&'a Path>,
    export: &'a str,
}

impl Banner<'_> {
    fn print(&self) {
        let Self {
            base_url, sim_url, ..
        } = self;
        println!("reauth demo is running\n");
        println!("  reauth                 {base_url}   (health: {base_url}/healthz)");
        println!("  simulated Salesforce   {sim_url}   (stats: {sim_url}/_sim/stats)");
        println!(
            "  staff user             {} / {}   (sign in at {base_url}; the first sign-in sets up two-factor)",
            self.seeded.staff_email,
            self.seeded.staff_password.expose_secret()
        );
        println!(
            "\nRe-auth links: open one, click \"Continue to Salesforce\", sign in as the admin shown (password: password), Allow:"
        );
        for (name, admin, url) in &self.seeded.links {
            let admin = admin.unwrap_or("any admin above");
            println!("  {name:<26} {admin:<24} {url}");
        }
        println!(
            "\nThe wrong-org check: open Initech's link and sign in as any admin above. reauth refuses the grant and says which org was used (Initech has no admin of its own, so this works at any time)."
        );
        println!(
            "\nDatabase {}; mail is written to {}",
            self.db_file.display(),
            self.mail_dir.display()
        );
        match self.config_file {
            Some(f) => println!(
                "Other reauth commands run in this directory use the demo ({} points them at it; it is removed when the demo stops), e.g.\n  reauth orgs list\n  reauth links create {EXAMPLE_ORG}\nIn another directory, first run:",
                f.display()
            ),
            None => println!(
                "This directory has a reauth.toml of its own, so it was left alone. Point other reauth commands at the demo with:"
            ),
        }
        println!("  {}", self.export);
        println!("\nCtrl-C stops the demo.");
    }
}
