//! The README's quick start, as a newcomer follows it: the commands are read from the README's
//! marked blocks and run in order with the real binary in an empty directory — `reauth demo` in
//! the background, then the commands that follow it, then the first session with the registry.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reauth_tests::{http_client, reauth_bin, run_reauth};
use scraper::{Html, Selector};

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The commands of the README's ```sh block after `<!-- quick-start: NAME -->`, each split into
/// words, with `# comments` dropped.
fn block(readme: &str, name: &str) -> Vec<Vec<String>> {
    let marker = format!("<!-- quick-start: {name} -->");
    let after = readme
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README has no `{marker}`"))
        .1;
    let body = after
        .trim_start()
        .strip_prefix("```sh\n")
        .unwrap_or_else(|| panic!("`{marker}` is not followed by a ```sh block"));
    let body = &body[..body.find("```").expect("the block ends")];
    body.lines()
        .map(|l| l.split(" #").next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            assert!(
                !l.contains(['\'', '"', '$', '|', '>']),
                "the test runs plain commands only: {l}"
            );
            l.split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

/// `reauth demo` running in the background in `dir`, and what its banner said.
struct Demo {
    child: Child,
    banner: Vec<String>,
    base_url: String,
}

impl Demo {
    /// Starts `args` (the README's `reauth demo` line) on free ports and waits for the banner.
    fn start(dir: &Path, args: &[String]) -> Self {
        assert_eq!(args[0], "reauth");
        let stderr = std::fs::File::create(dir.join("demo.log")).unwrap();
        let mut child = Command::new(reauth_bin())
            .current_dir(dir)
            .args(&args[1..])
            .args(["--bind", "127.0.0.1:0", "--sim-bind", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(90)) {
                Ok(line) => {
                    let last = line.starts_with("Ctrl-C stops the demo");
                    banner.push(line);
                    if last {
                        break;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(dir.join("demo.log")).unwrap_or_default();
                    panic!(
                        "no banner from the demo ({e}):\n{}\n{log}",
                        banner.join("\n")
                    );
                }
            }
        }
        let base_url = banner
            .iter()
            .filter_map(|l| l.trim().strip_prefix("reauth "))
            .filter_map(|rest| rest.split_whitespace().next())
            .find(|url| url.starts_with("http://"))
            .expect("the banner names reauth's URL")
            .to_owned();
        Self {
            child,
            banner,
            base_url,
        }
    }

    /// The link printed for the org whose banner line starts with `name`.
    fn link(&self, name: &str) -> String {
        self.banner
            .iter()
            // Names are padded: "Acme Corp  …" is not "Acme Corp (UAT sandbox) …".
            .find(|l| l.trim_start().starts_with(&format!("{name}  ")))
            .and_then(|l| l.split_whitespace().last())
            .filter(|u| u.starts_with(&format!("{}/r/", self.base_url)))
            .unwrap_or_else(|| panic!("no link for {name} in:\n{}", self.banner.join("\n")))
            .to_owned()
    }

    /// The variables of the `export …` line the banner gives for other directories.
    fn export(&self) -> Vec<(String, String)> {
        let line = self
            .banner
            .iter()
            .find_map(|l| l.trim().strip_prefix("export "))
            .expect("the banner has an export line");
        line.split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                (k.to_owned(), v.trim_matches('\'').to_owned())
            })
            .collect()
    }

    /// Stops it as Ctrl-C would and returns whether it exited cleanly.
    fn stop(mut self) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        self.child.wait().unwrap().success()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // Only when a test failed half-way: `stop` has waited for it otherwise.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn words(args: &[String]) -> Vec<&str> {
    args.iter().skip(1).map(String::as_str).collect()
}

fn org_ids(stdout: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| o["org_id"].as_str().unwrap().to_owned())
        .collect()
}

