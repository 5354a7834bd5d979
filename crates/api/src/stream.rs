//! Bridges between HTTP bodies and the daemon's blocking readers and writers.

use std::io::{self, Write};

use axum::body::Body;
use berth_api_types::JsonMessage;
use bytes::{Bytes, BytesMut};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;
use tokio_util::io::{StreamReader, SyncIoBridge};

/// A blocking reader of a request body, for use inside `spawn_blocking`.
pub fn body_reader(body: Body) -> impl io::Read + Send + 'static {
    let stream = body.into_data_stream().map_err(io::Error::other);
    SyncIoBridge::new(StreamReader::new(stream))
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

    /// Writes one JSON message line and flushes it to the client at once.
    pub fn message(&mut self, m: &JsonMessage) -> io::Result<()> {
        serde_json::to_writer(&mut *self, m).map_err(io::Error::other)?;
        self.write_all(b"\r\n")?;
        self.flush()
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
