//! The end-to-end test harness: a fresh, migrated database per test (an SQLite file, and a
//! PostgreSQL database when `REAUTH_TEST_POSTGRES_URL` is set), the real app on `127.0.0.1:0`,
//! and the `reauth` binary for CLI tests.
//!
//! | module | what it gives a test |
//! |---|---|
//! | `proxy` | a real local forward proxy (`CONNECT` tunnels and absolute-form requests) |
//! | `seed` | many customers at once: orgs at sfsim and in the registry, with connections |
//! | `smtp` | a real SMTP listener that keeps every message it is given |
//! | `staff` | a staff user, signed in through the real sign-in pages |
//! | `tamper` | a man in the middle that changes Salesforce's answers |
//! | `webhook` | a listener standing in for a Slack-style incoming webhook |
#![expect(
    clippy::expect_used,
    reason = "test support: a failed expect is a failed test, with its message"
)]
#![expect(
    clippy::disallowed_methods,
    reason = "tests and benchmarks read their own switches (REAUTH_TEST_*, REAUTH_UPDATE_*, bench sizes) from the environment"
)]

pub mod proxy;
pub mod seed;
pub mod smtp;
pub mod staff;
pub mod tamper;
pub mod webhook;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use domain::config::Config;
use domain::time::Clock;
use sea_orm::DatabaseConnection;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that belongs to one test and disappears with it.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub db: DatabaseConnection,
    dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

/// The PostgreSQL server URL for the Postgres suite, or `None` (with a notice) to skip it.
pub fn postgres_url() -> Option<String> {
    match std::env::var("REAUTH_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            eprintln!(
                "notice: REAUTH_TEST_POSTGRES_URL is not set; skipping the PostgreSQL variant of this test"
            );
            None
        }
    }
}

impl TestDb {
    /// A fresh, migrated SQLite file in its own temporary directory.
    pub async fn sqlite() -> Self {
        install_crypto();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("reauth.db").display()
        );
        let db = domain::db::open(&url).await.expect("open sqlite");
        Self {
            backend: Backend::Sqlite,
            url,
            db,
            dir: Some(dir),
            pg_drop: None,
        }
    }

    /// A fresh, migrated PostgreSQL database, or `None` when the suite is skipped.
    pub async fn postgres() -> Option<Self> {
        install_crypto();
        let admin_url = postgres_url()?;
        let name = format!("reauth_t_{}", uuid::Uuid::new_v4().simple());
        let admin = domain::db::connect(&admin_url)
            .await
            .expect("REAUTH_TEST_POSTGRES_URL must be reachable");
        use sea_orm::ConnectionTrait;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let mut url = url::Url::parse(&admin_url).expect("postgres url");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let db = domain::db::open(&url).await.expect("open postgres");
        Some(Self {
            backend: Backend::Postgres,
            url,
            db,
            dir: None,
            pg_drop: Some((admin_url, name)),
        })
    }

    /// An existing SQLite database that outlives the value (benchmarks that keep their data).
    pub fn wrap(db: DatabaseConnection, url: String) -> Self {
        Self {
            backend: Backend::Sqlite,
            url,
            db,
            dir: None,
            pg_drop: None,
        }
    }

    /// The directory of an SQLite test database (for tests that read the raw file).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(tempfile::TempDir::path)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.pg_drop.take() else {
            return;
        };
        // Async work cannot run in Drop; a short-lived thread with its own runtime drops the
        // database (FORCE ends connections the test's pool still holds).
        let _joined = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sea_orm::ConnectionTrait;
                if let Ok(admin) = domain::db::connect(&admin_url).await {
                    let _dropped = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                }
            });
        })
        .join();
    }
}

/// Installs the process-wide rustls provider reqwest needs (idempotent).
pub fn install_crypto() {
    let _already = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client for tests: no redirects followed, a cookie jar (like a browser), short timeouts.
pub fn http_client() -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("http client")
}

/// The real application, serving on an ephemeral loopback port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: server::AppState,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// Starts the app on `127.0.0.1:0` over `db` with `config`.
    pub async fn spawn(db: &TestDb, config: Config) -> Self {
        Self::spawn_at(db, config, "127.0.0.1:0".parse().expect("addr")).await
    }

    /// Starts the app on a given address (for tests that must know it beforehand).
    pub async fn spawn_at(db: &TestDb, mut config: Config, addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        config.database_url = db.url.clone();
        config.bind = addr;
        config.base_url = url::Url::parse(&format!("http://{addr}")).expect("base url");
        let state = server::AppState::new(
            db.db.clone(),
            Arc::new(config),
            Clock::injected(),
            &domain::process::ProcessId::new("test"),
        )
        .expect("app state");
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(server::serve(listener, state.clone(), async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            state,
            client: http_client(),
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// GET a path.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server");
        }
    }
}

/// The `reauth` binary built for this test run. Cargo builds it because the root package has an
/// integration test (`tests/binary.rs`); `cargo nextest run -p reauth-tests` alone would not.
pub fn reauth_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/it-<hash> → target/<profile>/reauth
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("reauth"))
        .expect("target dir");
    assert!(
        bin.is_file(),
        "{} is missing: run the suite with `cargo nextest run --workspace` (which builds it)",
        bin.display()
    );
    bin
}

/// Runs `reauth` in `dir` with a clean environment (only `extra_env` and PATH), returning
/// (exit code, stdout, stderr).
pub fn run_reauth(
    dir: &std::path::Path,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(reauth_bin());
    cmd.current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run reauth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Declares a test that runs a body on SQLite, and on PostgreSQL when configured:
/// `both_backends!(name, body_fn)` makes `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body($crate::TestDb::sqlite().await).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::TestDb::postgres().await {
                    super::$body(db).await
                }
            }
        }
    };
}

/// Imports an org CSV (which must be valid) the way `reauth orgs import` does.
pub async fn import_csv(db: &DatabaseConnection, csv: &str) -> domain::registry::ImportReport {
    let parsed =
        domain::registry::parse_csv(csv.as_bytes(), "test.csv", &[], |_| {}).expect("valid header");
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let plan = domain::registry::plan_import(db, "test.csv", parsed)
        .await
        .expect("plan");
    domain::registry::apply_plan(
        db,
        plan,
        &domain::events::Actor::System,
        chrono::Utc::now(),
        &(),
    )
    .await
    .expect("import")
}
