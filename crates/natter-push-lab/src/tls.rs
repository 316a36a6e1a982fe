//! TLS for the lab: a CA and a server certificate for `127.0.0.1` and `localhost`, made at start
//! (rcgen), and the accept loop that serves the router over HTTP/2 (ALPN `h2`, as the providers)
//! or HTTP/1.1, tagging each request with its connection (APNs tracks tokens per connection).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::ConnectionId;

pub(crate) struct Certs {
    pub ca_pem: String,
    pub server: Arc<ServerConfig>,
}

pub(crate) fn certs() -> Result<Certs, String> {
    let error = |err: rcgen::Error| err.to_string();
    let ca_key = KeyPair::generate().map_err(error)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(error)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "natter push lab CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(error)?;
    let issuer = Issuer::from_params(&ca, &ca_key);
    let leaf_key = KeyPair::generate().map_err(error)?;
    let mut leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .map_err(error)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "natter push lab");
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(error)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(leaf_cert.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .map_err(|err| err.to_string())?;
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Certs {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    })
}

/// Serves `router` on every connection until the task is aborted (which ends the connections).
pub(crate) async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    connections_made: Arc<AtomicU64>,
) {
    let acceptor = TlsAcceptor::from(config);
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                next_id += 1;
                connections_made.store(next_id, Ordering::Relaxed);
                let id = ConnectionId(next_id);
                let acceptor = acceptor.clone();
                let router = router.clone();
                connections.spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else { return };
                    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                        request.extensions_mut().insert(id);
                        router.clone().oneshot(request)
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
