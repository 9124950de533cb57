//! A real local forward proxy for tests: `CONNECT host:port` tunnels, and absolute-form
//! `GET http://host/path` requests forwarded with an `X-Forwarded-For` the test chooses (so
//! sfsim, trusting it, sees the proxy's "static egress"). Requires `Proxy-Authorization` when
//! given credentials, and records what it saw.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone)]
pub struct ForwardProxy {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ForwardProxy {
    /// Listens on loopback; `egress` is the address it claims in `X-Forwarded-For`;
    /// `credentials` (`user:pass`) are required when given.
    pub async fn start(egress: &str, credentials: Option<&str>) -> Self {
        use base64::Engine as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let p = Self {
            addr: listener.local_addr().expect("addr"),
            seen: Arc::default(),
        };
        let seen = p.seen.clone();
        let egress = egress.to_owned();
        let auth = credentials.map(|c| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(c)
            )
        });
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (seen, egress, auth) = (seen.clone(), egress.clone(), auth.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        match client.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let mut lines = text.split("\r\n");
                    let request = lines.next().unwrap_or_default().to_owned();
                    let headers: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
                    seen.lock().expect("lock").push(request.clone());
                    if let Some(want) = &auth {
                        let ok = headers.iter().any(|h| {
                            h.split_once(':').is_some_and(|(name, v)| {
                                name.eq_ignore_ascii_case("proxy-authorization")
                                    && v.trim() == want.as_str()
                            })
                        });
                        if !ok {
                            let _ = client
                                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                    let mut parts = request.split(' ');
                    let (method, target) = (
                        parts.next().unwrap_or_default().to_owned(),
                        parts.next().unwrap_or_default().to_owned(),
                    );
                    if method == "CONNECT" {
                        let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                            return;
                        };
                        let _ = client
                            .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                            .await;
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        return;
                    }
                    let Ok(url) = url::Url::parse(&target) else {
                        return;
                    };
                    let host = format!(
                        "{}:{}",
                        url.host_str().unwrap_or_default(),
                        url.port_or_known_default().unwrap_or(80)
                    );
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(&host).await else {
                        return;
                    };
                    let path = match url.query() {
                        Some(q) => format!("{}?{q}", url.path()),
                        None => url.path().to_owned(),
                    };
                    let mut out = format!("{method} {path} HTTP/1.1\r\n");
                    for h in &headers {
                        let l = h.to_ascii_lowercase();
                        if l.starts_with("proxy-") || l.starts_with("connection:") {
                            continue;
                        }
                        out.push_str(h);
                        out.push_str("\r\n");
                    }
                    out.push_str(&format!(
                        "X-Forwarded-For: {egress}\r\nConnection: close\r\n\r\n"
                    ));
                    if upstream.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                });
            }
        });
        p
    }

    /// `http://[user:pass@]127.0.0.1:PORT`.
    pub fn url(&self, credentials: Option<&str>) -> String {
        match credentials {
            Some(c) => format!("http://{c}@{}", self.addr),
            None => format!("http://{}", self.addr),
        }
    }

    /// Request lines received (`GET http://… HTTP/1.1`, `CONNECT host:port HTTP/1.1`).
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}
