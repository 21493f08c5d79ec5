//! [`RelayDialer`]: samod's [`Dialer`] for the relay — a WebSocket to `<relay>/v1/sync` (`ws://` or
//! `wss://` with rustls and the webpki roots) that sends the device token as `Authorization: Bearer`.
//!
//! samod calls [`Dialer::connect`] on the first dial and on every reconnection, after an exponential
//! backoff with jitter (delay × random 0.5–1.0, capped; see `BackoffConfig`). A refused token (HTTP 401
//! at the upgrade) is a permanent failure: samod stops redialing. Everything else (no network, relay
//! down, 5xx, 429, timeout) is transient.
//!
//! The transport pings the relay every [`PING_EVERY`] so that an idle connection is not closed by the
//! relay's idle timeout, and gives up on a connection that has been silent for [`SILENT_FOR`] (a
//! half-open TCP connection after a network change).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{SinkExt, StreamExt};
use samod::{DialError, Dialer, PeerId, Transport, Url};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

use super::error::SyncError;
use super::relay_client::api_error;
use crate::storage::Storage;

/// Time allowed for TCP, TLS and the WebSocket upgrade.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Interval of keep-alive pings (well inside the relay's 120 s idle timeout).
pub(crate) const PING_EVERY: Duration = Duration::from_secs(10);
/// A connection from which nothing (not even a pong) arrived for this long is considered dead: two pings
/// unanswered, plus slack for a slow radio. Hospital Wi-Fi that connects and then says nothing shows as
/// "connecting" within this time instead of a minute, and the redial starts.
pub(crate) const SILENT_FOR: Duration = Duration::from_secs(25);
/// Largest sync message accepted from the relay (the first sync of a large case can be big).
const MAX_MESSAGE: usize = 256 << 20;
/// The WebSocket read buffer: one read from the socket at most (tungstenite's default is 128 KiB).
const READ_BUFFER: usize = 16 * 1024;

/// What the dialer reports about each attempt (drives the Offline / Connecting states).
#[derive(Debug, Clone)]
pub(crate) enum DialProgress {
    /// An attempt started.
    Attempting,
    /// It failed; samod retries after a backoff.
    Failed,
    /// It was refused for good.
    Refused(SyncError),
    /// The WebSocket is open (the samod handshake follows).
    Open,
}

/// Dials the relay's sync endpoint with a device token.
pub(crate) struct RelayDialer {
    /// `ws(s)://…/v1/sync`.
    url: Url,
    /// `Bearer <token>`, ready to send.
    authorization: HeaderValue,
    /// TLS client configuration (ring provider, webpki roots).
    tls: Arc<rustls::ClientConfig>,
    /// The relay's samod peer id, if known: the handshake must then claim it.
    relay_peer: Option<PeerId>,
    /// Told about every attempt.
    progress: Arc<dyn Fn(DialProgress) + Send + Sync>,
    /// This device's storage: requests for documents it does not hold are held back
    /// ([`crate::bridge::hold_back_from_relay`]).
    storage: Arc<dyn Storage>,
    /// Shown every message from the relay that samod is given (presence reads ephemeral messages here,
    /// where their sender is known: samod's `DocHandle::ephemera` gives the payload only).
    tap: Option<InboundTap>,
}

/// A look at each inbound message before samod gets it; must be quick and never block.
pub(crate) type InboundTap = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// The TLS configuration of the sync client: rustls with the ring provider and Mozilla's roots (webpki),
/// independent of any process-wide default provider.
pub(crate) fn tls_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

impl RelayDialer {
    /// A dialer of `url` (`ws://` or `wss://`) sending `token`.
    pub(crate) fn new(
        url: Url,
        token: &str,
        relay_peer: Option<PeerId>,
        progress: Arc<dyn Fn(DialProgress) + Send + Sync>,
        storage: Arc<dyn Storage>,
    ) -> Result<Self, SyncError> {
        let authorization = HeaderValue::from_str(&format!("Bearer {}", token.trim())).map_err(|_| {
            SyncError::InvalidInput { reason: "the device token contains characters a header cannot carry".into() }
        })?;
        Ok(Self { url, authorization, tls: tls_config(), relay_peer, progress, storage, tap: None })
    }

    /// Show every inbound message to `tap` too (before samod handles it).
    pub(crate) fn with_tap(mut self, tap: InboundTap) -> Self {
        self.tap = Some(tap);
        self
    }
}

/// A WebSocket-level failure, as samod's transport error.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct WsError(String);

impl Dialer for RelayDialer {
    type Error = SyncError;

