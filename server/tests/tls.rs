//! TLS: with a certificate and key the relay serves `https://` and `wss://` (rustls), nothing in clear.

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use casebook_core::relay_api::Me;
use common::{Http, TestRelay, send_request};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn connector() -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_stream(relay: &TestRelay) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(relay.addr()).await.unwrap();
    connector().connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap()
}

#[tokio::test]
async fn serves_https_and_wss_with_a_certificate() {
    let relay = TestRelay::start_with(|c| {
        c.tls_cert = Some(fixture("cert.pem"));
        c.tls_key = Some(fixture("key.pem"));
    })
    .await;
    assert!(relay.handle.url().starts_with("wss://"));
    assert!(relay.handle.http_url().starts_with("https://"));
    let host = relay.addr().to_string();

    let r = send_request(tls_stream(&relay).await, &host, "GET", "/healthz", None, None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    let body = br#"{"display_name":"Ana"}"#;
    let r =
        send_request(tls_stream(&relay).await, &host, "POST", "/v1/accounts", None, Some(("application/json", body)))
            .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let creds: casebook_core::relay_api::DeviceCredentials = r.json();
    let me: Me = send_request(tls_stream(&relay).await, &host, "GET", "/v1/me", Some(&creds.token), None).await.json();
    assert_eq!(me.display_name, "Ana");

    let mut request = format!("wss://localhost:{}/v1/sync", relay.addr().port()).into_client_request().unwrap();
    request.headers_mut().insert("Authorization", format!("Bearer {}", creds.token).parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::client_async(request, tls_stream(&relay).await).await.unwrap();
    assert_eq!(response.status().as_u16(), 101);
    ws.close(None).await.unwrap();

    // Plain HTTP on the TLS port gets no answer.
    let plain = tokio::time::timeout(common::TIMEOUT, async {
        let mut s = Http::new(relay.addr()).connect().await;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf).await;
        buf
    })
    .await
    .unwrap();
    assert!(!String::from_utf8_lossy(&plain).contains("200 OK"));
    relay.handle.shutdown().await;
}

#[tokio::test]
async fn a_bad_certificate_path_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = casebook_server::Config {
        tls_cert: Some(fixture("missing.pem")),
        tls_key: Some(fixture("key.pem")),
        ..casebook_server::Config::for_tests(dir.path())
    };
    let err = casebook_server::Relay::start(config).await.unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");
    let config = casebook_server::Config {
        tls_cert: Some(fixture("key.pem")),
        tls_key: Some(fixture("key.pem")),
        ..casebook_server::Config::for_tests(dir.path())
    };
    assert!(casebook_server::Relay::start(config).await.is_err());
}

/// Accepts any server certificate and records the leaf it was shown (to see which certificate is served).
#[derive(Debug)]
struct Recorder {
    seen: std::sync::Mutex<Vec<Vec<u8>>>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        self.seen.lock().unwrap().push(end_entity.to_vec());
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TLS connection to `addr` that accepts whatever certificate it is shown, and the recorder of it.
async fn connect_any(addr: std::net::SocketAddr) -> (tokio_rustls::client::TlsStream<TcpStream>, Arc<Recorder>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let recorder = Arc::new(Recorder { seen: Default::default(), provider: provider.clone() });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls =
        TlsConnector::from(Arc::new(config)).connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
    (tls, recorder)
}

/// The leaf certificate the relay at `addr` presents now.
async fn served_leaf(addr: std::net::SocketAddr) -> Vec<u8> {
    let (_tls, recorder) = connect_any(addr).await;
    recorder.seen.lock().unwrap().pop().expect("a certificate was shown")
}

fn leaf_of(pem: &std::path::Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(pem).unwrap().next().unwrap().unwrap().to_vec()
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_restart() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    std::fs::copy(fixture("cert.pem"), &cert).unwrap();
    std::fs::copy(fixture("key.pem"), &key).unwrap();
    let relay = TestRelay::start_with(|c| {
        c.tls_cert = Some(cert.clone());
        c.tls_key = Some(key.clone());
        c.tls_reload_secs = 1;
    })
    .await;
    assert_eq!(served_leaf(relay.addr()).await, leaf_of(&fixture("cert.pem")));

    // A renewal caught half-way (new certificate, old key) keeps serving the old pair.
    std::fs::copy(fixture("renewed-cert.pem"), &cert).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(served_leaf(relay.addr()).await, leaf_of(&fixture("cert.pem")));

    // Once the key is there too, new connections get the renewed certificate.
    std::fs::copy(fixture("renewed-key.pem"), &key).unwrap();
    let renewed = leaf_of(&fixture("renewed-cert.pem"));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while served_leaf(relay.addr()).await != renewed {
        assert!(std::time::Instant::now() < deadline, "the renewed certificate was not served within 10 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r =
        send_request(connect_any(relay.addr()).await.0, &relay.addr().to_string(), "GET", "/healthz", None, None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    relay.handle.shutdown().await;
}
