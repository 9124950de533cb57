//! A man in the middle for Salesforce's answers: a real HTTP server on `127.0.0.1:0` that
//! forwards every request to sfsim and passes the answer back, rewriting sfsim's address to its
//! own (so reauth sends everything — refreshes, identity calls — through it) and re-signing token
//! answers with the client secret, so an untampered answer is exactly as valid as sfsim's own.
//! A test then switches on one [`Tamper`] at a time to make Salesforce's answers change shape
//! (a new instance domain, a signature from another secret…) while sfsim's state stays real.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One way to change Salesforce's token answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// Answers pass unchanged (but for the address).
    None,
    /// `instance_url` on a host reauth does not recognise.
    UnknownInstanceHost,
    /// A `signature` made with another secret.
    BadSignature,
    /// `issued_at` that is not a number.
    BadIssuedAt,
    /// No `access_token` (the refresh token stays).
    NoAccessToken,
    /// `id` names another org than the grant's.
    OtherOrgId,
    /// The ID token's `nonce` is replaced.
    WrongNonce,
}

struct Inner {
    upstream: String,
    own: String,
    secret: String,
    tamper: Mutex<Tamper>,
    /// Identity calls answered 503 before one is let through.
    fail_identity: Mutex<u32>,
    http: reqwest::Client,
}

/// The running proxy.
pub struct TamperProxy {
    inner: Arc<Inner>,
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TamperProxy {
    /// Starts a proxy in front of `upstream` (sfsim's base URL) for a client whose secret is
    /// `secret` (used to re-sign answers whose `id` it rewrote).
    pub async fn start(upstream: &str, secret: &str) -> Self {
        crate::install_crypto();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            own: format!("http://{addr}"),
            secret: secret.to_owned(),
            tamper: Mutex::new(Tamper::None),
            fail_identity: Mutex::new(0),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(inner.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        Self { inner, addr, task }
    }

    /// The proxy's base URL (the "login host" reauth is configured with).
    pub fn base_url(&self) -> &str {
        &self.inner.own
    }

    /// `host:port`, for `salesforce.extra_login_hosts`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    pub fn set(&self, t: Tamper) {
        *self.inner.tamper.lock().expect("lock") = t;
    }

    /// The next `n` identity calls are answered 503.
    pub fn fail_identity(&self, n: u32) {
        *self.inner.fail_identity.lock().expect("lock") = n;
    }
}

impl Drop for TamperProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(State(p): State<Arc<Inner>>, req: Request) -> Response {
    let path = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    if path.starts_with("/id/") {
        let mut left = p.fail_identity.lock().expect("lock");
        if *left > 0 {
            *left -= 1;
            return Response::builder()
                .status(503)
                .body(Body::from("unavailable"))
                .expect("response");
        }
    }
    let method = req.method().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let mut out = p
        .http
        .request(method, format!("{}{path}", p.upstream))
        .body(body.to_vec());
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            out = out.header(k, v);
        }
    }
    let Ok(resp) = out.send().await else {
        return Response::builder()
            .status(502)
            .body(Body::empty())
            .expect("response");
    };
    let status = resp.status();
    let mut builder = Response::builder().status(status);
    for (k, v) in resp.headers() {
        if k == "content-length" {
            continue;
        }
        let v = v.to_str().map(|s| s.replace(&p.upstream, &p.own));
        match v {
            Ok(v) => builder = builder.header(k, v),
            Err(_) => builder = builder.header(k, resp.headers()[k].clone()),
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes).replace(&p.upstream, &p.own);
    let text = if path.starts_with("/services/oauth2/token") && status.is_success() {
        let tamper = *p.tamper.lock().expect("lock");
        rewrite_token_answer(&p, &text, tamper)
    } else {
        text
    };
    builder.body(Body::from(text)).expect("response")
}

fn rewrite_token_answer(p: &Inner, text: &str, tamper: Tamper) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(text) else {
        return text.to_owned();
    };
    if tamper == Tamper::OtherOrgId
        && let Some(id) = v["id"].as_str()
    {
        // Same user, another org: a token table mix-up as Salesforce would report it.
        let parts: Vec<&str> = id.rsplitn(3, '/').collect();
        if let [user, _org, base] = parts.as_slice() {
            v["id"] = serde_json::json!(format!("{base}/00D9z0000001xyz/{user}"));
        }
    }
    let (Some(id), Some(issued)) = (v["id"].as_str(), v["issued_at"].as_str()) else {
        return v.to_string();
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(p.secret.as_bytes()).expect("hmac key");
    mac.update(id.as_bytes());
    mac.update(issued.as_bytes());
    v["signature"] = serde_json::json!(
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    match tamper {
        Tamper::None | Tamper::OtherOrgId => {}
        Tamper::UnknownInstanceHost => {
            v["instance_url"] = serde_json::json!("https://acme.my.salesforce-edge.example");
        }
        Tamper::BadSignature => {
            v["signature"] = serde_json::json!("c2lnbmVkIHdpdGggYW5vdGhlciBzZWNyZXQ=");
        }
        Tamper::BadIssuedAt => v["issued_at"] = serde_json::json!("yesterday"),
        Tamper::NoAccessToken => {
            if let Some(o) = v.as_object_mut() {
                o.remove("access_token");
            }
        }
        Tamper::WrongNonce => {
            if let Some(t) = v["id_token"].as_str() {
                let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
                if parts.len() == 3
                    && let Ok(raw) =
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&parts[1])
                    && let Ok(mut claims) = serde_json::from_slice::<serde_json::Value>(&raw)
                {
                    claims["nonce"] = serde_json::json!("someone-elses-nonce");
                    parts[1] =
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
                    v["id_token"] = serde_json::json!(parts.join("."));
                }
            }
        }
    }
    v.to_string()
}
