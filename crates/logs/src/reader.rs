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
    let mut buf = vec![0u8; CHUNK];
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
