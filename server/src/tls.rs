//! TLS: load a PEM certificate chain and key into a rustls (ring) server configuration ([`Certificates`]:
//! reloaded when the files change, `--tls-reload-secs`), and [`TlsListener`], an axum listener that
//! completes TLS handshakes off the accept loop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::server::TlsStream;

use crate::error::{Error, Result};

/// Longest a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Read and check a certificate chain (PEM, leaf first) and its key (PEM, PKCS#8, PKCS#1 or SEC1).
fn load(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())));
    let cert_pem = read(cert)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Config(format!("{}: not a PEM certificate chain: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("{}: no certificate found", cert.display())));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?)
        .map_err(|e| Error::Config(format!("{}: not a PEM private key: {e}", key.display())))?;
    let certified = CertifiedKey::from_der(certs, key_der, &rustls::crypto::ring::default_provider())
        .map_err(|e| Error::Config(format!("TLS certificate and key do not fit together: {e}")))?;
    Ok(Arc::new(certified))
}

/// A rustls acceptor for `cert` and `key`, and the [`Certificates`] it serves (which can reload them).
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<(TlsAcceptor, Arc<Certificates>)> {
    let certs = Arc::new(Certificates::load(cert, key)?);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(certs.clone());
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), certs))
}

/// When a file was last changed, and its length (a renewal tool may keep the modification time).
type Stamp = Option<(std::time::SystemTime, u64)>;

fn stamp(p: &Path) -> Stamp {
    std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))
}

/// The certificate the relay serves, replaced when its files change: a renewed certificate (e.g. by an
/// ACME client every 60 days) is served to new connections without a restart; open connections keep theirs.
pub(crate) struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, Stamp, Stamp)>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates").field("cert_path", &self.cert_path).finish()
    }
}

impl Certificates {
    fn load(cert: &Path, key: &Path) -> Result<Self> {
        let (cs, ks) = (stamp(cert), stamp(key));
        let certified = load(cert, key)?;
        Ok(Certificates {
            cert_path: cert.to_path_buf(),
            key_path: key.to_path_buf(),
            current: RwLock::new((certified, cs, ks)),
        })
    }

    /// Reload when either file changed since the last load. A pair that does not load (a renewal caught
    /// between writing the certificate and the key, a bad file) keeps the current certificate and is
    /// tried again next time. Returns whether a new certificate is now served.
    pub(crate) fn reload_if_changed(&self) -> bool {
        let (cs, ks) = (stamp(&self.cert_path), stamp(&self.key_path));
        {
            let cur = self.current.read().unwrap_or_else(|e| e.into_inner());
            if cur.1 == cs && cur.2 == ks {
                return false;
            }
        }
        match load(&self.cert_path, &self.key_path) {
            Ok(certified) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = (certified, cs, ks);
                tracing::info!("TLS certificate reloaded");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "TLS certificate changed but does not load; still serving the previous one");
                false
            }
        }
    }

    /// Check the files every `every`, forever (the relay aborts the task at shutdown).
    pub(crate) async fn reload_periodically(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let me = self.clone();
            let _ = tokio::task::spawn_blocking(move || me.reload_if_changed()).await;
        }
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).0.clone())
    }
}

/// Accepts TCP connections and hands out those that completed a TLS handshake. Handshakes run in their own
/// tasks (with a timeout), so a slow client never holds up the others.
pub(crate) struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Serve TLS on `tcp`.
    pub(crate) fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = tokio::select! {
                    _ = tx.closed() => return,
                    accepted = tcp.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
