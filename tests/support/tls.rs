//! TLS for the tests of export over `https://`: a private certificate authority, the certificates
//! it signs (written as PEM files, as a user would hand them to a service), and a TLS front that
//! terminates TLS for the collector, as a proxy before a real collector would. It offers `h2` and
//! `http/1.1`, so gRPC and OTLP/HTTP both pass through, and counts the handshakes it completed and
//! the client certificates it was shown.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        self, RootCertStore, ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
        server::WebPkiClientVerifier,
    },
};

/// A certificate authority and the server and client certificates it signed, as PEM files: made
/// by the test in a temporary directory, or by scripts/k8s-secrets.sh.
pub struct Authority {
    certificate: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    _dir: Option<tempfile::TempDir>,
}

impl Authority {
    /// A new authority; `name` tells its files apart from another authority's in messages.
    pub fn new(name: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tls-{name}-"))
            .tempdir()
            .expect("a directory for certificates");
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test authority"));
        let ca_key = KeyPair::generate().unwrap();
        let ca_certificate = ca.self_signed(&ca_key).unwrap();
        write_pem(
            &dir.path().join("ca.pem"),
            "CERTIFICATE",
            ca_certificate.der(),
        );
        let issuer = Issuer::new(ca, ca_key);
        for (leaf, names, purpose) in [
            (
                "server",
                vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["blog-service".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![purpose];
            let key = KeyPair::generate().unwrap();
            let certificate = params.signed_by(&key, &issuer).unwrap();
            let file = |extension: &str| dir.path().join(format!("{leaf}.{extension}"));
            write_pem(&file("pem"), "CERTIFICATE", certificate.der());
            write_pem(&file("key"), "PRIVATE KEY", &key.serialize_der());
        }
        let path = |name: &str| dir.path().join(name);
        Self {
            certificate: path("ca.pem"),
            server: (path("server.pem"), path("server.key")),
            client: (path("client.pem"), path("client.key")),
            _dir: Some(dir),
        }
    }

    /// What scripts/k8s-secrets.sh wrote into `secrets`: its authority and the collector
    /// gateway's certificate (it makes no client certificate).
    pub fn from_secrets_script(secrets: &Path) -> Self {
        let path = |name: &str| secrets.join(name);
        Self {
            certificate: path("otel-ca.pem"),
            server: (path("otel-gateway.pem"), path("otel-gateway-key.pem")),
            client: (path("no-client.pem"), path("no-client.key")),
            _dir: None,
        }
    }

    /// The authority's certificate: the value of `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    pub fn certificate(&self) -> PathBuf {
        self.certificate.clone()
    }

    /// The client certificate it signed: `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`.
    pub fn client_certificate(&self) -> PathBuf {
        self.client.0.clone()
    }

    /// The client certificate's key: `OTEL_EXPORTER_OTLP_CLIENT_KEY`.
    pub fn client_key(&self) -> PathBuf {
        self.client.1.clone()
    }

    fn server_config(&self, require_client_certificate: bool) -> ServerConfig {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_certificate {
            let mut roots = RootCertStore::empty();
            roots.add(read_certificate(&self.certificate())).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(
                vec![read_certificate(&self.server.0)],
                PrivateKeyDer::from_pem_file(&self.server.1).unwrap(),
            )
            .unwrap();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

/// A PEM file of one block, with the workspace's `pem` (rcgen's own would be a second version).
fn write_pem(path: &Path, label: &str, der: &[u8]) {
    std::fs::write(path, pem::encode(&pem::Pem::new(label, der.to_vec()))).unwrap();
}

fn read_certificate(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

/// Terminates TLS on a loopback port and passes the plain bytes on to `backend`.
pub struct TlsFront {
    address: SocketAddr,
    handshakes: Arc<AtomicU64>,
    client_certificates: Arc<AtomicU64>,
    _task: tokio::task::JoinHandle<()>,
}

impl TlsFront {
    /// A front with `authority`'s server certificate; with `require_client_certificate`, it
    /// refuses a client that shows none signed by the same authority (mutual TLS).
    pub async fn start(
        backend: SocketAddr,
        authority: &Authority,
        require_client_certificate: bool,
    ) -> Self {
        let acceptor = TlsAcceptor::from(Arc::new(
            authority.server_config(require_client_certificate),
        ));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let address = listener.local_addr().unwrap();
        let handshakes = Arc::new(AtomicU64::new(0));
        let client_certificates = Arc::new(AtomicU64::new(0));
        let counts = (handshakes.clone(), client_certificates.clone());
        let task = tokio::spawn(async move {
            while let Ok((incoming, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let (handshakes, client_certificates) = counts.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(incoming).await else {
                        return;
                    };
                    handshakes.fetch_add(1, Ordering::Relaxed);
                    if tls.get_ref().1.peer_certificates().is_some() {
                        client_certificates.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                    }
                });
            }
        });
        Self {
            address,
            handshakes,
            client_certificates,
            _task: task,
        }
    }

    /// The front's address as an `https://` endpoint.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.address)
    }

    /// How many TLS handshakes completed.
    pub fn handshakes(&self) -> u64 {
        self.handshakes.load(Ordering::Relaxed)
    }

    /// How many of those showed a client certificate.
    pub fn client_certificates(&self) -> u64 {
        self.client_certificates.load(Ordering::Relaxed)
    }
}
