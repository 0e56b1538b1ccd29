//! One client connection: frames in, handlers, responses out in request order.
//!
//! The reader decodes and dispatches requests one at a time, so appends from one connection keep
//! their order. A handler may answer later (an `acks=all` produce waiting for its fsync, a fetch
//! waiting for data): its reply goes into an ordered queue and the reader moves on, so a pipelining
//! client is not held to one fsync per request. A frame that cannot be read (bad size, unknown API,
//! unserved version, malformed body) closes the connection; other connections are unaffected.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseKind};
use kafka_protocol::ResponseError;
use oxbow_protocol::{decode_request, encode_response, peek_header, FrameReader};
use std::os::fd::AsRawFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use oxbow_storage::FileSlice;
use tokio::io::Interest;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, Semaphore};
use tracing::{debug, warn};

use crate::handlers::fetch_encode::Chunk;
use crate::handlers::{self, api_versions, Reply, RequestContext};
use crate::Broker;

/// Limits shared by all connections.
pub struct Limits {
    pub max_request_bytes: usize,
    /// Permits are KiB of request frames being read or handled.
    pub inflight_kib: Arc<Semaphore>,
    pub idle: Duration,
}

struct Outgoing {
    api_key: ApiKey,
    api_version: i16,
    correlation_id: i32,
    reply: Reply,
}

/// Serves one connection until it closes, misbehaves or the broker shuts down.
pub async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    limits: Arc<Limits>,
    mut shutdown: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(64);
    let write_task = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let body = match out.reply {
                Reply::Now(body) => body,
                Reply::Later(fut) => fut.await,
                Reply::None | Reply::Close => continue,
                Reply::NowEncoded(chunks) => {
                    if let Err(e) = write_chunks(&mut writer, &chunks).await {
                        debug!(%peer, error = %e, "write failed; closing");
                        break;
                    }
                    continue;
                }
                Reply::LaterEncoded(fut) => {
                    let chunks = fut.await;
                    if let Err(e) = write_chunks(&mut writer, &chunks).await {
                        debug!(%peer, error = %e, "write failed; closing");
                        break;
                    }
                    continue;
                }
            };
            match encode_response(out.api_key, out.api_version, out.correlation_id, &body) {
                Ok(bytes) => {
                    if let Err(e) = writer.write_all(&bytes).await {
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
        let _ = writer.shutdown().await;
    });

    let frames = FrameReader::new(limits.max_request_bytes);
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut client_id = String::new();
    'conn: loop {
        // Wait for a frame's length, then for room in the in-flight budget, then for its body.
        let size = loop {
            match frames.peek_size(&buf) {
                Ok(Some(size)) => break size,
                Ok(None) => {}
                Err(e) => {
                    warn!(%peer, client_id, error = %e, "unreadable frame; closing connection");
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

        let Ok(head) = peek_header(&frame) else { break };
        let Ok(api_key) = ApiKey::try_from(head.api_key) else {
            warn!(%peer, client_id, api_key = head.api_key, "unknown API key; closing connection");
            break;
        };
        let served = handlers::served_versions(api_key);
        let version_ok =
            served.is_some_and(|r| r.min <= head.api_version && head.api_version <= r.max);
        if !version_ok {
            if api_key == ApiKey::ApiVersions {
                // KIP-511: answer in v0 with UNSUPPORTED_VERSION and the versions we serve.
                let body = ApiVersionsResponse::default()
                    .with_error_code(ResponseError::UnsupportedVersion.code())
                    .with_api_keys(api_versions::served_api_keys());
                let out = Outgoing {
                    api_key,
                    api_version: 0,
                    correlation_id: head.correlation_id,
                    reply: Reply::Now(ResponseKind::ApiVersions(body)),
                };
                if tx.send(out).await.is_err() {
                    break;
                }
                continue;
            }
            warn!(%peer, client_id, ?api_key, version = head.api_version, "unsupported API version; closing connection");
            break;
        }
        let request = match decode_request(frame, limits.max_request_bytes) {
            Ok(r) => r,
            Err(e) => {
                warn!(%peer, client_id, error = %e, "malformed request; closing connection");
                break;
            }
        };
        if let Some(id) = &request.header.client_id {
            if id.as_str() != client_id {
                client_id = id.to_string();
            }
        }
        let ctx = RequestContext {
            peer,
            client_id: client_id.clone(),
            api_version: head.api_version,
            correlation_id: head.correlation_id,
        };
        let reply = handlers::dispatch(&broker, &ctx, request.body).await;
        drop(permit);
        if matches!(reply, Reply::Close) {
            debug!(%peer, client_id, ?api_key, correlation_id = head.correlation_id, "closing connection after a failed acks=0 produce");
            break;
        }
        let out = Outgoing {
            api_key,
            api_version: head.api_version,
            correlation_id: head.correlation_id,
            reply,
        };
        if tx.send(out).await.is_err() {
            break;
        }
    }
    drop(tx);
    let _ = write_task.await;
    debug!(%peer, client_id, "connection closed");
}

/// Writes an encoded response: byte chunks with `write`, file ranges with `sendfile` (the records
/// go from the page cache to the socket without passing through user space).
async fn write_chunks(writer: &mut OwnedWriteHalf, chunks: &[Chunk]) -> std::io::Result<()> {
    // Cork the socket so the response's small header pieces and its file ranges leave as full
    // segments rather than one packet per piece (the socket is otherwise TCP_NODELAY).
    let cork = chunks.len() > 1;
    if cork {
        set_cork(writer, true);
    }
    let mut result = Ok(());
    for chunk in chunks {
        result = match chunk {
            Chunk::Bytes(b) => writer.write_all(b).await,
            Chunk::File(f) => send_file(writer, f).await,
        };
        if result.is_err() {
            break;
        }
    }
    if cork {
        set_cork(writer, false);
    }
    result
}

fn set_cork(writer: &OwnedWriteHalf, on: bool) {
    let socket: &TcpStream = writer.as_ref();
    let value: libc::c_int = i32::from(on);
    // SAFETY: a valid socket descriptor and a pointer to a c_int of the given size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CORK,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

async fn send_file(writer: &OwnedWriteHalf, slice: &FileSlice) -> std::io::Result<()> {
    let socket: &TcpStream = writer.as_ref();
    let out_fd = socket.as_raw_fd();
    let in_fd = slice.file.as_raw_fd();
    let mut offset = i64::try_from(slice.position)
        .map_err(|_| std::io::Error::other("file offset too large"))?;
    let mut left = slice.len;
    while left > 0 {
        socket.writable().await?;
        let sent = socket.try_io(Interest::WRITABLE, || {
            // SAFETY: both descriptors are open for the duration of the call (the socket is
            // borrowed, the file is held by the Arc in `slice`); `offset` is a valid pointer.
            let n = unsafe { libc::sendfile(out_fd, in_fd, &mut offset, left) };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match sent {
            Ok(0) => {
                // The file is shorter than the range promised in the frame: the stream can no
                // longer be framed correctly, so the connection must close.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "segment shorter than expected",
                ));
            }
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads more bytes; false when the connection should end (EOF, error, idle, shutdown).
async fn read_more(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    buf: &mut BytesMut,
    limits: &Limits,
    shutdown: &mut watch::Receiver<bool>,
    peer: SocketAddr,
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
