//! docker's stream multiplexing (stdcopy): each chunk is preceded by an 8-byte header
//! `[stream, 0, 0, 0, len as u32 big-endian]`. Used for logs, attach and exec without a TTY.

use crate::Stream;

pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
/// docker's "systemerr" stream: an error the daemon reports in the middle of a stream.
pub const SYSTEMERR: u8 = 3;

const HEADER: usize = 8;

/// One framed chunk: header + `data`.
pub fn frame(stream: Stream, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + data.len());
    frame_into(&mut out, stream.frame_byte(), data);
    out
}

/// Appends `data` framed as stream byte `kind` (see the constants) to `out`.
/// Chunks beyond u32::MAX bytes are split, since the length field is 32 bits.
pub fn frame_into(out: &mut Vec<u8>, kind: u8, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    for chunk in data.chunks(u32::MAX as usize) {
        let len = (chunk.len() as u32).to_be_bytes();
        out.extend_from_slice(&[kind, 0, 0, 0, len[0], len[1], len[2], len[3]]);
        out.extend_from_slice(chunk);
    }
}

/// Incremental decoder of a multiplexed byte stream (for tests and clients).
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame as (stream byte, payload), if one is buffered.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let avail = &self.buf[self.start..];
        if avail.len() < HEADER {
            return None;
        }
        let len = u32::from_be_bytes([avail[4], avail[5], avail[6], avail[7]]) as usize;
        if avail.len() < HEADER + len {
            return None;
        }
        let payload = avail[HEADER..HEADER + len].to_vec();
        let kind = avail[0];
        self.start += HEADER + len;
        // Reclaim consumed space once it dominates the buffer.
        if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Some((kind, payload))
    }

    /// Bytes buffered that do not yet form a whole frame.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout() {
        let f = frame(Stream::Stderr, b"hello");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(&f[8..], b"hello");
        let f = frame(Stream::Stdout, &[7u8; 300]);
        assert_eq!(&f[..8], &[1, 0, 0, 0, 0, 0, 1, 44]);
        assert_eq!(f.len(), 308);
        assert!(frame(Stream::Stdout, b"").is_empty());
    }

    #[test]
    fn decoder_handles_split_input() {
        let mut all = frame(Stream::Stdout, b"one\n");
        frame_into(&mut all, SYSTEMERR, b"boom");
        all.extend(frame(Stream::Stderr, b"two"));
        let mut d = FrameDecoder::new();
        let mut got = Vec::new();
        for b in &all {
            d.push(std::slice::from_ref(b));
            while let Some(f) = d.next_frame() {
                got.push(f);
            }
        }
        assert_eq!(
            got,
            vec![
                (STDOUT, b"one\n".to_vec()),
                (SYSTEMERR, b"boom".to_vec()),
                (STDERR, b"two".to_vec())
            ]
        );
        assert_eq!(d.pending(), 0);
        d.push(&[1, 0, 0]);
        assert_eq!(d.next_frame(), None);
        assert_eq!(d.pending(), 3);
    }
}
