//! The json-file reader behind `docker logs`: rotated files oldest first, `tail` counted in
//! records, `since`/`until` filters, and `follow` that survives rotation.
//!
//! The writer lives in another process (the shim), so following polls the file (with a
//! short back-off) and notices rotation by the inode at the log's path changing.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::json::decode_record;
use crate::writer::rotated_name;
use crate::{Error, Result, Stream, Timestamp};

/// What `docker logs` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadOptions {
    /// Skip records older than this.
    pub since: Option<Timestamp>,
    /// End at the first record newer than this (and, when following, once it has passed).
    pub until: Option<Timestamp>,
    /// Only the last N records (counted before since/until, as docker does); None = all,
    /// Some(0) = none of the existing ones.
    pub tail: Option<usize>,
    /// Keep reading records as they are written until `stop` says so.
    pub follow: bool,
    /// Return each record's attributes (`docker logs --details`).
    pub details: bool,
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub stream: Stream,
    pub time: Timestamp,
    /// The output, ending in `\n` unless the record is a partial line.
    pub line: Vec<u8>,
    /// Extra attributes (only filled when `details` was asked for).
    pub attrs: BTreeMap<String, String>,
}

impl LogRecord {
    /// The bytes `docker logs` prints for this record: `[time ][attrs ]line`, with the
    /// time in RFC3339NanoFixed (`--timestamps`) and the attributes as [`format_attrs`]
    /// (`--details`). The daemon frames the result with [`crate::frame`] unless TTY.
    pub fn render(&self, timestamps: bool, details: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.line.len() + 40);
        if timestamps {
            out.extend_from_slice(crate::format_time_fixed(&self.time).as_bytes());
            out.push(b' ');
        }
        if details {
            out.extend_from_slice(format_attrs(&self.attrs).as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&self.line);
        out
    }
}

/// Shortest and longest pause between polls while following.
const POLL_MIN: Duration = Duration::from_millis(5);
const POLL_MAX: Duration = Duration::from_millis(100);
const CHUNK: usize = 64 * 1024;

/// Identity of an open file: (device, inode).
type FileId = (u64, u64);

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Done,
}

