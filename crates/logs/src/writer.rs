//! The json-file writer: one JSON record per line of container output, rotated by size.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use chrono::Timelike;

use crate::json::{escape_into, push_fraction_z, push_seconds};
use crate::{Error, Result, Stream, Timestamp};

/// Longest run of output without a newline kept in one record; longer lines are written as
/// several partial records (no trailing `\n`), as docker's log copier does (16 KiB buffer).
pub const MAX_RECORD_BYTES: usize = 16 * 1024;

/// File size cap when the container was given no `max-size` (docker's json-file has none
/// and lets logs grow without bound; berth caps them like docker's `local` driver: 20 MiB).
pub const DEFAULT_MAX_SIZE: u64 = 20 * 1024 * 1024;

/// Number of files kept when neither `max-size` nor `max-file` was given (with
/// [`DEFAULT_MAX_SIZE`]: at most 100 MiB per container, as docker's `local` driver).
pub const DEFAULT_MAX_FILE: u32 = 5;

/// Permissions of log files, as dockerd creates them.
const FILE_MODE: u32 = 0o640;

/// Output of one stream not yet ended by a newline.
#[derive(Default)]
struct Pending {
    data: Vec<u8>,
    /// Time of the first partial record of a line split over several records: docker
    /// stamps all of them, and the line's end, with that time.
    series: Option<Timestamp>,
}

/// Appends docker json-file records to `<path>`, rotating to `<path>.1` … `<path>.<max_file-1>`.
pub struct JsonFileWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    max_file: u32,
    pending: [Pending; 2],
    /// `,"attrs":{…}` ready to splice into every record (empty when there are none).
    attrs: Vec<u8>,
    /// Reused record buffer: one allocation for the life of the writer.
    buf: Vec<u8>,
    /// Formatted `YYYY-MM-DDTHH:MM:SS` of the last second seen.
    sec_cache: Option<(i64, [u8; 19])>,
}

