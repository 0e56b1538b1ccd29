//! Transports: how a connection's bytes travel. The connection loop reads frames from any
//! `AsyncRead` and writes responses through a [`ResponseWriter`]:
//!
//! - [`TcpWriter`], for PLAINTEXT listeners: byte chunks with `write`, file ranges of segments
//!   with `sendfile` (records go from the page cache to the socket without a user-space copy),
//!   the socket corked around a multi-part response;
//! - [`CopyingWriter`], for any other stream (TLS, an in-memory pipe): file ranges are read into
//!   memory off the async threads and written like any other bytes.

use std::future::Future;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use oxbow_storage::FileSlice;
use tokio::io::{AsyncWrite, AsyncWriteExt, Interest};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;

use crate::reply::Chunk;

/// The writing half of a connection.
pub trait ResponseWriter: Send + 'static {
    /// Writes an encoded response (size prefix and header included).
    fn write_bytes<'a>(
        &'a mut self,
        bytes: &'a [u8],
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'a;
    /// Writes a response made of byte chunks and file ranges, in order.
    fn write_chunks<'a>(
        &'a mut self,
        chunks: &'a [Chunk],
    ) -> impl Future<Output = std::io::Result<()>> + Send + 'a;
    /// Flushes and closes the writing side.
    fn close(&mut self) -> impl Future<Output = ()> + Send + '_;
}

/// Plain TCP with `sendfile` for file ranges.
pub struct TcpWriter(pub OwnedWriteHalf);

impl ResponseWriter for TcpWriter {
    async fn write_bytes<'a>(&'a mut self, bytes: &'a [u8]) -> std::io::Result<()> {
        self.0.write_all(bytes).await
    }

    async fn write_chunks<'a>(&'a mut self, chunks: &'a [Chunk]) -> std::io::Result<()> {
        // Cork the socket so the response's small header pieces and its file ranges leave as
        // full segments rather than one packet per piece (the socket is otherwise TCP_NODELAY).
        let cork = chunks.len() > 1;
        if cork {
            set_cork(&self.0, true);
        }
        let mut result = Ok(());
        for chunk in chunks {
            result = match chunk {
                Chunk::Bytes(b) => self.0.write_all(b).await,
                Chunk::File(f) => send_file(&self.0, f).await,
            };
            if result.is_err() {
                break;
            }
        }
        if cork {
            set_cork(&self.0, false);
        }
        result
    }

    async fn close(&mut self) {
        let _ = self.0.shutdown().await;
    }
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
            Ok(0) => return Err(short_segment()),
            Ok(n) => left -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The file is shorter than the range promised in the frame: the stream can no longer be framed
/// correctly, so the connection must close.
fn short_segment() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "segment shorter than expected",
    )
}

/// Any other stream: file ranges are copied through user space.
pub struct CopyingWriter<W>(pub W);

/// File ranges are read and written in pieces of this size.
const COPY_PIECE: usize = 256 << 10;

impl<W: AsyncWrite + Unpin + Send + 'static> ResponseWriter for CopyingWriter<W> {
    async fn write_bytes<'a>(&'a mut self, bytes: &'a [u8]) -> std::io::Result<()> {
        self.0.write_all(bytes).await?;
        self.0.flush().await
    }

    async fn write_chunks<'a>(&'a mut self, chunks: &'a [Chunk]) -> std::io::Result<()> {
        for chunk in chunks {
            match chunk {
                Chunk::Bytes(b) => self.0.write_all(b).await?,
                Chunk::File(f) => {
                    let mut done = 0;
                    while done < f.len {
                        let piece = read_piece(f, done, (f.len - done).min(COPY_PIECE)).await?;
                        self.0.write_all(&piece).await?;
                        done += piece.len();
                    }
                }
            }
        }
        self.0.flush().await
    }

    async fn close(&mut self) {
        let _ = self.0.shutdown().await;
    }
}

/// Reads `len` bytes of a file range from `skip` on, on a blocking thread (a page-cache miss
/// must not stall an async worker).
async fn read_piece(slice: &FileSlice, skip: usize, len: usize) -> std::io::Result<Vec<u8>> {
    let file = slice.file.clone();
    let at = slice.position + skip as u64;
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let n = file.read_at(&mut buf[filled..], at + filled as u64)?;
            if n == 0 {
                return Err(short_segment());
            }
            filled += n;
        }
        Ok(buf)
    })
    .await
    .map_err(std::io::Error::other)?
}