/// Reads the log at `path` (plus its rotated `<path>.1`, `<path>.2`…) and hands each record
/// to `on_record`, which returns false to end the read (e.g. the client went away).
///
/// Without `follow` it returns after the last record. With `follow` it keeps waiting for
/// new records, across rotations, until `stop()` returns true (the daemon's "container
/// exited" signal): it then reads what was written up to that moment and returns. It also
/// returns once `until` has passed. A missing log is an empty log.
pub fn read<S, F>(path: &Path, opts: &ReadOptions, stop: S, mut on_record: F) -> Result<()>
where
    S: Fn() -> bool,
    F: FnMut(LogRecord) -> bool,
{
    let mut emit = |line: &[u8]| -> Flow {
        let Some(rec) = decode_record(line, opts.details) else {
            return Flow::Continue;
        };
        if opts.since.is_some_and(|s| rec.time < s) {
            return Flow::Continue;
        }
        if opts.until.is_some_and(|u| rec.time > u) {
            return Flow::Done;
        }
        if on_record(rec) {
            Flow::Continue
        } else {
            Flow::Done
        }
    };

    let (current, rotated) = open_all(path)?;
    let files: Vec<File> = rotated.into_iter().map(|(f, _)| f).collect();
    let n_old = files.len();
    let mut cur_id = current.as_ref().map(|(_, id)| *id);
    let mut cur_file = current.map(|(f, _)| f);
    // Index i in 0..n_old is a rotated file (oldest first), n_old the current one.
    let file_at = |i: usize| {
        if i < n_old {
            Some(&files[i])
        } else {
            cur_file.as_ref()
        }
    };
    let mut lens = Vec::with_capacity(n_old + 1);
    for i in 0..=n_old {
        lens.push(match file_at(i) {
            Some(f) => f.metadata().map_err(|e| Error::io("stat", path, e))?.len(),
            None => 0,
        });
    }
    let mut starts = vec![0u64; n_old + 1];
    // First file to read; n_old + 1 = none of the existing records.
    let mut first = 0;
    match opts.tail {
        Some(n) => {
            first = n_old + 1;
            let mut remaining = n;
            for i in (0..=n_old).rev() {
                if remaining == 0 {
                    break;
                }
                let Some(f) = file_at(i) else { continue };
                let (off, found) = tail_offset(f, lens[i], remaining, path)?;
                starts[i] = off;
                remaining -= found;
                first = i;
            }
        }
        None => {
            // With `since`, rotated files whose last record is older need not be parsed.
            if let Some(since) = opts.since {
                while first < n_old
                    && last_time(&files[first], lens[first], path)?.is_some_and(|t| t < since)
                {
                    first += 1;
                }
            }
        }
    }

    // Rotated files: read whole (from their start offset).
    for (i, f) in files.iter().enumerate().skip(first) {
        let mut pos = starts[i];
        let mut pending = Vec::new();
        if drain(f, &mut pos, &mut pending, &mut emit, path)?.0 == Flow::Done {
            return Ok(());
        }
    }
    drop(files);

    // The current file, then (when following) whatever gets written next.
    let mut pos = match (first <= n_old, cur_file.as_ref()) {
        (true, _) => starts[n_old],
        // No old records wanted: follow from the end of the last complete record.
        (false, Some(f)) => tail_offset(f, lens[n_old], 0, path)?.0,
        (false, None) => 0,
    };
    let mut pending = Vec::new();
    if let Some(f) = cur_file.as_ref() {
        if drain(f, &mut pos, &mut pending, &mut emit, path)?.0 == Flow::Done {
            return Ok(());
        }
    }
    if !opts.follow {
        return Ok(());
    }

    let mut delay = POLL_MIN;
    loop {
        // Sampled before reading so everything written before stop was set is returned.
        let stopping = stop();
        let mut got = false;
        if let Some(f) = cur_file.as_ref() {
            let (flow, n) = drain(f, &mut pos, &mut pending, &mut emit, path)?;
            if flow == Flow::Done {
                return Ok(());
            }
            got = n > 0;
        }
        if let Some((new, id)) = open_id(path)? {
            if Some(id) != cur_id {
                // Rotated: finish the old file (records may have landed after the last
                // read), then continue at the top of the new one.
                if let Some(f) = cur_file.as_ref() {
                    if drain(f, &mut pos, &mut pending, &mut emit, path)?.0 == Flow::Done {
                        return Ok(());
                    }
                }
                cur_file = Some(new);
                cur_id = Some(id);
                pos = 0;
                pending.clear();
                delay = POLL_MIN;
                continue;
            }
        }
        if stopping {
            return Ok(());
        }
        if opts.until.is_some_and(|u| chrono::Utc::now() > u) {
            return Ok(());
        }
        if got {
            delay = POLL_MIN;
            continue;
        }
        let deadline = Instant::now() + delay;
        while Instant::now() < deadline {
            std::thread::sleep(deadline - Instant::now());
        }
        delay = (delay * 2).min(POLL_MAX);
    }
}

/// Reads `f` from `pos` to its end, emitting complete lines; an unterminated tail stays in
/// `pending` (the writer may be mid-record). Returns the flow and the bytes read.
fn drain(
    f: &File,
    pos: &mut u64,
    pending: &mut Vec<u8>,
    emit: &mut impl FnMut(&[u8]) -> Flow,
    path: &Path,
) -> Result<(Flow, u64)> {
    // A file shorter than our position was truncated in place: start over.
    let len = f.metadata().map_err(|e| Error::io("stat", path, e))?.len();
    if len < *pos {
        *pos = 0;
        pending.clear();
    }
    let mut buf = [0u8; CHUNK];
    let mut total = 0;
    loop {
        let n = match f.read_at(&mut buf, *pos) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("read log file", path, e)),
        };
        if n == 0 {
            return Ok((Flow::Continue, total));
        }
        *pos += n as u64;
        total += n as u64;
        let mut chunk = &buf[..n];
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            let flow = if pending.is_empty() {
                emit(&chunk[..nl])
            } else {
                pending.extend_from_slice(&chunk[..nl]);
                let flow = emit(pending);
                pending.clear();
                flow
            };
            if flow == Flow::Done {
                return Ok((Flow::Done, total));
            }
            chunk = &chunk[nl + 1..];
        }
        pending.extend_from_slice(chunk);
    }
}

