//! Bridges between HTTP bodies and the daemon's blocking readers and writers.

use std::io::{self, Write};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use tokio::sync::mpsc;

/// Bytes handed to the blocking side at once: large, so a 100 MB upload costs
/// a hundred thread wake-ups rather than one per HTTP chunk.
const BATCH: usize = 1 << 20;

/// A blocking reader of a request body, for use inside `spawn_blocking`. A task
/// gathers the body's frames into batches; the reader takes whole batches.
pub fn body_reader(body: Body) -> impl io::Read + Send + 'static {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let mut frames = body.into_data_stream();
        let mut batch = BytesMut::new();
        loop {
            match frames.next().await {
                Some(Ok(frame)) => {
                    batch.extend_from_slice(&frame);
                    if batch.len() < BATCH {
                        continue;
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(io::Error::other(e))).await;
                    return;
                }
                None => {
                    if !batch.is_empty() {
                        let _ = tx.send(Ok(batch.freeze())).await;
                    }
                    return;
                }
            }
            if tx.send(Ok(batch.split().freeze())).await.is_err() {
                return; // the reader is gone
            }
        }
    });
    BatchReader {
        rx,
        cur: Bytes::new(),
    }
}

struct BatchReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

impl io::Read for BatchReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        bytes::Buf::advance(&mut self.cur, n);
        Ok(n)
    }
}

const CHUNK: usize = 256 * 1024;

/// A blocking writer whose bytes become a streamed response body.
pub struct BodyWriter {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: BytesMut,
}

impl BodyWriter {
    pub fn new() -> (BodyWriter, Body) {
        let (tx, rx) = mpsc::channel(8);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        (
            BodyWriter {
                tx,
                buf: BytesMut::with_capacity(CHUNK),
            },
            Body::from_stream(stream),
        )
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = self.buf.split().freeze();
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }

    /// Ends the body with an error: the client sees a broken transfer, never a short success.
    pub fn fail(mut self, e: impl std::fmt::Display) {
        self.buf.clear();
        let _ = self.tx.blocking_send(Err(io::Error::other(e.to_string())));
    }
}

impl Write for BodyWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for BodyWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}
