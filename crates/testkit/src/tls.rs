//! An HTTPS server on loopback whose certificate comes from a test CA of its own, so that a
//! test can prove what a client trusts: the server is reached through roots that hold its
//! CA, and refused through roots that do not.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::server_thread::ServerThread;

/// A certificate authority made for one test.
pub struct TestCa {
    der: CertificateDer<'static>,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn generate(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().expect("the CA's key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("the CA's parameters");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        let der = params.self_signed(&key).expect("the CA's certificate").der().clone();
        Self {
            der,
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// The CA's own certificate: what a client's roots hold to trust it.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// A server certificate for `names` (host names or IP addresses) and its PKCS#8 key.
    fn issue(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = rcgen::KeyPair::generate().expect("the server's key");
        let cert = rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("the server's parameters")
            .signed_by(&key, &self.issuer)
            .expect("the server's certificate");
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// `METHOD path?query`.
    pub request_line: String,
    pub headers: http::HeaderMap,
}

/// Answers every request with `200`, the given content type and body, until dropped, and
/// keeps what it was asked ([`TlsServer::received`]).
pub struct TlsServer {
    url: String,
    ca: TestCa,
    received: Arc<Mutex<Vec<Received>>>,
    _server: ServerThread,
}

impl TlsServer {
    pub fn start(content_type: &'static str, body: &'static str) -> Self {
        let ca = TestCa::generate("digipost-ebox test CA");
        let (cert, key) = ca.issue(&["localhost", "127.0.0.1"]);
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
                .expect("the server's TLS configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().expect("its address").port()
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&received);
        let server = ServerThread::spawn("tls-server", listener, move |stream| {
            connection(acceptor.clone(), stream, Arc::clone(&kept), content_type, body)
        });
        Self {
            url,
            ca,
            received,
            _server: server,
        }
    }

    /// The requests answered so far, in the order they arrived.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The certificate of the CA that issued the server's.
    pub fn ca(&self) -> &CertificateDer<'static> {
        self.ca.der()
    }
}

async fn connection(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    content_type: &'static str,
    body: &'static str,
) {
    // A client that does not trust the server ends the handshake; nothing to serve then.
    let Ok(tls) = acceptor.accept(stream).await else {
        return;
    };
    let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
        received.lock().unwrap().push(Received {
            request_line: format!("{} {}", request.method(), request.uri()),
            headers: request.headers().clone(),
        });
        async move {
            http::Response::builder()
                .header(http::header::CONTENT_TYPE, content_type)
                .body(Full::new(Bytes::from_static(body.as_bytes())))
        }
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
}