const DEMO_ORGS: [&str; 4] = [
    "00D5g000004DeMoEAK",
    "00D5g000004DeMsEAK",
    "00D5g000007GlBxEAK",
    "00D5g000009InTcEAK",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_quick_start_runs_in_order_in_an_empty_directory() {
    let readme = readme();
    let demo_cmd = block(&readme, "demo");
    let after = block(&readme, "after the demo");
    let registry = block(&readme, "registry");
    assert_eq!(demo_cmd, [["reauth", "demo"]]);
    assert!(
        after
            .iter()
            .any(|c| c.starts_with(&["reauth".into(), "links".into()])),
        "{after:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &demo_cmd[0]);

    // The commands after the demo, as the README gives them, in its directory.
    for cmd in &after {
        assert_eq!(cmd[0], "reauth", "{cmd:?}");
        let (code, out, err) = run_reauth(dir.path(), &words(cmd), &[]);
        assert_eq!(code, 0, "`{}` failed:\n{out}\n{err}", cmd.join(" "));
        if cmd.starts_with(&["reauth".into(), "links".into(), "create".into()]) {
            // The new link works in the running demo: its landing page names the org.
            let url = out.lines().last().unwrap().to_owned();
            assert!(url.starts_with(&format!("{}/r/", demo.base_url)), "{url}");
            let page = http_client().get(&url).send().await.unwrap();
            assert_eq!(page.status(), 200);
            let doc = Html::parse_document(&page.text().await.unwrap());
            let name = doc
                .select(&Selector::parse("#org-name").unwrap())
                .next()
                .map(|e| e.text().collect::<String>());
            assert_eq!(name.as_deref(), Some("Globex"));
        }
    }
    let (_, out, _) = run_reauth(dir.path(), &["orgs", "list", "--format", "json"], &[]);
    assert_eq!(org_ids(&out), DEMO_ORGS, "the commands see the demo's orgs");

    // The hint for other directories works too.
    let elsewhere = tempfile::tempdir().unwrap();
    let env = demo.export();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (code, out, err) = run_reauth(
        elsewhere.path(),
        &["orgs", "list", "--format", "json"],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(org_ids(&out), DEMO_ORGS);
    let (code, out, err) = run_reauth(
        elsewhere.path(),
        &["links", "create", "00D5g000004DeMo"],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.trim().starts_with(&format!("{}/r/", demo.base_url)),
        "{out}"
    );
    assert!(
        !elsewhere.path().join("reauth.db").exists(),
        "no database was made on the spot"
    );

    assert!(demo.stop(), "the demo stops cleanly on Ctrl-C");
    assert!(
        !dir.path().join("reauth.toml").exists(),
        "the demo removes the reauth.toml it wrote"
    );

    // The first session with the registry, in the same directory after the demo.
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/orgs.csv"),
        dir.path().join("examples/orgs.csv"),
    )
    .unwrap();
    for cmd in &registry {
        assert_eq!(cmd[0], "reauth", "{cmd:?}");
        let (code, out, err) = run_reauth(dir.path(), &words(cmd), &[]);
        assert_eq!(code, 0, "`{}` failed:\n{out}\n{err}", cmd.join(" "));
        if cmd.starts_with(&["reauth".into(), "orgs".into(), "import".into()]) {
            assert!(
                out.starts_with("imported examples/orgs.csv: created 3, updated 0, unchanged 0"),
                "{out}"
            );
        }
    }
    let (_, out, _) = run_reauth(dir.path(), &["orgs", "list", "--format", "json"], &[]);
    assert_eq!(
        org_ids(&out),
        [
            "00D4c0000008cs2EAA",
            "00D5e000000AbCdEAK",
            "00D6f000000XyZaEAK"
        ]
    );
}

/// Landing page → Continue → the simulator's login and consent pages as `username` → the page
/// reauth shows at the end; returns its title.
async fn consent(link: &str, username: &str) -> String {
    let browser = http_client();
    let landing = browser
        .get(link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = attr(&landing, "input[name=csrf]", "value");
    let started = browser
        .post(format!("{link}/start"))
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 303);
    let authorize = location(&started);
    let sim_base = url::Url::parse(&authorize)
        .unwrap()
        .origin()
        .ascii_serialization();
    let login_page = browser
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let txn = attr(&login_page, "input[name=txn]", "value");
    let consent_page = browser
        .post(format!("{sim_base}/services/oauth2/authorize/login"))
        .form(&[
            ("txn", txn.as_str()),
            ("username", username),
            ("password", "password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(consent_page.status(), 200);
    let allowed = browser
        .post(format!("{sim_base}/services/oauth2/authorize/consent"))
        .form(&[("txn", txn.as_str()), ("decision", "allow")])
        .send()
        .await
        .unwrap();
    let done = browser
        .get(location(&allowed))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = Html::parse_document(&done);
    doc.select(&Selector::parse("h1#title").unwrap())
        .next()
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .unwrap_or_else(|| panic!("no title in:\n{done}"))
}

fn attr(html: &str, css: &str, name: &str) -> String {
    Html::parse_document(html)
        .select(&Selector::parse(css).unwrap())
        .next()
        .and_then(|e| e.value().attr(name))
        .unwrap_or_else(|| panic!("no {css} in:\n{html}"))
        .to_owned()
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_wrong_org_check_works_after_every_other_org_consented() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &["reauth".to_owned(), "demo".to_owned()]);
    // The admins consent first, with their own links…
    for (org, admin) in [
        ("Acme Corp", "admin@acme.example"),
        ("Globex", "it@globex.example"),
    ] {
        let title = consent(&demo.link(org), admin).await;
        assert!(title.ends_with("is connected"), "{org}: {title}");
    }
    // …and Initech's link, signed into with one of them, still shows the wrong-org check.
    let title = consent(&demo.link("Initech"), "admin@acme.example").await;
    assert_eq!(title, "That was a different Salesforce org");
    let (_, out, _) = run_reauth(
        dir.path(),
        &[
            "events",
            "list",
            "--org",
            "00D5g000009InTc",
            "--format",
            "json",
        ],
        &[],
    );
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "consent.wrong_org"),
        "{out}"
    );
    assert!(demo.stop());
}