impl JsonFileWriter {
    /// Opens (appending) or creates the log. `max_size` None means [`DEFAULT_MAX_SIZE`];
    /// `max_file` below 1 is treated as 1 (a single file, replaced when full).
    pub fn open(path: &Path, max_size: Option<u64>, max_file: u32) -> Result<Self> {
        let file = open_append(path)?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("stat", path, e))?
            .len();
        Ok(JsonFileWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.unwrap_or(DEFAULT_MAX_SIZE).max(1),
            max_file: max_file.max(1),
            pending: Default::default(),
            attrs: Vec::new(),
            buf: Vec::with_capacity(MAX_RECORD_BYTES * 2),
            sec_cache: None,
        })
    }

    /// Extra attributes written into every record (`"attrs":{…}`, from the `labels`/`env`
    /// log options; see [`crate::extra_attrs`]), shown by `docker logs --details`.
    pub fn set_attrs(&mut self, attrs: &std::collections::BTreeMap<String, String>) {
        self.attrs.clear();
        if attrs.is_empty() {
            return;
        }
        self.attrs.extend_from_slice(b",\"attrs\":{");
        for (i, (k, v)) in attrs.iter().enumerate() {
            if i > 0 {
                self.attrs.push(b',');
            }
            escape_into(&mut self.attrs, k.as_bytes());
            self.attrs.push(b':');
            escape_into(&mut self.attrs, v.as_bytes());
        }
        self.attrs.push(b'}');
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Logs a chunk of a stream's output received at `time`: each completed line becomes one
    /// record (ending in `\n`); a run of 16 KiB without a newline is written as a partial
    /// record; the rest waits for more output or [`flush`](Self::flush).
    pub fn write(&mut self, stream: Stream, bytes: &[u8], time: Timestamp) -> Result<()> {
        let idx = stream.index();
        let mut rest = bytes;
        while !rest.is_empty() {
            let held = self.pending[idx].data.len();
            let room = MAX_RECORD_BYTES - held;
            let window = &rest[..rest.len().min(room)];
            let (take, ts) = if let Some(nl) = window.iter().position(|&b| b == b'\n') {
                (nl + 1, self.pending[idx].series.take().unwrap_or(time))
            } else if held + rest.len() >= MAX_RECORD_BYTES {
                (room, *self.pending[idx].series.get_or_insert(time))
            } else {
                self.pending[idx].data.extend_from_slice(rest);
                break;
            };
            if held == 0 {
                self.emit(stream, &rest[..take], ts)?;
            } else {
                // Escape the joined line so a UTF-8 sequence split across reads stays valid.
                let mut line = std::mem::take(&mut self.pending[idx].data);
                line.extend_from_slice(&rest[..take]);
                let res = self.emit(stream, &line, ts);
                line.clear();
                self.pending[idx].data = line;
                res?;
            }
            rest = &rest[take..];
        }
        Ok(())
    }

    /// Writes out a stream's unterminated output as a partial record (no `\n`), as docker
    /// does when the stream ends (EOF). No-op when nothing is held.
    pub fn flush(&mut self, stream: Stream, time: Timestamp) -> Result<()> {
        let idx = stream.index();
        if self.pending[idx].data.is_empty() {
            return Ok(());
        }
        let ts = self.pending[idx].series.take().unwrap_or(time);
        let line = std::mem::take(&mut self.pending[idx].data);
        let res = self.emit(stream, &line, ts);
        self.pending[idx].data = line;
        self.pending[idx].data.clear();
        res
    }

    /// Flushes both streams (call when the container's output has ended).
    pub fn finish(&mut self, time: Timestamp) -> Result<()> {
        self.flush(Stream::Stdout, time)?;
        self.flush(Stream::Stderr, time)
    }

    /// Writes one record of `line` with one write(2), rotating first when the current file
    /// has reached max-size (as docker: a file may exceed it by one record).
    fn emit(&mut self, stream: Stream, line: &[u8], ts: Timestamp) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.extend_from_slice(b"{\"log\":");
        escape_into(&mut buf, line);
        buf.extend_from_slice(b",\"stream\":\"");
        buf.extend_from_slice(stream.as_str().as_bytes());
        buf.push(b'"');
        buf.extend_from_slice(&self.attrs);
        buf.extend_from_slice(b",\"time\":\"");
        self.push_time(&mut buf, &ts);
        buf.extend_from_slice(b"\"}\n");
        let res = self.append(&buf);
        self.buf = buf;
        res
    }

    fn push_time(&mut self, buf: &mut Vec<u8>, ts: &Timestamp) {
        let secs = ts.timestamp();
        match &self.sec_cache {
            Some((s, text)) if *s == secs => buf.extend_from_slice(text),
            _ => {
                let start = buf.len();
                push_seconds(buf, ts);
                let mut text = [0u8; 19];
                if buf.len() - start == text.len() {
                    text.copy_from_slice(&buf[start..]);
                    self.sec_cache = Some((secs, text));
                }
            }
        }
        push_fraction_z(buf, ts.nanosecond());
    }

    fn append(&mut self, record: &[u8]) -> Result<()> {
        if self.size >= self.max_size {
            self.rotate()?;
        }
        self.file
            .write_all(record)
            .map_err(|e| Error::io("write", &self.path, e))?;
        self.size += record.len() as u64;
        Ok(())
    }

    /// Shifts `<path>.N-2`… up by one, moves the current file to `.1` (or removes it when
    /// only one file is kept) and starts an empty one. Readers holding the old file open keep
    /// reading it; a new inode at `<path>` tells followers a rotation happened.
    fn rotate(&mut self) -> Result<()> {
        if self.max_file >= 2 {
            let oldest = rotated_name(&self.path, self.max_file - 1);
            remove_if_exists(&oldest)?;
            for i in (2..self.max_file).rev() {
                let from = rotated_name(&self.path, i - 1);
                let to = rotated_name(&self.path, i);
                rename_if_exists(&from, &to)?;
            }
            rename_if_exists(&self.path, &rotated_name(&self.path, 1))?;
        } else {
            remove_if_exists(&self.path)?;
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `<path>.<n>`.
pub(crate) fn rotated_name(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open_append(path: &Path) -> Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| Error::io("open log file", path, e))
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("remove rotated log", path, e))
        }
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("rotate log", from, e)),
        _ => Ok(()),
    }
}
