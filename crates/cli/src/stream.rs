//! Container I/O streams as the docker CLI handles them: the multiplexed frame
//! format (`stdcopy`), the detach-key escape proxy (moby/term), and the
//! hijacked-connection streamer shared by `run`, `start -a`, `attach` and `exec`.

use std::io::Write;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::error::{CliError, Result};
use crate::term::RawMode;

/// Splits docker's multiplexed stream (8-byte header `[stream,0,0,0,size_be32]`
/// then the payload) and writes stdout frames to `out`, stderr frames to `err`.
#[derive(Debug, Default)]
pub struct StdCopy {
    buf: Vec<u8>,
}

impl StdCopy {
    /// Feeds one chunk; complete frames are written at once.
    pub fn write(&mut self, chunk: &[u8], out: &mut dyn Write, err: &mut dyn Write) -> Result<()> {
        self.buf.extend_from_slice(chunk);
        let mut used = 0;
        while self.buf.len() - used >= 8 {
            let h = &self.buf[used..used + 8];
            let size = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            let stream = h[0];
            if self.buf.len() - used - 8 < size {
                break;
            }
            let payload = &self.buf[used + 8..used + 8 + size];
            match stream {
                // stdin frames are echoed to stdout, as stdcopy does.
                0 | 1 => out.write_all(payload)?,
                2 => err.write_all(payload)?,
                3 => {
                    return Err(CliError::msg(format!(
                        "error from daemon in stream: {}",
                        String::from_utf8_lossy(payload)
                    )))
                }
                n => return Err(CliError::msg(format!("Unrecognized input header: {n}"))),
            }
            used += 8 + size;
        }
        self.buf.drain(..used);
        out.flush()?;
        err.flush()?;
        Ok(())
    }
}

/// moby/term's escape proxy: single keystrokes matching the detach sequence are
/// held back; the whole sequence detaches, a mismatch releases what was held.
#[derive(Debug)]
pub struct EscapeProxy {
    keys: Vec<u8>,
    pos: usize,
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> Self {
        EscapeProxy { keys, pos: 0 }
    }

    /// The bytes to forward for one read of `chunk`, and whether the sequence
    /// completed (detach).
    pub fn feed(&mut self, chunk: &[u8]) -> (Vec<u8>, bool) {
        if self.keys.is_empty() {
            return (chunk.to_vec(), false);
        }
        let release = |pos: &mut usize, keys: &[u8]| {
            let mut v = keys[..*pos].to_vec();
            v.extend_from_slice(chunk);
            *pos = 0;
            v
        };
        if chunk.len() != 1 || chunk[0] != self.keys[self.pos] {
            if self.pos > 0 {
                return (release(&mut self.pos, &self.keys), false);
            }
            return (chunk.to_vec(), false);
        }
        if self.pos == self.keys.len() - 1 {
            self.pos = 0;
            return (Vec::new(), true);
        }
        self.pos += 1;
        (Vec::new(), false)
    }
}

/// What the caller attached and how the stream is framed.
#[derive(Debug, Clone)]
pub struct StreamOpts {
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Detach sequence (`--detach-keys` or docker's ctrl-p,ctrl-q); only used with a TTY.
    pub detach_keys: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The daemon closed the output (the process ended or stdin-only input finished).
    Closed,
    /// The user typed the detach sequence.
    Detached,
}

/// Reads the process's stdin on a thread of its own: a blocking read cannot be
/// cancelled, and a thread outside the runtime does not hold up its shutdown.
fn stdin_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Copies stdin to the hijacked connection and its output to `out`/`err` until
/// the output ends (or, with a TTY, the detach keys are typed). With a TTY and
/// stdin the local terminal is in raw mode meanwhile and restored after.
pub async fn stream(
    io: Upgraded,
    opts: &StreamOpts,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<StreamEnd> {
    let mut raw = if opts.tty && opts.stdin {
        Some(RawMode::enable().map_err(|e| {
            CliError::msg(format!(
                "unable to setup input stream: unable to set IO streams as raw terminal: {e}"
            ))
        })?)
    } else {
        None
    };
    let (mut rd, mut wr) = tokio::io::split(TokioIo::new(io));
    let has_output = opts.stdout || opts.stderr;
    let mut proxy = EscapeProxy::new(if opts.tty {
        opts.detach_keys.clone()
    } else {
        Vec::new()
    });
    let mut input = if opts.stdin {
        Some(stdin_reader())
    } else {
        // No input: send EOF at once, as docker's CloseWrite does.
        let _ = wr.shutdown().await;
        if !has_output {
            return Ok(StreamEnd::Closed);
        }
        None
    };
    let mut demux = StdCopy::default();
    let mut buf = vec![0u8; 32 * 1024];
    let end = loop {
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = r.map_err(|e| CliError::Transport(e.to_string()))?;
                if n == 0 {
                    break StreamEnd::Closed;
                }
                if opts.tty {
                    out.write_all(&buf[..n])?;
                    out.flush()?;
                } else {
                    demux.write(&buf[..n], out, err)?;
                }
            }
            chunk = async { match input.as_mut() { Some(rx) => rx.recv().await, None => None } }, if input.is_some() => {
                match chunk {
                    Some(bytes) => {
                        let (fwd, detach) = proxy.feed(&bytes);
                        if !fwd.is_empty() && wr.write_all(&fwd).await.is_err() {
                            // The daemon closed its side; output tells the rest.
                            input = None;
                        }
                        if detach {
                            break StreamEnd::Detached;
                        }
                    }
                    None => {
                        input = None;
                        if let Some(r) = raw.as_mut() {
                            r.restore();
                        }
                        let _ = wr.shutdown().await;
                        if !has_output {
                            break StreamEnd::Closed;
                        }
                    }
                }
            }
        }
    };
    drop(raw);
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn demultiplexes_split_frames() {
        let mut all = frame(1, b"hello ");
        all.extend(frame(2, b"oops\n"));
        all.extend(frame(1, b"world\n"));
        all.extend(frame(1, b""));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut d = StdCopy::default();
        // One byte at a time: headers and payloads split anywhere.
        for b in &all {
            d.write(std::slice::from_ref(b), &mut out, &mut err)
                .unwrap();
        }
        assert_eq!(out, b"hello world\n");
        assert_eq!(err, b"oops\n");
        assert!(d.buf.is_empty());
        let e = d.write(&frame(3, b"boom"), &mut out, &mut err).unwrap_err();
        assert_eq!(e.to_string(), "error from daemon in stream: boom");
        let e = StdCopy::default()
            .write(&frame(7, b"x"), &mut out, &mut err)
            .unwrap_err();
        assert_eq!(e.to_string(), "Unrecognized input header: 7");
    }

    #[test]
    fn escape_proxy_like_moby_term() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ls\n"), (b"ls\n".to_vec(), false));
        // ctrl-p held back, then released with a non-matching key.
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.feed(b"a"), (vec![16, b'a'], false));
        // The full sequence detaches.
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.feed(&[17]), (vec![], true));
        // A pasted chunk containing the keys is not a keystroke: forwarded.
        assert_eq!(p.feed(&[16, 17]), (vec![16, 17], false));
        let mut none = EscapeProxy::new(vec![]);
        assert_eq!(none.feed(&[16]), (vec![16], false));
    }
}
