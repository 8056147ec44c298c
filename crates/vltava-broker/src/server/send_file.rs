//! Writes a response frame whose Fetch records are ranges of segment files: the encoded bytes
//! through the writer, each range straight from the page cache to a plain TCP socket with
//! sendfile (no copy through user space, as Kafka's `FileRecords.writeTo` with
//! `transferTo`). A writer that is not a plain TCP socket (TLS) gets the range read into
//! memory and written like any bytes: one seam, [`ResponseWriter::tcp`].

use std::io;
use std::os::fd::BorrowedFd;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, Interest, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use vltava_storage::ReadSlice;

use super::fetch_frame::Split;

/// Where a connection writes its responses.
pub trait ResponseWriter: AsyncWrite + Unpin + Send + 'static {
    /// The plain TCP socket under this writer, if it is one: file ranges are sent to it with
    /// sendfile. `None` (a TLS stream, whose bytes must be encrypted in user space) makes the
    /// writer read them into memory instead.
    fn tcp(&self) -> Option<&TcpStream> {
        None
    }
}

impl ResponseWriter for OwnedWriteHalf {
    fn tcp(&self) -> Option<&TcpStream> {
        Some(self.as_ref())
    }
}

impl<T: AsyncRead + AsyncWrite + Send + 'static> ResponseWriter for WriteHalf<T> {}

/// Writes `bytes` with each split's records inserted after its first `at` bytes.
pub async fn write_frame<W: ResponseWriter>(
    writer: &mut W,
    bytes: &[u8],
    splits: &[Split],
) -> io::Result<()> {
    let mut from = 0;
    for split in splits {
        let upto = bytes
            .get(from..split.at)
            .ok_or_else(|| io::Error::other("a file range placed outside the encoded response"))?;
        writer.write_all(upto).await?;
        write_records(writer, &split.records).await?;
        from = split.at;
    }
    writer.write_all(&bytes[from..]).await
}

async fn write_records<W: ResponseWriter>(writer: &mut W, records: &ReadSlice) -> io::Result<()> {
    if let (Some(socket), Some(file)) = (writer.tcp(), records.os_file()) {
        return send_file(socket, file, records).await;
    }
    let bytes = records.read().map_err(io::Error::other)?;
    check_unchanged(records)?;
    writer.write_all(&bytes).await
}

/// Sends the slice's range of `file` to `socket`, waiting for the socket as a write would.
///
/// The range is immutable unless the file was truncated since the response was built: a
/// leader that answered a follower up to its log end and then, a follower itself, truncated
/// its diverging tail (retention and compaction delete or replace whole files, which the
/// slice's open handle survives). That is checked before every sendfile call: a changed range
/// fails the write, which closes the connection before any of its bytes are sent. A
/// truncation landing during the last call is only caught after it (the connection is closed
/// then too), the same window Kafka leaves around `transferTo`.
async fn send_file(
    socket: &TcpStream,
    file: BorrowedFd<'_>,
    records: &ReadSlice,
) -> io::Result<()> {
    let end = records.position() + records.len() as u64;
    let mut at = records.position();
    while at < end {
        check_unchanged(records)?;
        socket.writable().await?;
        let want = usize::try_from(end - at).unwrap_or(usize::MAX);
        let mut offset = at;
        let sent = socket.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(socket, file, Some(&mut offset), want).map_err(io::Error::from)
        });
        match sent {
            // The file ends before the range: it was truncated under us.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment shrank",
                ));
            }
            Ok(sent) => at += sent as u64,
            // Readiness was stale: wait for the socket again.
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
            Err(error) => return Err(error),
        }
    }
    check_unchanged(records)
}

fn check_unchanged(records: &ReadSlice) -> io::Result<()> {
    match records.unchanged() {
        true => Ok(()),
        false => Err(io::Error::other(
            "segment truncated while its records were being sent",
        )),
    }
}