/// Where the last `n` complete lines of `f[..len]` start, and how many there are (fewer
/// when the file is shorter); for `n == 0`, the end of the last complete line. Reads
/// backwards in chunks.
fn tail_offset(f: &File, len: u64, n: usize, path: &Path) -> Result<(u64, usize)> {
    let mut buf = vec![0u8; CHUNK];
    let mut end = len;
    let mut newlines = 0usize;
    // The first newline seen from the end closes the last complete line; a fragment after
    // it (a record being written) is not counted.
    let mut seen_last = false;
    while end > 0 {
        let start = end.saturating_sub(CHUNK as u64);
        let want = (end - start) as usize;
        read_exact_at(f, &mut buf[..want], start, path)?;
        for (i, &b) in buf[..want].iter().enumerate().rev() {
            if b != b'\n' {
                continue;
            }
            if !seen_last {
                if n == 0 {
                    return Ok((start + i as u64 + 1, 0));
                }
                seen_last = true;
                continue;
            }
            newlines += 1;
            if newlines == n {
                return Ok((start + i as u64 + 1, n));
            }
        }
        end = start;
    }
    Ok((0, if seen_last { newlines + 1 } else { 0 }.min(n)))
}

/// Time of the last complete record of `f[..len]`.
fn last_time(f: &File, len: u64, path: &Path) -> Result<Option<Timestamp>> {
    let (start, found) = tail_offset(f, len, 1, path)?;
    if found == 0 {
        return Ok(None);
    }
    let want = (len - start).min(1 << 20) as usize;
    let mut buf = vec![0u8; want];
    read_exact_at(f, &mut buf, start, path)?;
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    Ok(decode_record(line, false).map(|r| r.time))
}

fn read_exact_at(f: &File, buf: &mut [u8], off: u64, path: &Path) -> Result<()> {
    f.read_exact_at(buf, off)
        .map_err(|e| Error::io("read log file", path, e))
}

/// Opens a file and returns its identity; None when it does not exist.
fn open_id(path: &Path) -> Result<Option<(File, FileId)>> {
    match File::open(path) {
        Ok(f) => {
            let m = f.metadata().map_err(|e| Error::io("stat", path, e))?;
            Ok(Some((f, (m.dev(), m.ino()))))
        }
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("open log file", path, e)),
    }
}

/// Opens the current log and the rotated ones, the latter oldest first. Files are opened
/// newest first and de-duplicated by inode, so a rotation happening meanwhile can neither
/// hide a file nor show one twice.
#[allow(clippy::type_complexity)]
fn open_all(path: &Path) -> Result<(Option<(File, FileId)>, Vec<(File, FileId)>)> {
    let current = open_id(path)?;
    let mut seen: HashSet<FileId> = current.iter().map(|(_, id)| *id).collect();
    let max = max_rotated_index(path)?;
    let mut rotated = Vec::new();
    // One past the highest index seen, in case a rename lands while we open.
    for i in 1..=max.saturating_add(1) {
        if let Some((f, id)) = open_id(&rotated_name(path, i))? {
            if seen.insert(id) {
                rotated.push((f, id));
            }
        }
    }
    rotated.reverse();
    Ok((current, rotated))
}

/// The highest N of an existing `<path>.N`.
fn max_rotated_index(path: &Path) -> Result<u32> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(0);
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = {
        let mut p = name.as_encoded_bytes().to_vec();
        p.push(b'.');
        p
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("list log directory", dir, e)),
    };
    let mut max = 0;
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let bytes = file_name.as_encoded_bytes();
        if let Some(suffix) = bytes.strip_prefix(prefix.as_slice()) {
            if !suffix.is_empty() && suffix.iter().all(u8::is_ascii_digit) {
                if let Some(n) = std::str::from_utf8(suffix)
                    .ok()
                    .and_then(|s| s.parse().ok())
                {
                    max = max.max(n);
                }
            }
        }
    }
    Ok(max)
}

/// docker's `--details` prefix: attributes sorted by key, `k=v` pairs URL-query-escaped and
/// joined by commas.
pub fn format_attrs(attrs: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        query_escape(&mut out, k);
        out.push('=');
        query_escape(&mut out, v);
    }
    out
}

