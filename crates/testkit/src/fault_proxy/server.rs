//! The proxy's thread: an HTTP/1.1 server on a current-thread runtime of its own, which
//! forwards each request to moto whole (tests send small bodies) unless a rule's fault
//! answers, holds back or drops it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::classify::{Classified, classify};
use super::{Exchange, Fault, Outcome, Shared, answer};
use crate::server_thread::ServerThread;

type Body = Full<Bytes>;

/// Headers of one connection, not of the message: never passed on.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

/// Starts the proxy's thread; it serves `listener` until the handle is dropped.
pub(super) fn spawn(listener: std::net::TcpListener, upstream_url: &str, shared: Arc<Shared>) -> ServerThread {
    let forwarder = Arc::new(Forwarder::new(upstream_base(upstream_url), shared));
    ServerThread::spawn("fault-proxy", listener, move |stream| {
        connection(stream, Arc::clone(&forwarder))
    })
}

/// `http://host:port`, checked once so that a wrong URL fails the test where it is given.
fn upstream_base(url: &str) -> String {
    let base = url.trim_end_matches('/');
    let uri: Uri = base
        .parse()
        .unwrap_or_else(|e| panic!("fault proxy upstream {url:?} is not a URL: {e}"));
    assert_eq!(
        uri.scheme_str(),
        Some("http"),
        "the fault proxy forwards plain HTTP only: {url:?}"
    );
    assert!(
        uri.path().is_empty() || uri.path() == "/",
        "the fault proxy's upstream is a server, without a path: {url:?}"
    );
    base.to_owned()
}

async fn connection(stream: TcpStream, forwarder: Arc<Forwarder>) {
    reset_on_close(&stream);
    let service = service_fn(move |request| {
        let forwarder = Arc::clone(&forwarder);
        // A task of its own, so that a request already on its way to moto is answered
        // and logged even when its client dies meanwhile (a killed process): the log
        // then holds every write moto took.
        let handled = tokio::spawn(async move { forwarder.handle(request).await });
        async move { handled.await.unwrap_or(Err(Dropped("the handler panicked"))) }
    });
    // A service error ends the connection without an answer: that is how faults drop one.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Closing the socket then sends a TCP RST instead of a FIN, the way a load balancer or a
/// crashed peer ends a connection: the client sees "connection reset", not a clean close.
#[allow(
    deprecated,
    reason = "tokio deprecates SO_LINGER as a nonzero linger blocks the thread on close; a zero linger never blocks"
)]
fn reset_on_close(stream: &TcpStream) {
    // Without it a dropped connection still ends, with a FIN; not worth failing a test for.
    let _ = stream.set_linger(Some(Duration::ZERO));
}

/// A request's whole body; at most `rate` bytes a second when one is set: each next
/// frame is read only once the bytes so far are due, and meanwhile the client's writes
/// wait, as they would on a slow service.
async fn take(mut body: Incoming, rate: Option<u64>) -> Result<Bytes, hyper::Error> {
    let Some(rate) = rate else {
        return Ok(body.collect().await?.to_bytes());
    };
    let started = tokio::time::Instant::now();
    let mut taken = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            taken.extend_from_slice(&data);
        }
        let due = Duration::from_secs_f64(taken.len() as f64 / rate as f64);
        tokio::time::sleep_until(started + due).await;
    }
    Ok(taken.freeze())
}