    fn url(&self) -> Url {
        self.url.clone()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<SyncError>>> {
        let url = self.url.clone();
        let authorization = self.authorization.clone();
        let tls = self.tls.clone();
        let relay_peer = self.relay_peer.clone();
        let progress = self.progress.clone();
        let storage = self.storage.clone();
        let tap = self.tap.clone();
        Box::pin(async move {
            progress(DialProgress::Attempting);
            let result = open(url, authorization, tls).await;
            match result {
                Ok(ws) => {
                    progress(DialProgress::Open);
                    let transport = transport(ws, storage, tap);
                    Ok(match relay_peer {
                        Some(p) => transport.with_expected_peer_id(p),
                        None => transport,
                    })
                }
                Err(DialError::PermanentFailure(e)) => {
                    progress(DialProgress::Refused(e.clone()));
                    Err(DialError::PermanentFailure(e))
                }
                Err(DialError::TransientFailure(e)) => {
                    tracing::debug!(error = %e, "relay connection attempt failed");
                    progress(DialProgress::Failed);
                    Err(DialError::TransientFailure(e))
                }
            }
        })
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Open the WebSocket: TCP, TLS (for `wss://`), upgrade with the token.
async fn open(
    url: Url,
    authorization: HeaderValue,
    tls: Arc<rustls::ClientConfig>,
) -> Result<Ws, DialError<SyncError>> {
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| DialError::PermanentFailure(SyncError::InvalidInput { reason: format!("relay URL: {e}") }))?;
    request.headers_mut().insert("Authorization", authorization);
    let mut config = tungstenite::protocol::WebSocketConfig::default();
    config.max_message_size = Some(MAX_MESSAGE);
    config.max_frame_size = Some(MAX_MESSAGE);
    // tungstenite zeroes its whole read buffer (128 KiB by default) before every read from the socket:
    // on a phone that is memory traffic for every sync message. Larger messages are read in several chunks.
    config.read_buffer_size = READ_BUFFER;
    let connect = tokio_tungstenite::connect_async_tls_with_config(
        request,
        Some(config),
        true,
        Some(tokio_tungstenite::Connector::Rustls(tls)),
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Err(_) => Err(DialError::transient(WsError("timed out connecting to the relay".into()))),
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body = response.body().as_deref().and_then(|b| serde_json::from_slice(b).ok());
            match api_error(status, body, None) {
                // The token is wrong or revoked, or the account may not sync: retrying cannot help.
                e @ (SyncError::Unauthorized | SyncError::Forbidden { .. }) => Err(DialError::PermanentFailure(e)),
                e => Err(DialError::transient(WsError(format!("relay refused the upgrade: {e}")))),
            }
        }
        Ok(Err(e)) => Err(DialError::transient(WsError(e.to_string()))),
    }
}

/// The samod transport over an open WebSocket: binary messages both ways, pings in the background, a
/// silence limit on reads; requests for documents this device does not hold are held back.
fn transport(ws: Ws, storage: Arc<dyn Storage>, tap: Option<InboundTap>) -> Transport {
    let (mut ws_sink, ws_stream) = ws.split();
    // samod writes into a channel; one task owns the socket's write half and interleaves pings.
    let (tx, mut rx) = futures::channel::mpsc::channel::<Vec<u8>>(32);
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = rx.next() => match msg {
                    Some(bytes) => {
                        if ws_sink.send(Message::Binary(bytes.into())).await.is_err() {
                            break;
                        }
                    }
                    None => {
                        // samod closed the connection.
                        let _ = ws_sink.close().await;
                        break;
                    }
                },
                _ = ping.tick() => {
                    if ws_sink.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let stream = futures::stream::unfold((ws_stream, storage), |(mut s, storage)| async move {
        loop {
            match tokio::time::timeout(SILENT_FOR, s.next()).await {
                Err(_) => return Some((Err(WsError("the relay went silent".into())), (s, storage))),
                Ok(None) => return None,
                Ok(Some(Ok(Message::Binary(b)))) => {
                    if crate::bridge::hold_back_from_relay(&b, &*storage) {
                        continue;
                    }
                    return Some((Ok(b.to_vec()), (s, storage)));
                }
                Ok(Some(Ok(Message::Text(_)))) => {
                    return Some((Err(WsError("unexpected text message from the relay".into())), (s, storage)));
                }
                // Pings are answered by tungstenite; pongs, close frames: activity, nothing to pass on.
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => return Some((Err(WsError(e.to_string())), (s, storage))),
            }
        }
    })
    .inspect(move |m| {
        if let (Some(tap), Ok(bytes)) = (&tap, m) {
            tap(bytes);
        }
    })
    .boxed();
    Transport::new(stream, tx)
}