/// Go's url.QueryEscape.
fn query_escape(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::JsonFileWriter;
    use chrono::TimeZone;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn t(secs: i64) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 12, 0, 0)
            .unwrap()
            + chrono::Duration::seconds(secs)
    }

    fn line(i: usize) -> String {
        format!("line {i:04}\n")
    }

    /// Writes records 0..n (record i at t(i)) with files of `per_file` records.
    fn write_log(path: &Path, n: usize, per_file: u64, max_file: u32) -> JsonFileWriter {
        let rec = r#"{"log":"line 0000\n","stream":"stdout","time":"2026-11-23T12:00:00Z"}"#.len()
            as u64
            + 1;
        let mut w = JsonFileWriter::open(path, Some(rec * per_file), max_file).unwrap();
        for i in 0..n {
            let stream = if i % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            w.write(stream, line(i).as_bytes(), t(i as i64)).unwrap();
        }
        w
    }

    fn collect(path: &Path, opts: &ReadOptions) -> Vec<String> {
        let mut out = Vec::new();
        read(
            path,
            opts,
            || true,
            |r| {
                out.push(String::from_utf8(r.line).unwrap());
                true
            },
        )
        .unwrap();
        out
    }

    fn range(r: std::ops::Range<usize>) -> Vec<String> {
        r.map(line).collect()
    }

    #[test]
    fn reads_rotated_files_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        write_log(&path, 10, 3, 4);
        assert!(rotated_name(&path, 3).exists());
        assert_eq!(collect(&path, &ReadOptions::default()), range(0..10));
        let mut recs = Vec::new();
        read(
            &path,
            &ReadOptions::default(),
            || true,
            |r| {
                recs.push(r);
                true
            },
        )
        .unwrap();
        assert_eq!(recs[0].stream, Stream::Stdout);
        assert_eq!(recs[1].stream, Stream::Stderr);
        assert_eq!(recs[9].time, t(9));
    }

    #[test]
    fn tail_counts_records_across_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        // Files hold 3 records: .3 = 0-2, .2 = 3-5, .1 = 6-8, current = 9.
        write_log(&path, 10, 3, 4);
        let tail = |n| {
            collect(
                &path,
                &ReadOptions {
                    tail: Some(n),
                    ..Default::default()
                },
            )
        };
        assert_eq!(tail(1), range(9..10));
        assert_eq!(tail(2), range(8..10));
        assert_eq!(tail(5), range(5..10));
        assert_eq!(tail(0), Vec::<String>::new());
        assert_eq!(tail(100), collect(&path, &ReadOptions::default()));
        // Tail is taken first, then since filters within it (docker's order).
        let opts = ReadOptions {
            tail: Some(4),
            since: Some(t(8)),
            ..Default::default()
        };
        assert_eq!(collect(&path, &opts), range(8..10));
    }

    #[test]
    fn since_and_until_filter_by_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        write_log(&path, 12, 4, 5);
        let since = ReadOptions {
            since: Some(t(5)),
            ..Default::default()
        };
        assert_eq!(collect(&path, &since), range(5..12));
        let until = ReadOptions {
            until: Some(t(6)),
            ..Default::default()
        };
        assert_eq!(collect(&path, &until), range(0..7));
        let both = ReadOptions {
            since: Some(t(3)),
            until: Some(t(4)),
            ..Default::default()
        };
        assert_eq!(collect(&path, &both), range(3..5));
        let later = ReadOptions {
            since: Some(t(100)),
            ..Default::default()
        };
        assert!(collect(&path, &later).is_empty());
    }

    #[test]
    fn missing_log_torn_lines_and_details() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        assert!(collect(&path, &ReadOptions::default()).is_empty());
        let mut w = write_log(&path, 2, 100, 1);
        w.set_attrs(&[("k".to_string(), "v w".to_string())].into());
        w.write(Stream::Stdout, b"attr\n", t(3)).unwrap();
        drop(w);
        // A record cut short (crash mid-write) is not returned; garbage lines are skipped.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"not json\n{\"log\":\"cut").unwrap();
        let mut all = Vec::new();
        let opts = ReadOptions {
            details: true,
            ..Default::default()
        };
        read(
            &path,
            &opts,
            || true,
            |r| {
                all.push(r);
                true
            },
        )
        .unwrap();
        assert_eq!(all.len(), 3);
        assert!(all[0].attrs.is_empty());
        assert_eq!(format_attrs(&all[2].attrs), "k=v+w");
        // Without details attributes are not returned.
        let mut no_details = Vec::new();
        read(
            &path,
            &ReadOptions::default(),
            || true,
            |r| {
                no_details.push(r);
                true
            },
        )
        .unwrap();
        assert!(no_details[2].attrs.is_empty());
        // tail does not count the torn fragment; a garbage line counts (as in docker, tail
        // counts lines) but is not returned.
        let opts = ReadOptions {
            tail: Some(2),
            ..Default::default()
        };
        assert_eq!(collect(&path, &opts), vec!["attr\n".to_string()]);
    }

    #[test]
    fn the_callback_can_end_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        write_log(&path, 10, 3, 4);
        let mut n = 0;
        let opts = ReadOptions {
            follow: true,
            ..Default::default()
        };
        read(
            &path,
            &opts,
            || false,
            |_| {
                n += 1;
                n < 4
            },
        )
        .unwrap();
        assert_eq!(n, 4);
    }

    #[test]
    fn follow_picks_up_appends_and_rotations_until_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = write_log(&path, 5, 3, 3);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = {
            let path = path.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let opts = ReadOptions {
                    tail: Some(2),
                    follow: true,
                    ..Default::default()
                };
                read(
                    &path,
                    &opts,
                    || stop.load(Ordering::SeqCst),
                    |r| tx.send(String::from_utf8(r.line).unwrap()).is_ok(),
                )
            })
        };
        let recv = |n: usize| -> Vec<String> {
            (0..n)
                .map(|_| {
                    rx.recv_timeout(Duration::from_secs(10))
                        .expect("record not followed")
                })
                .collect()
        };
        assert_eq!(recv(2), range(3..5));
        // Appends, then enough records for two rotations (the follower must not lose the
        // tail of a file rotated under it), written in bursts.
        for i in 5..7 {
            w.write(Stream::Stdout, line(i).as_bytes(), t(i as i64))
                .unwrap();
        }
        assert_eq!(recv(2), range(5..7));
        for i in 7..14 {
            w.write(Stream::Stdout, line(i).as_bytes(), t(i as i64))
                .unwrap();
            if i % 3 == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        assert_eq!(recv(7), range(7..14));
        // A partial line is delivered when it is written out at EOF; then stop.
        w.write(Stream::Stderr, b"last words", t(20)).unwrap();
        w.finish(t(21)).unwrap();
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap().unwrap();
        let rest: Vec<String> = rx.try_iter().collect();
        assert_eq!(rest, vec!["last words".to_string()]);
    }

    #[test]
    fn follow_with_tail_zero_sees_only_new_records_and_waits_for_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = {
            let path = path.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let opts = ReadOptions {
                    tail: Some(0),
                    follow: true,
                    ..Default::default()
                };
                read(
                    &path,
                    &opts,
                    || stop.load(Ordering::SeqCst),
                    |r| tx.send(String::from_utf8(r.line).unwrap()).is_ok(),
                )
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        // The log appears only now (container started after `logs -f`).
        let mut w = write_log(&path, 3, 100, 1);
        let got: Vec<String> = (0..3)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(got, range(0..3));
        w.write(Stream::Stdout, b"more\n", t(9)).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "more\n");
        stop.store(true, Ordering::SeqCst);
        reader.join().unwrap().unwrap();
    }

    #[test]
    fn follow_ends_when_until_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        write_log(&path, 2, 10, 1);
        let opts = ReadOptions {
            follow: true,
            until: Some(chrono::Utc::now() + chrono::Duration::milliseconds(100)),
            ..Default::default()
        };
        let started = Instant::now();
        let mut n = 0;
        read(
            &path,
            &opts,
            || false,
            |_| {
                n += 1;
                true
            },
        )
        .unwrap();
        assert_eq!(n, 2);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn render_prefixes_time_and_details_like_docker() {
        let rec = LogRecord {
            stream: Stream::Stdout,
            time: t(1) + chrono::Duration::nanoseconds(5_000),
            line: b"hi\n".to_vec(),
            attrs: [("k".to_string(), "v".to_string())].into(),
        };
        assert_eq!(rec.render(false, false), b"hi\n");
        assert_eq!(
            rec.render(true, false),
            b"2026-11-23T12:00:01.000005000Z hi\n"
        );
        assert_eq!(
            rec.render(true, true),
            b"2026-11-23T12:00:01.000005000Z k=v hi\n"
        );
        let bare = LogRecord {
            attrs: BTreeMap::new(),
            ..rec
        };
        assert_eq!(bare.render(false, true), b" hi\n");
    }

    #[test]
    fn details_prefix_is_query_escaped() {
        let attrs: BTreeMap<String, String> = [
            ("b".to_string(), "x&y=z".to_string()),
            ("a b".to_string(), "é".to_string()),
        ]
        .into();
        assert_eq!(format_attrs(&attrs), "a+b=%C3%A9,b=x%26y%3Dz");
        assert_eq!(format_attrs(&BTreeMap::new()), "");
    }
}
