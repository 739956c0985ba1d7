//! An HTTPS server on loopback whose certificate comes from a test CA of its own, so that a
//! test can prove what a client trusts: the server is reached through roots that hold its
//! CA, and refused through roots that do not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::sync::oneshot;

/// Answers every request with `200`, the given content type and body, until dropped.
pub struct TlsServer {
    addr: SocketAddr,
    ca: CertificateDer<'static>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    pub fn start(content_type: &'static str, body: &'static str) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("the CA's key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("the CA's parameters");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "digipost-ebox test CA");
        let ca = ca_params.self_signed(&ca_key).expect("the CA's certificate");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("the server's key");
        let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("the server's parameters")
            .signed_by(&key, &issuer)
            .expect("the server's certificate");
        let config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(
                    vec![leaf.der().clone()],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
                )
                .expect("the server's TLS configuration");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        listener.set_nonblocking(true).expect("non-blocking");
        let (stop, mut stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("tls-server".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the TLS server's runtime");
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).expect("the listener");
                    loop {
                        tokio::select! {
                            _ = &mut stopped => return,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    tokio::spawn(connection(acceptor.clone(), stream, content_type, body));
                                }
                            }
                        }
                    }
                });
            })
            .expect("start the TLS server's thread");
        Self {
            addr,
            ca: ca.der().clone(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    /// The certificate of the CA that issued the server's.
    pub fn ca(&self) -> &CertificateDer<'static> {
        &self.ca
    }
}

async fn connection(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: tokio::net::TcpStream,
    content_type: &'static str,
    body: &'static str,
) {
    // A client that does not trust the server ends the handshake; nothing to serve then.
    let Ok(tls) = acceptor.accept(stream).await else {
        return;
    };
    let service = service_fn(move |_request| async move {
        http::Response::builder()
            .header(http::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from_static(body.as_bytes())))
    });
    let _ = http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
