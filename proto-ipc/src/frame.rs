//! Length-prefixed frames: a 4-byte big-endian length, then the payload.

use std::io::{self, Read, Write};

/// Largest payload either side accepts. A length over it is refused before
/// anything is allocated, so a hostile peer can't make us reserve memory.
pub const MAX_FRAME: usize = 16 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("connection closed")]
    Closed,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The frame for `payload`.
pub fn encode_frame(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    if payload.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len: payload.len(),
            max: MAX_FRAME,
        });
    }
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Decodes one frame from the start of `buf`: `Ok(None)` if more bytes are
/// needed, else the payload and how many bytes it took.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, FrameError> {
    let Some(header) = buf.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(buf.get(4..4 + len).map(|payload| (payload, 4 + len)))
}

pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> Result<(), FrameError> {
    w.write_all(&encode_frame(payload)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame. A clean end of stream before a header is
/// [`FrameError::Closed`]; one inside a frame is an I/O error.
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, FrameError> {
    let mut header = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match r.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut payload = vec![0u8; payload_len(header)?];
    r.read_exact(&mut payload)?;
    Ok(payload)
}

/// The length a header announces, refused past [`MAX_FRAME`] before
/// anything is allocated for it.
fn payload_len(header: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME,
        });
    }
    Ok(len)
}

/// [`read_frame`] over tokio's I/O: what the agent reads its clients with.
#[cfg(feature = "async")]
pub async fn read_frame_async(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Result<Vec<u8>, FrameError> {
    use tokio::io::AsyncReadExt;
    let mut header = [0u8; 4];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let mut payload = vec![0u8; payload_len(header)?];
    r.read_exact(&mut payload).await?;
    Ok(payload)
}

/// [`write_frame`] over tokio's I/O.
#[cfg(feature = "async")]
pub async fn write_frame_async(
    w: &mut (impl tokio::io::AsyncWrite + Unpin),
    payload: &[u8],
) -> Result<(), FrameError> {
    use tokio::io::AsyncWriteExt;
    w.write_all(&encode_frame(payload)?).await?;
    w.flush().await?;
    Ok(())
}
