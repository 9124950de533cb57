//! A real SMTP listener for tests: speaks enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT) for lettre, stores what it accepts, and can refuse chosen recipients with a permanent
//! 550 to simulate bounces.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Received {
    /// A header's value (first occurrence).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}:");
        self.data
            .lines()
            .find(|l| l.len() >= prefix.len() && l[..prefix.len()].eq_ignore_ascii_case(&prefix))
            .map(|l| l[prefix.len()..].trim().to_owned())
    }
}

/// The listener; dropped with the test's runtime.
#[derive(Clone)]
pub struct SmtpSink {
    pub addr: SocketAddr,
    messages: Arc<Mutex<Vec<Received>>>,
    refused: Arc<Mutex<HashSet<String>>>,
    deferred: Arc<Mutex<HashSet<String>>>,
}

impl SmtpSink {
    /// Starts listening on an ephemeral loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind smtp");
        let sink = Self {
            addr: listener.local_addr().expect("addr"),
            messages: Arc::default(),
            refused: Arc::default(),
            deferred: Arc::default(),
        };
        let s = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = s.session(stream).await;
                });
            }
        });
        sink
    }

    /// `smtp://127.0.0.1:PORT` for reauth's `mail.transport`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<Received> {
        self.messages.lock().expect("lock").clone()
    }

    /// Refuse this recipient with `550` from now on.
    pub fn refuse(&self, rcpt: &str) {
        self.refused
            .lock()
            .expect("lock")
            .insert(rcpt.to_ascii_lowercase());
    }

    /// Answer this recipient with a temporary `451` (until `accept`).
    pub fn defer(&self, rcpt: &str) {
        self.deferred
            .lock()
            .expect("lock")
            .insert(rcpt.to_ascii_lowercase());
    }

    /// Accept this recipient again.
    pub fn accept(&self, rcpt: &str) {
        self.deferred
            .lock()
            .expect("lock")
            .remove(&rcpt.to_ascii_lowercase());
        self.refused
            .lock()
            .expect("lock")
            .remove(&rcpt.to_ascii_lowercase());
    }

    async fn session(&self, stream: tokio::net::TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let (r, mut w) = stream.into_split();
        let mut r = BufReader::new(r);
        w.write_all(b"220 sink ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_owned();
            let upper = cmd.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-sink\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                b"250 OK\r\n"
            } else if upper.starts_with("RSET") {
                from.clear();
                to.clear();
                b"250 OK\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                from = addr(&cmd[10..]);
                b"250 OK\r\n"
            } else if upper.starts_with("RCPT TO:") {
                let rcpt = addr(&cmd[8..]);
                if self
                    .refused
                    .lock()
                    .expect("lock")
                    .contains(&rcpt.to_ascii_lowercase())
                {
                    b"550 5.1.1 no such user\r\n"
                } else if self
                    .deferred
                    .lock()
                    .expect("lock")
                    .contains(&rcpt.to_ascii_lowercase())
                {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    to.push(rcpt);
                    b"250 OK\r\n"
                }
            } else if upper == "DATA" {
                w.write_all(b"354 end with .\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    data.push_str(
                        line.strip_prefix('.')
                            .filter(|_| line.starts_with(".."))
                            .unwrap_or(&line),
                    );
                }
                self.messages.lock().expect("lock").push(Received {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 OK queued\r\n"
            } else if upper.starts_with("QUIT") {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            } else {
                b"502 not implemented\r\n"
            };
            w.write_all(reply).await?;
        }
    }
}

fn addr(s: &str) -> String {
    s.trim()
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or_default()
        .to_owned()
}
