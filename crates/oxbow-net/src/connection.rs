//! One client connection: frames in, handlers, responses out in request order.
//!
//! The reader decodes and dispatches requests one at a time, so appends from one connection keep
//! their order. A handler may answer later (an `acks=all` produce waiting for its fsync, a fetch
//! waiting for data): its reply goes into an ordered queue and the reader moves on, so a pipelining
//! client is not held to one fsync per request. A frame that cannot be read (bad size, unknown API,
//! unserved version, malformed body) closes the connection; other connections are unaffected.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use oxbow_protocol::{encode_response, FrameReader};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::{debug, warn};

use crate::reply::{Answer, Reply};
use crate::session::Session;
use crate::transport::ResponseWriter;
use crate::FrameHandler;

/// Limits shared by all connections.
pub struct Limits {
    pub max_request_bytes: usize,
    /// Permits are KiB of request frames being read or handled.
    pub inflight_kib: Arc<Semaphore>,
    pub idle: Duration,
}

/// Serves one connection until it closes, misbehaves or the broker shuts down.
pub async fn run<R, W, H>(
    mut reader: R,
    mut writer: W,
    session: Session,
    handler: Arc<H>,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send,
    W: ResponseWriter,
    H: FrameHandler,
{
    let peer = session.peer;
    let (tx, mut rx) = mpsc::channel::<Answer>(64);
    let write_task = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let body = match out.reply {
                Reply::Now(body) => body,
                Reply::Later(fut) => fut.await,
                Reply::None | Reply::Close => continue,
                Reply::NowEncoded(chunks) => {
                    if let Err(e) = writer.write_chunks(&chunks).await {
                        debug!(%peer, error = %e, "write failed; closing");
                        break;
                    }
                    continue;
                }
                Reply::LaterEncoded(fut) => {
                    let chunks = fut.await;
                    if let Err(e) = writer.write_chunks(&chunks).await {
                        debug!(%peer, error = %e, "write failed; closing");
                        break;
                    }
                    continue;
                }
            };
            match encode_response(out.api_key, out.api_version, out.correlation_id, &body) {
                Ok(bytes) => {
                    if let Err(e) = writer.write_bytes(&bytes).await {
                        debug!(%peer, error = %e, "write failed; closing");
                        break;
                    }
                }
                Err(e) => {
                    warn!(%peer, error = %e, "cannot encode response; closing connection");
                    break;
                }
            }
        }
        writer.close().await;
    });

    let mut session = Arc::new(session);
    let frames = FrameReader::new(limits.max_request_bytes);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    'conn: loop {
        // KIP-219: a throttled connection is not read until its throttle time has passed.
        let gate = session.throttle.clone();
        if !gate.remaining().is_zero() {
            tokio::select! {
                _ = gate.wait() => {}
                _ = shutdown.changed() => break 'conn,
            }
        }
        // Wait for a frame's length, then for room in the in-flight budget, then for its body.
        let size = loop {
            match frames.peek_size(&buf) {
                Ok(Some(size)) => break size,
                Ok(None) => {}
                Err(e) => {
                    warn!(%peer, client_id = session.client_id, error = %e, "unreadable frame; closing connection");
                    break 'conn;
                }
            }
            if !read_more(&mut reader, &mut buf, &limits, &mut shutdown, peer).await {
                break 'conn;
            }
        };
        let kib = u32::try_from(size.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        let Ok(permit) = limits.inflight_kib.clone().acquire_many_owned(kib).await else {
            break;
        };
        buf.reserve(size + 4);
        let frame: Bytes = loop {
            match frames.next_frame(&mut buf) {
                Ok(Some(frame)) => break frame,
                Ok(None) => {}
                Err(_) => break 'conn,
            }
            if !read_more(&mut reader, &mut buf, &limits, &mut shutdown, peer).await {
                break 'conn;
            }
        };
        let answer = handler
            .handle_frame(&mut session, frame, limits.max_request_bytes)
            .await;
        drop(permit);
        let Some(answer) = answer else { break };
        let close = answer.close_after;
        if tx.send(answer).await.is_err() || close {
            break;
        }
    }
    drop(tx);
    let _ = write_task.await;
    debug!(%peer, client_id = session.client_id, listener = session.listener.name, "connection closed");
}

/// Reads more bytes; false when the connection should end (EOF, error, idle, shutdown).
async fn read_more<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    limits: &Limits,
    shutdown: &mut watch::Receiver<bool>,
    peer: std::net::SocketAddr,
) -> bool {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(16 * 1024);
    }
    tokio::select! {
        r = tokio::time::timeout(limits.idle, reader.read_buf(buf)) => match r {
            Ok(Ok(0)) => false,
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                debug!(%peer, error = %e, "read failed");
                false
            }
            Err(_) => {
                debug!(%peer, "idle connection closed (connections_max_idle_ms)");
                false
            }
        },
        _ = shutdown.changed() => false,
    }
}
