//! Benchmark: notices per second from the outbox into a local SMTP listener (the full path:
//! claim, mint and seal a link, render text and HTML, send, record), against a bare lettre send
//! loop of the same number of messages at the same concurrency in the same run.
//!
//! `cargo bench -p reauth-tests --bench notices`. Prints figures; asserts nothing.

#![expect(
    clippy::unwrap_used,
    reason = "test and benchmark code: a failed unwrap stops the run with its location"
)]

use std::time::Instant;

use domain::config::Config;
use futures::StreamExt as _;
use reauth_tests::TestDb;

const N: usize = 2000;

#[tokio::main]
async fn main() {
    reauth_tests::install_crypto();
    let db = TestDb::sqlite().await;
    let mut csv = String::from("org_id,name,admin_email\n");
    for i in 0..N {
        csv.push_str(&format!(
            "00D{:012},Org {i},admin{i}@org{i}.example\n",
            i + 1
        ));
    }
    reauth_tests::import_csv(&db.db, &csv).await;
    let now = chrono::Utc::now();
    for i in 0..N {
        let org = domain::types::OrgId::parse(&format!("00D{:012}", i + 1)).unwrap();
        domain::campaign::notices::request_fresh_link(&db.db, &org, now)
            .await
            .unwrap();
    }
    let sink = reauth_tests::smtp::SmtpSink::start().await;
    let mut config = Config::default();
    config.mail.transport = sink.url();
    config.crypto.keys = vec![domain::security::crypto::Sealer::generate_key("k1")];
    let mailer = domain::mail::Mailer::from_config(&config.mail).unwrap();
    let sealer = domain::security::crypto::Sealer::from_config(&config.crypto).unwrap();

    // Baseline: the same number of prebuilt messages through the same lettre transport.
    let t = Instant::now();
    futures::stream::iter(0..N)
        .map(|i| {
            let mailer = mailer.clone();
            async move {
                let m = domain::mail::build(
                    "A <a@example.com>",
                    &format!("x{i}@example.com"),
                    &format!("<b{i}@bench>"),
                    domain::mail::Rendered {
                        subject: "s".into(),
                        text: "t".into(),
                        html: "<p>h</p>".into(),
                    },
                )
                .unwrap();
                mailer.send(m).await.unwrap();
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let bare = N as f64 / t.elapsed().as_secs_f64();

    let sender = domain::campaign::notices::Sender {
        mailer: &mailer,
        sealer: &sealer,
        config: &config,
        owner: "bench",
    };
    let t = Instant::now();
    let mut sent = 0;
    while sent < N as u32 {
        sent += domain::campaign::notices::send_due(&db.db, &sender, now, 500)
            .await
            .unwrap()
            .sent;
    }
    let full = N as f64 / t.elapsed().as_secs_f64();
    println!("{N} messages into a local SMTP listener, 8 at a time, release build, SQLite:");
    println!("  bare lettre send loop:      {bare:>7.0} messages/s");
    println!(
        "  reauth notice sender:       {full:>7.0} notices/s (claim, link, seal, render, send, record)"
    );
    println!("  ratio sender / bare lettre: {:.2}", full / bare);
    println!(
        "  messages received by the listener: {}",
        sink.messages().len()
    );
}