/// Why a connection is dropped instead of answered.
#[derive(Debug)]
struct Dropped(&'static str);

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Dropped {}

struct Forwarder {
    upstream: String,
    client: Client<HttpConnector, Body>,
    shared: Arc<Shared>,
}

impl Forwarder {
    fn new(upstream: String, shared: Arc<Shared>) -> Self {
        Self {
            upstream,
            client: Client::builder(TokioExecutor::new()).build_http(),
            shared,
        }
    }

    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Body>, Dropped> {
        let (parts, body) = request.into_parts();
        let body = take(body, self.shared.intake())
            .await
            .map_err(|_| Dropped("the request's body did not arrive"))?;
        let request = classify(
            &parts.method,
            parts.uri.path(),
            parts.uri.query(),
            &parts.headers,
            &body,
        );
        let (seq, fault) = self.shared.admit(&request.operation, &request.text);
        let record = |status, outcome| self.shared.record(exchange(seq, &request, status, outcome));
        match fault {
            None => Ok(self.pass(parts, body, Duration::ZERO, record).await),
            Some(Fault::Delay(delay)) => Ok(self.pass(parts, body, delay, record).await),
            Some(Fault::Reset) => {
                record(None, Outcome::Injected(Fault::Reset.name().to_owned()));
                Err(Dropped("reset by a fault rule"))
            }
            Some(Fault::LostAnswer) => {
                let (_, status) = self.forward(parts, body).await;
                record(status, Outcome::LostAnswer);
                Err(Dropped("answer lost by a fault rule"))
            }
            Some(fault) => {
                let answer = answer::injected(request.service, &fault, &parts.method, seq, &body)
                    .expect("every fault not handled above answers");
                record(None, Outcome::Injected(fault.name().to_owned()));
                Ok(answer)
            }
        }
    }

    /// Forwards, holds moto's answer back for `delay`, then logs and returns it.
    async fn pass(
        &self,
        parts: Parts,
        body: Bytes,
        delay: Duration,
        record: impl FnOnce(Option<u16>, Outcome),
    ) -> Response<Body> {
        let (answer, status) = self.forward(parts, body).await;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        record(status, Outcome::Forwarded);
        answer
    }

    /// moto's answer and its status; a 502 and no status when moto could not be reached.
    async fn forward(&self, parts: Parts, body: Bytes) -> (Response<Body>, Option<u16>) {
        match self.exchange(parts, body).await {
            Ok(answer) => {
                let status = answer.status().as_u16();
                (answer, Some(status))
            }
            Err(e) => {
                let mut answer = Response::new(Full::new(Bytes::from(e)));
                *answer.status_mut() = StatusCode::BAD_GATEWAY;
                (answer, None)
            }
        }
    }

    async fn exchange(&self, parts: Parts, body: Bytes) -> Result<Response<Body>, String> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = format!("{}{path}", self.upstream)
            .parse()
            .map_err(|e| format!("no upstream URL for {path}: {e}"))?;
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = parts.method;
        *request.uri_mut() = uri;
        // The client sets the upstream's Host; the body is whole already, so no 100-continue.
        *request.headers_mut() = end_to_end(parts.headers, &[header::HOST, header::EXPECT]);
        let answer = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("moto at {} did not answer: {e}", self.upstream))?;
        let (upstream, body) = answer.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("moto's answer broke off: {e}"))?
            .to_bytes();
        // Status and headers only: the version and the connection are the proxy's own.
        let mut answer = Response::new(Full::new(body));
        *answer.status_mut() = upstream.status;
        *answer.headers_mut() = end_to_end(upstream.headers, &[]);
        Ok(answer)
    }
}

fn exchange(seq: u64, request: &Classified, status: Option<u16>, outcome: Outcome) -> Exchange {
    Exchange {
        seq,
        operation: request.operation.clone(),
        target: request.target.clone(),
        items: request.items,
        status,
        outcome,
    }
}

/// The headers without the hop-by-hop ones (and `proxy-*`), nor those in `also`.
fn end_to_end(mut headers: HeaderMap, also: &[HeaderName]) -> HeaderMap {
    let proxy: Vec<HeaderName> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("proxy-"))
        .cloned()
        .collect();
    let hop_by_hop = HOP_BY_HOP.into_iter().map(HeaderName::from_static);
    for name in hop_by_hop.chain(proxy).chain(also.iter().cloned()) {
        headers.remove(name);
    }
    headers
}
