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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
            + chrono::Duration::milliseconds(ms)
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn logs(path: &Path) -> Vec<String> {
        lines(path)
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["log"].as_str().unwrap().to_string()
            })
            .collect()
    }

    #[test]
    fn one_record_per_line_in_dockers_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&path, None, 1).unwrap();
        w.write(Stream::Stdout, b"hello <world>\nsecond", t(0))
            .unwrap();
        w.write(Stream::Stdout, b" half\n", t(1500)).unwrap();
        w.write(Stream::Stderr, b"oops\n", t(2000)).unwrap();
        assert_eq!(
            lines(&path),
            vec![
                r#"{"log":"hello \u003cworld\u003e\n","stream":"stdout","time":"2026-11-23T12:00:00Z"}"#,
                r#"{"log":"second half\n","stream":"stdout","time":"2026-11-23T12:00:01.5Z"}"#,
                r#"{"log":"oops\n","stream":"stderr","time":"2026-11-23T12:00:02Z"}"#,
            ]
        );
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o640
        );
    }

    #[test]
    fn streams_are_buffered_separately_and_flushed_at_eof() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&path, None, 1).unwrap();
        w.write(Stream::Stdout, b"out-", t(0)).unwrap();
        w.write(Stream::Stderr, b"err\n", t(1)).unwrap();
        w.write(Stream::Stdout, b"line\nno newline", t(2)).unwrap();
        w.write(Stream::Stderr, b"err tail", t(3)).unwrap();
        assert_eq!(logs(&path), vec!["err\n", "out-line\n"]);
        w.finish(t(4)).unwrap();
        assert_eq!(
            logs(&path),
            vec!["err\n", "out-line\n", "no newline", "err tail"]
        );
        // Flushing again writes nothing.
        w.finish(t(5)).unwrap();
        assert_eq!(lines(&path).len(), 4);
    }

    #[test]
    fn utf8_split_across_reads_stays_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&path, None, 1).unwrap();
        let e = "é".as_bytes();
        w.write(Stream::Stdout, &e[..1], t(0)).unwrap();
        w.write(Stream::Stdout, &[e[1], b'\n', 0xff, b'\n'], t(0))
            .unwrap();
        assert_eq!(logs(&path), vec!["é\n", "\u{fffd}\n"]);
        assert!(lines(&path)[1].contains(r#""log":"\ufffd\n""#));
    }

    #[test]
    fn long_lines_become_16k_partial_records_sharing_the_first_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&path, None, 1).unwrap();
        // Exactly one byte short of the buffer: a single record.
        let mut fits = vec![b'a'; MAX_RECORD_BYTES - 1];
        fits.push(b'\n');
        w.write(Stream::Stdout, &fits, t(0)).unwrap();
        // 40000 bytes then a newline, fed in uneven pieces at different times.
        let long = vec![b'b'; 40_000];
        w.write(Stream::Stdout, &long[..1000], t(10)).unwrap();
        w.write(Stream::Stdout, &long[1000..20_000], t(20)).unwrap();
        w.write(Stream::Stdout, &long[20_000..], t(30)).unwrap();
        w.write(Stream::Stdout, b"\nnext\n", t(40)).unwrap();
        let recs: Vec<serde_json::Value> = lines(&path)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let sizes: Vec<usize> = recs
            .iter()
            .map(|r| r["log"].as_str().unwrap().len())
            .collect();
        assert_eq!(
            sizes,
            vec![
                MAX_RECORD_BYTES,
                MAX_RECORD_BYTES,
                MAX_RECORD_BYTES,
                40_000 - 2 * MAX_RECORD_BYTES + 1,
                5
            ]
        );
        assert!(recs[0]["log"].as_str().unwrap().ends_with('\n'));
        assert!(!recs[1]["log"].as_str().unwrap().ends_with('\n'));
        assert!(!recs[2]["log"].as_str().unwrap().ends_with('\n'));
        assert!(recs[3]["log"].as_str().unwrap().ends_with("b\n"));
        // The pieces of the split line all carry the time of its first partial record.
        let times: Vec<&str> = recs.iter().map(|r| r["time"].as_str().unwrap()).collect();
        assert_eq!(
            times,
            vec![
                "2026-11-23T12:00:00Z",
                "2026-11-23T12:00:00.02Z",
                "2026-11-23T12:00:00.02Z",
                "2026-11-23T12:00:00.02Z",
                "2026-11-23T12:00:00.04Z"
            ]
        );
        // A line of exactly 16 KiB: a full partial record, then "\n" alone.
        let mut exact = vec![b'c'; MAX_RECORD_BYTES];
        exact.push(b'\n');
        w.write(Stream::Stderr, &exact, t(50)).unwrap();
        let l = logs(&path);
        assert_eq!(l[l.len() - 2].len(), MAX_RECORD_BYTES);
        assert_eq!(l[l.len() - 1], "\n");
    }

    #[test]
    fn attrs_sit_between_stream_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = JsonFileWriter::open(&path, None, 1).unwrap();
        let attrs = [
            ("z".to_string(), "1".to_string()),
            ("a<".to_string(), "x y".to_string()),
        ]
        .into();
        w.set_attrs(&attrs);
        w.write(Stream::Stdout, b"x\n", t(0)).unwrap();
        assert_eq!(
            lines(&path),
            vec![
                r#"{"log":"x\n","stream":"stdout","attrs":{"a\u003c":"x y","z":"1"},"time":"2026-11-23T12:00:00Z"}"#
            ]
        );
    }

    fn record_len(i: usize) -> usize {
        format!(r#"{{"log":"line {i:04}\n","stream":"stdout","time":"2026-11-23T12:00:00Z"}}"#)
            .len()
            + 1
    }

    #[test]
    fn rotation_keeps_max_file_files_of_about_max_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let rec = record_len(0) as u64;
        let max_size = 3 * rec + 10; // rotates after every 4th record
        let mut w = JsonFileWriter::open(&path, Some(max_size), 3).unwrap();
        for i in 0..22 {
            w.write(Stream::Stdout, format!("line {i:04}\n").as_bytes(), t(0))
                .unwrap();
        }
        assert!(
            !rotated_name(&path, 3).exists(),
            "only max-file files are kept"
        );
        let f2 = logs(&rotated_name(&path, 2));
        let f1 = logs(&rotated_name(&path, 1));
        let cur = logs(&path);
        // A file is rotated once it has reached max-size, before the next record.
        assert_eq!(
            f2,
            (12..16)
                .map(|i| format!("line {i:04}\n"))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            f1,
            (16..20)
                .map(|i| format!("line {i:04}\n"))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            cur,
            (20..22)
                .map(|i| format!("line {i:04}\n"))
                .collect::<Vec<_>>()
        );
        for p in [rotated_name(&path, 1), rotated_name(&path, 2)] {
            let len = std::fs::metadata(&p).unwrap().len();
            assert!(len >= max_size && len < max_size + rec, "{len}");
        }
    }

    #[test]
    fn single_file_is_replaced_and_reopen_continues_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let rec = record_len(0) as u64;
        {
            let mut w = JsonFileWriter::open(&path, Some(2 * rec), 1).unwrap();
            for i in 0..3 {
                w.write(Stream::Stdout, format!("line {i:04}\n").as_bytes(), t(0))
                    .unwrap();
            }
        }
        assert_eq!(logs(&path), vec!["line 0002\n"]);
        assert!(!rotated_name(&path, 1).exists());
        // A new writer (a restarted shim) appends and counts what is there.
        let mut w = JsonFileWriter::open(&path, Some(2 * rec), 2).unwrap();
        w.write(Stream::Stdout, b"line 0003\n", t(0)).unwrap();
        w.write(Stream::Stdout, b"line 0004\n", t(0)).unwrap();
        assert_eq!(
            logs(&rotated_name(&path, 1)),
            vec!["line 0002\n", "line 0003\n"]
        );
        assert_eq!(logs(&path), vec!["line 0004\n"]);
        assert_eq!(w.path(), path.as_path());
    }

    #[test]
    fn open_reports_the_path() {
        let err = JsonFileWriter::open(Path::new("/nonexistent-dir-berth/x-json.log"), None, 1)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("/nonexistent-dir-berth/x-json.log"),
            "{err}"
        );
    }
}
