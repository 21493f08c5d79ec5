//! `GET /v1/sync`: the authenticated WebSocket that carries the automerge-repo sync protocol.
//!
//! At the upgrade: rate limit, token (`Authorization: Bearer` or `?token=`), connection permit (503 when
//! full), and the message size limit handed to the WebSocket codec (checked on frame headers, before any
//! payload is read or decoded). Then one task per connection owns the socket and pumps binary messages
//! between it and samod, whose handshake must announce the device's own peer id
//! ([`peer_id_for_device`]). The task closes the socket with a code and a reason:
//!
//! | code | reason |
//! |---|---|
//! | 1001 | relay shutting down |
//! | 1002 | undecodable or out-of-protocol sync message, or one the pre-check refuses (`inbound`) |
//! | 1003 | text frame (the protocol is binary) |
//! | 1008 | peer id does not match the authenticated device; inbound rate over budget (`limits::SyncBudget`) |
//! | 1009 | message larger than the limit |
//! | 4401 | device token revoked |
//! | 4408 | idle timeout, or no handshake in time |
//!
//! The pre-check refuses hostile Bloom filters, compressed changes and changes that fail the dry run
//! (`inbound`). Every inbound frame (pings included) spends one message of the connection's budget, a
//! data frame also its bytes.
//!
//! Removing a member needs no close: the share policy stops sharing the case's documents with them at once.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use casebook_core::relay_api::peer_id_for_device;
use futures::{SinkExt, StreamExt};
use samod::{ConnFinishedReason, PeerId, Transport};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use crate::accounts::DeviceAuth;
use crate::auth::{ClientIp, authenticate, bearer};
use crate::connections::Kick;
use crate::demux::{CaseEvent, Demux, Refused};
use crate::error::Error;
use crate::limits::SyncBudget;
use crate::metrics::LimitKind;
use crate::state::AppState;

/// Read buffer per WebSocket connection (bytes): most sync messages are far smaller (an edit is a few
/// hundred bytes); larger ones are read in several chunks. Small on purpose twice over: every idle
/// connection keeps it, and tungstenite zeroes it before every read (4 KiB → 1 KiB: −2 KB per idle
/// connection and ~10 % less relay CPU per edit, BENCHMARKS.md).
const READ_BUFFER: usize = 1024;

/// A close code and its reason.
type Close = (u16, &'static str);

const GOING_AWAY: Close = (1001, "relay shutting down");
const PROTOCOL: Close = (1002, "sync protocol error");
const UNDECODABLE: Close = (1002, "undecodable sync message");
const MALFORMED_CHANGE: Close = (1002, "malformed change in a sync message");
const TEXT_FRAME: Close = (1003, "binary messages only");
const WRONG_PEER: Close = (1008, "peer id does not match the authenticated device");
const FLOOD: Close = (1008, "inbound rate limit exceeded");
const TOO_BIG: Close = (1009, "message larger than the relay accepts");
const REVOKED: Close = (4401, "device token revoked");
const IDLE: Close = (4408, "idle timeout");
const NO_HANDSHAKE: Close = (4408, "no sync handshake in time");

/// The `token` parameter of a query string (hex, so no decoding needed).
fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| pair.strip_prefix("token=")).map(str::to_string)
}

/// The upgrade handler.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    ip: ClientIp,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let token = bearer(&headers).map(str::to_string).or_else(|| query_token(query.as_deref()));
    let auth = match authenticate(&state, ip.0, token.as_deref()) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let Ok(ws) = ws else {
        return Error::InvalidInput("expected a WebSocket upgrade".into()).into_response();
    };
    if state.is_shutting_down() {
        return Error::Unavailable("the relay is shutting down").into_response();
    }
    state.cases.unload_after(state.config.case_unload());
    let Ok(permit) = state.permits.clone().try_acquire_owned() else {
        state.metrics.limit_hit(LimitKind::Connections);
        tracing::warn!(device_id = %auth.device_id, "connection limit reached");
        return Error::Unavailable("too many connections; retry later").into_response();
    };
    let max = state.config.max_message_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        // tungstenite allocates its read buffer up front (128 KiB by default) for every connection, most of
        // them idle phones; messages larger than this are read in several chunks.
        .read_buffer_size(READ_BUFFER)
        // Every message is flushed at once: no frames gathered in the write buffer.
        .write_buffer_size(0)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| run(state, auth, socket, permit))
}

