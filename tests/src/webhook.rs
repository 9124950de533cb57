//! A real HTTP listener standing in for a Slack-style incoming webhook: records every POST (its
//! headers and body) and answers 200, or 503 while told to fail.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One request the sink received.
#[derive(Debug, Clone)]
pub struct Hook {
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Hook {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Clone)]
pub struct WebhookSink {
    pub addr: SocketAddr,
    hooks: Arc<Mutex<Vec<Hook>>>,
    failing: Arc<AtomicBool>,
}

impl WebhookSink {
    /// Listens on an ephemeral loopback port.
    pub async fn start() -> Self {
        Self::start_at("127.0.0.1:0".parse().expect("addr")).await
    }

    /// Listens on `addr` (a port a test reserved while the webhook was "down").
    pub async fn start_at(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind webhook sink");
        let sink = Self {
            addr: listener.local_addr().expect("addr"),
            hooks: Arc::default(),
            failing: Arc::default(),
        };
        let s = sink.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let s = s.clone();
                async move {
                    if s.failing.load(Ordering::SeqCst) {
                        return http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    s.hooks.lock().expect("lock").push(Hook {
                        headers,
                        body: body.to_vec(),
                    });
                    http::StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        sink
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://{}/hook", self.addr)).expect("url")
    }

    /// Answer 503 (`true`) or 200 from now on.
    pub fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().expect("lock").clone()
    }
}
