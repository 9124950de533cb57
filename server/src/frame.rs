//! What every request passes through, applied once around the whole router rather than to each
//! route: the request id, the request's span, error pages (`error::render`), the security
//! headers and the `x-request-id` of the answer.
//!
//! `Router::layer` wraps every route separately, and axum boxes and clones each layer's service
//! for every request (and `middleware::from_fn` boxes its future too). Here the cross-cutting
//! work is one hand-written service whose future is not boxed; inside the router, one small
//! layer ([`RecordRouteLayer`]) only names the matched route in the span, which must happen
//! after routing since the router is what finds it.
//!
//! Outermost first: the time-out (30 s → a bare 408, as before), the client address, this
//! frame (request id, span, then on the way out: error page, security headers, request id
//! header), the router.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::Response;
use axum::serve::IncomingStream;
use http::{HeaderName, HeaderValue, Method};
use tower::{Layer, Service};
use tracing::Instrument as _;
use tracing::instrument::Instrumented;

use crate::AppState;
use crate::error::Kind;

/// The request id's header: kept if the caller sent one, made (a v4 UUID) if not, and echoed on
/// the answer.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The frame around a service (the router).
#[derive(Clone)]
pub(crate) struct Frame<S> {
    inner: S,
    state: AppState,
}

impl<S> Frame<S> {
    pub(crate) fn new(inner: S, state: AppState) -> Self {
        Self { inner, state }
    }
}

impl<S> Service<Request> for Frame<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FrameFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let kind = Kind::of(req.uri().path());
        let request_id = if let Some(id) = req.headers().get(&REQUEST_ID) {
            id.clone()
        } else {
            let id = new_request_id();
            req.headers_mut().insert(REQUEST_ID, id.clone());
            id
        };
        let span = request_span(req.method(), &request_id);
        let inner = {
            let _in = span.enter();
            tracing::debug!("started processing request");
            self.inner.call(req)
        };
        FrameFuture {
            inner: inner.instrument(span),
            finish: Some(Finish {
                state: self.state.clone(),
                kind,
                request_id,
                started: Instant::now(),
            }),
        }
    }
}

/// A v4 UUID as a header value, formatted without an intermediate `String`.
fn new_request_id() -> HeaderValue {
    let mut buf = uuid::Uuid::encode_buffer();
    let id = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
    HeaderValue::from_str(id).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The span of one request: method, matched route (recorded by [`RecordRoute`] once the router
/// has found it) and request id — nothing from the URI itself: paths carry link secrets
/// (`/r/{secret}`) and the callback's query carries the authorization code — and the org, once
/// a handler knows it.
fn request_span(method: &Method, request_id: &HeaderValue) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %method,
        route = tracing::field::Empty,
        request_id = request_id.to_str().unwrap_or_default(),
        org_id = tracing::field::Empty
    )
}

/// What the frame does to the answer.
struct Finish {
    state: AppState,
    kind: Kind,
    request_id: HeaderValue,
    started: Instant,
}

/// The frame's future: the router's, in the request's span, then the answer finished.
pub(crate) struct FrameFuture<F> {
    inner: Instrumented<F>,
    /// Taken when the answer is ready.
    finish: Option<Finish>,
}

impl<F> Future for FrameFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Ok(res) = ready!(Pin::new(&mut this.inner).poll(cx));
        // Polled again after it answered: there is nothing left to give.
        let Some(f) = this.finish.take() else {
            return Poll::Pending;
        };
        let _in = this.inner.span().enter();
        let mut res = crate::error::render(
            &f.state,
            f.kind,
            f.request_id.to_str().unwrap_or_default(),
            res,
        );
        let h = res.headers_mut();
        f.state.security_headers.apply(h);
        if !h.contains_key(&REQUEST_ID) {
            h.insert(REQUEST_ID, f.request_id);
        }
        tracing::debug!(
            latency = %format_args!("{} ms", f.started.elapsed().as_millis()),
            status = res.status().as_u16(),
            "finished processing request"
        );
        Poll::Ready(Ok(res))
    }
}

/// Names the matched route (`MatchedPath`, set by the router) in the request's span, or
/// `(unmatched)` for the fallback. Applied with `Router::layer`, so it runs after routing.
#[derive(Clone, Copy)]
pub(crate) struct RecordRouteLayer;

impl<S> Layer<S> for RecordRouteLayer {
    type Service = RecordRoute<S>;

    fn layer(&self, inner: S) -> RecordRoute<S> {
        RecordRoute(inner)
    }
}

/// See [`RecordRouteLayer`].
#[derive(Clone)]
pub(crate) struct RecordRoute<S>(S);

impl<S: Service<Request>> Service<Request> for RecordRoute<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> S::Future {
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("(unmatched)", MatchedPath::as_str);
        tracing::Span::current().record("route", route);
        self.0.call(req)
    }
}

/// Makes the service for each accepted connection, with the client's address
/// (`ConnectInfo<SocketAddr>`, as axum's `into_make_service_with_connect_info` gives it).
#[derive(Clone)]
pub(crate) struct MakeApp<S>(pub S);

impl<S: Clone> Service<IncomingStream<'_, tokio::net::TcpListener>> for MakeApp<S> {
    type Response = WithPeer<S>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<WithPeer<S>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, stream: IncomingStream<'_, tokio::net::TcpListener>) -> Self::Future {
        std::future::ready(Ok(WithPeer {
            inner: self.0.clone(),
            peer: ConnectInfo(*stream.remote_addr()),
        }))
    }
}

/// A connection's service: the client's address in every request's extensions.
#[derive(Clone)]
pub(crate) struct WithPeer<S> {
    inner: S,
    peer: ConnectInfo<SocketAddr>,
}

impl<S: Service<Request>> Service<Request> for WithPeer<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> S::Future {
        req.extensions_mut().insert(self.peer);
        self.inner.call(req)
    }
}
