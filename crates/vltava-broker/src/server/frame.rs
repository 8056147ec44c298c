//! Kafka framing: a 4-byte big-endian length, then that many bytes.
//!
//! The length is checked against `socket.request.max.bytes` before anything is allocated, and
//! the buffer grows only as bytes arrive, so a client that claims 100 MiB and sends nothing
//! costs nothing.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Buffer growth step while a frame arrives.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// A connection keeps its read buffer for reuse after frames up to this size. A larger frame
/// takes the buffer with it, so its memory is freed with the request: idle connections do not
/// each pin their largest request outside `queued.max.request.bytes`.
const READ_BUFFER_KEPT_BYTES_MAX: usize = 1024 * 1024;
/// The smallest request: api key, api version, correlation id, client id length.
pub const REQUEST_HEADER_BYTES_MIN: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {length} bytes is outside 10..={limit}")]
    BadLength { length: i64, limit: usize },
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("no whole frame within connections.max.idle.ms")]
    Idle,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a frame's length and checks it; `Ok(None)` when the peer closed the connection
/// between frames. Nothing is allocated for the body yet: the caller may first wait for room
/// (`queued.max.request.bytes`), then calls [`read_body`].
pub async fn read_length<R: AsyncRead + Unpin>(
    reader: &mut R,
    frame_bytes_max: usize,
) -> Result<Option<usize>, FrameError> {
    let mut length = [0u8; 4];
    match reader.read_exact(&mut length).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let length = i32::from_be_bytes(length);
    let frame_bytes = usize::try_from(length)
        .ok()
        .filter(|n| (REQUEST_HEADER_BYTES_MIN..=frame_bytes_max).contains(n))
        .ok_or(FrameError::BadLength {
            length: i64::from(length),
            limit: frame_bytes_max,
        })?;
    Ok(Some(frame_bytes))
}

/// Reads the `frame_bytes` of a frame's body, whose length [`read_length`] has checked.
///
/// `buffer` is the connection's: a frame up to `READ_BUFFER_KEPT_BYTES_MAX` is split off it, so
/// once the request is handled and dropped its allocation is reused for the next frame instead
/// of mapping fresh pages.
pub async fn read_body<R: AsyncRead + Unpin>(
    reader: &mut R,
    buffer: &mut BytesMut,
    frame_bytes: usize,
) -> Result<Bytes, FrameError> {
    buffer.clear();
    while buffer.len() < frame_bytes {
        let want = (frame_bytes - buffer.len()).min(READ_CHUNK_BYTES);
        buffer.reserve(want);
        let mut limited = (&mut *reader).take(want as u64);
        if limited.read_buf(buffer).await? == 0 {
            return Err(FrameError::Truncated);
        }
    }
    if frame_bytes > READ_BUFFER_KEPT_BYTES_MAX {
        return Ok(std::mem::take(buffer).freeze());
    }
    Ok(buffer.split_to(frame_bytes).freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length, then body, as a connection reads them.
    async fn read_frame<R: AsyncRead + Unpin>(
        reader: &mut R,
        buffer: &mut BytesMut,
        frame_bytes_max: usize,
    ) -> Result<Option<Bytes>, FrameError> {
        match read_length(reader, frame_bytes_max).await? {
            Some(frame_bytes) => Ok(Some(read_body(reader, buffer, frame_bytes).await?)),
            None => Ok(None),
        }
    }

    #[tokio::test]
    async fn reads_a_whole_frame() -> Result<(), FrameError> {
        let mut input: &[u8] = &[0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 99];
        let frame = read_frame(&mut input, &mut BytesMut::new(), 100).await?;
        assert_eq!(frame.as_deref(), Some(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10][..]));
        Ok(())
    }

    #[tokio::test]
    async fn refuses_a_length_above_the_limit_before_reading_it() {
        let mut input: &[u8] = &[0x7f, 0xff, 0xff, 0xff];
        let result = read_frame(&mut input, &mut BytesMut::new(), 100 * 1024 * 1024).await;
        assert!(matches!(result, Err(FrameError::BadLength { .. })));
    }

    #[tokio::test]
    async fn refuses_a_negative_length() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&mut input, &mut BytesMut::new(), 100).await,
            Err(FrameError::BadLength { .. })
        ));
    }

    #[tokio::test]
    async fn reports_a_truncated_frame() {
        let mut input: &[u8] = &[0, 0, 0, 20, 1, 2, 3];
        assert!(matches!(
            read_frame(&mut input, &mut BytesMut::new(), 100).await,
            Err(FrameError::Truncated)
        ));
    }

    #[tokio::test]
    async fn clean_close_between_frames_is_not_an_error() -> Result<(), FrameError> {
        let mut input: &[u8] = &[];
        assert!(
            read_frame(&mut input, &mut BytesMut::new(), 100)
                .await?
                .is_none()
        );
        Ok(())
    }
}