/// Why samod ended a connection, as a close code.
fn close_for(reason: &ConnFinishedReason) -> Close {
    match reason {
        ConnFinishedReason::ErrorReceiving(msg) if msg.contains("peer ID mismatch") => WRONG_PEER,
        ConnFinishedReason::ErrorReceiving(msg) if msg.to_ascii_lowercase().contains("decode") => UNDECODABLE,
        ConnFinishedReason::ErrorReceiving(_) => PROTOCOL,
        _ => GOING_AWAY,
    }
}

fn is_too_big(e: &axum::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("too long") || text.contains("too big") || text.contains("space limit")
}

/// One connection: pump messages between the socket and samod until either side ends, then close.
async fn run(state: AppState, auth: DeviceAuth, socket: WebSocket, _permit: OwnedSemaphorePermit) {
    let (registration, mut kick) = state.connections.register(&auth.device_id);
    state.metrics.connection_opened();
    let (mut ws_tx, mut ws_rx) = socket.split();
    if state.is_shutting_down() {
        // Upgraded while shutdown began: it may have missed the shutdown kick.
        let _ = send_close(&mut ws_tx, GOING_AWAY).await;
        let _ = ws_tx.close().await;
        state.metrics.connection_closed();
        return;
    }
    let (to_lobby, from_ws) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    // Unbounded towards the socket: samod never waits on us, so it always drains what we feed it.
    let (to_ws, mut from_samod) = futures::channel::mpsc::unbounded::<Vec<u8>>();
    let peer = PeerId::from(peer_id_for_device(&auth.device_id));
    let transport = Transport::new(from_ws, to_ws.clone()).with_expected_peer_id(peer.clone());
    let Ok(conn) = state.cases.lobby().accept(transport) else {
        let _ = send_close(&mut ws_tx, GOING_AWAY).await;
        let _ = ws_tx.close().await;
        state.metrics.connection_closed();
        return;
    };
    let mut demux = Demux::new(state.clone(), auth.device_id.clone(), peer, to_lobby, to_ws);
    let mut dir_changes = state.dir.subscribe();
    let lobby_ended = crate::demux::finished(conn.events());
    tokio::pin!(lobby_ended);
    let handshake = conn.handshake_complete();
    tokio::pin!(handshake);
    let handshake_deadline = tokio::time::sleep(state.config.handshake_timeout());
    tokio::pin!(handshake_deadline);
    let idle = state.config.idle_timeout();
    let mut ping = tokio::time::interval_at(Instant::now() + idle / 3, idle / 3);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Case connections without traffic for the unload delay go dormant (`demux`), looked at every quarter
    // of it (at most every 10 ms).
    let unload = state.cases.unload_delay();
    let look = unload.map_or(Duration::from_secs(3600), |d| (d / 4).max(Duration::from_millis(10)));
    let mut quiet_cases = tokio::time::interval_at(Instant::now() + look, look);
    quiet_cases.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut handshaken = false;
    let mut last_heard = Instant::now();
    let mut budget = SyncBudget::new(&state.config, last_heard.into_std());
    let (mut msgs_in, mut msgs_out) = (0u64, 0u64);
    // When this connection was last active, for `GET /v1/devices` (stamped at most once a second).
    let mut active_at = state.now();
    state.seen.device_active(&auth.device_id, active_at);
    tracing::info!(device_id = %auth.device_id, account_id = %auth.account_id, "sync connection opened");

    let outcome: Option<Close> = loop {
        tokio::select! {
            why = &mut kick => break Some(match why {
                Ok(Kick::Revoked) => REVOKED,
                Ok(Kick::Shutdown) | Err(_) => GOING_AWAY,
            }),
            out = from_samod.next() => match out {
                Some(bytes) => {
                    // Heads go out only once durable: a device takes them as "saved to the relay".
                    if !state.storage.until_durable(&bytes).await {
                        tracing::warn!(device_id = %auth.device_id, "sync message sent before its heads could be confirmed durable");
                    }
                    state.metrics.message_out(bytes.len());
                    msgs_out += 1;
                    match tokio::time::timeout(idle, ws_tx.send(Message::Binary(bytes.into()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break None,
                        Err(_) => {
                            state.metrics.limit_hit(LimitKind::IdleTimeout);
                            break Some(IDLE);
                        }
                    }
                }
                None => break Some(GOING_AWAY),
            },
            reason = &mut lobby_ended => break Some(samod_ended(&state, &reason)),
            event = demux.next_event() => match event {
                CaseEvent::Ended(reason) => break Some(samod_ended(&state, &reason)),
                CaseEvent::Woken(case_id) => {
                    if let Err(refused) = demux.wake(&case_id).await {
                        break Some(refusal(&state, &auth, refused, &mut lobby_ended, &mut demux).await);
                    }
                }
            },
            _ = quiet_cases.tick(), if unload.is_some() => {
                demux.let_go_of_quiet_cases(unload.unwrap_or_default());
            }
            changed = dir_changes.changed(), if demux.has_parked() => {
                if changed.is_err() {
                    break Some(GOING_AWAY);
                }
                if let Err(refused) = demux.unpark().await {
                    break Some(refusal(&state, &auth, refused, &mut lobby_ended, &mut demux).await);
                }
            }
            msg = ws_rx.next() => match msg {
                None | Some(Ok(Message::Close(_))) => break None,
                Some(Err(e)) if is_too_big(&e) => {
                    state.metrics.limit_hit(LimitKind::MessageSize);
                    break Some(TOO_BIG);
                }
                Some(Err(e)) => {
                    tracing::debug!(device_id = %auth.device_id, error = %e, "WebSocket receive error");
                    break None;
                }
                Some(Ok(msg)) => {
                    last_heard = Instant::now();
                    let now = state.now();
                    if now != active_at {
                        active_at = now;
                        state.seen.device_active(&auth.device_id, now);
                    }
                    let len = match &msg {
                        Message::Binary(b) => b.len(),
                        Message::Text(t) => t.len(),
                        _ => 0,
                    };
                    if let Err(over) = budget.spend(len, last_heard.into_std()) {
                        tracing::warn!(
                            device_id = %auth.device_id,
                            limit = over.as_str(),
                            messages_in = msgs_in,
                            "sync connection over its inbound budget"
                        );
                        state.metrics.limit_hit(LimitKind::MessageRate);
                        break Some(FLOOD);
                    }
                    match msg {
                        Message::Binary(bytes) => {
                            state.metrics.message_in(bytes.len());
                            msgs_in += 1;
                            let started = std::time::Instant::now();
                            let changes = match crate::inbound::check(&bytes) {
                                Ok(changes) => changes,
                                Err(why) => {
                                    tracing::debug!(device_id = %auth.device_id, reason = why, "sync message refused");
                                    state.metrics.limit_hit(LimitKind::Protocol);
                                    break Some(UNDECODABLE);
                                }
                            };
                            let delivered = demux.deliver(bytes.to_vec(), changes).await;
                            state.metrics.sync_message.observe(started.elapsed());
                            if let Err(refused) = delivered {
                                break Some(refusal(&state, &auth, refused, &mut lobby_ended, &mut demux).await);
                            }
                        }
                        Message::Text(_) => {
                            state.metrics.limit_hit(LimitKind::Protocol);
                            break Some(TEXT_FRAME);
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Close(_) => {}
                    }
                }
            },
            result = &mut handshake, if !handshaken => {
                handshaken = true;
                if result.is_ok() {
                    tracing::debug!(device_id = %auth.device_id, "sync handshake complete");
                }
            }
            _ = &mut handshake_deadline, if !handshaken => {
                state.metrics.limit_hit(LimitKind::HandshakeTimeout);
                break Some(NO_HANDSHAKE);
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= idle {
                    state.metrics.limit_hit(LimitKind::IdleTimeout);
                    break Some(IDLE);
                }
                if ws_tx.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
        }
    };

    // Ending the inbound streams tells samod the peer is gone.
    let cases = demux.cases();
    drop(demux);
    let closing = async {
        match outcome {
            Some(reason) => {
                // What samod said last (an error message, say) still goes out before the close frame.
                while let Ok(bytes) = from_samod.try_recv() {
                    ws_tx.send(Message::Binary(bytes.into())).await?;
                }
                // The closing handshake: our close frame, then the peer's reply, then the TCP close. Closing
                // the TCP connection at once could make the peer lose our close frame to a reset.
                send_close(&mut ws_tx, reason).await?;
                while let Some(Ok(msg)) = ws_rx.next().await {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                }
                ws_tx.close().await
            }
            // The peer closed or went away: flush the close reply, if any.
            None => ws_tx.close().await,
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), closing).await;
    state.metrics.connection_closed();
    tracing::info!(
        device_id = %auth.device_id,
        close_code = outcome.map(|c| c.0),
        reason = outcome.map(|c| c.1),
        messages_in = msgs_in,
        messages_out = msgs_out,
        cases,
        "sync connection closed"
    );
    drop(registration);
}

/// The close code for a samod connection that ended, counted as a protocol error unless the relay stops.
fn samod_ended(state: &AppState, reason: &ConnFinishedReason) -> Close {
    let close = close_for(reason);
    if close != GOING_AWAY {
        state.metrics.limit_hit(LimitKind::Protocol);
    }
    close
}

/// The close code for a message the demultiplexer could not deliver.
async fn refusal(
    state: &AppState,
    auth: &DeviceAuth,
    refused: Refused,
    lobby_ended: &mut (impl Future<Output = ConnFinishedReason> + Unpin),
    demux: &mut Demux,
) -> Close {
    match refused {
        Refused::DryRun(why) => {
            tracing::warn!(device_id = %auth.device_id, reason = why, "sync message refused");
            state.metrics.limit_hit(LimitKind::Protocol);
            MALFORMED_CHANGE
        }
        Refused::Stopping => GOING_AWAY,
        Refused::Ended(Some(reason)) => samod_ended(state, &reason),
        // A samod connection stopped reading: it has ended or is about to; learn why.
        Refused::Ended(None) => {
            let reason = tokio::time::timeout(Duration::from_millis(200), async {
                tokio::select! {
                    r = lobby_ended => r,
                    r = demux.case_ended() => r,
                }
            })
            .await
            .unwrap_or(ConnFinishedReason::Shutdown);
            samod_ended(state, &reason)
        }
    }
}

async fn send_close(
    ws_tx: &mut futures::stream::SplitSink<WebSocket, Message>,
    (code, reason): Close,
) -> Result<(), axum::Error> {
    ws_tx.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_query() {
        assert_eq!(query_token(Some("a=1&token=abc")), Some("abc".into()));
        assert_eq!(query_token(Some("token=")), Some(String::new()));
        assert_eq!(query_token(Some("x=token=abc")), None);
        assert_eq!(query_token(None), None);
    }

    #[test]
    fn close_reasons_fit_a_close_frame() {
        for (_, reason) in [
            GOING_AWAY,
            PROTOCOL,
            UNDECODABLE,
            MALFORMED_CHANGE,
            TEXT_FRAME,
            WRONG_PEER,
            FLOOD,
            TOO_BIG,
            REVOKED,
            IDLE,
            NO_HANDSHAKE,
        ] {
            assert!(reason.len() <= 123);
        }
    }
}
