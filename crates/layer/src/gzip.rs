//! Gzip compression of layer tars on several threads (for push).
//!
//! The input is cut into 1 MiB chunks. Each is deflated on its own, primed with
//! the 32 KiB before it (as pigz does, so the ratio is close to a one-thread
//! gzip), and ended with a sync flush, so the pieces join into one deflate
//! stream; an empty final block, the CRC-32 of the whole input (combined from
//! the chunks') and its length close the gzip member. A chunk whose bytes look
//! random (already compressed or encrypted data) is written as stored blocks
//! instead of being run through deflate, which would only make it larger: that
//! costs a copy where deflate costs most of a core.
//!
//! The output depends only on the input and the level, not on the thread
//! count or timing, so the same layer always compresses to the same digest.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use flate2::{Compress, Compression, FlushCompress};

/// Uncompressed bytes per chunk.
const CHUNK: usize = 1 << 20;
/// Deflate's window: how much of the previous chunk primes the next.
const DICT: usize = 32 << 10;
/// Largest stored block.
const STORED_MAX: usize = 65535;
/// Order-0 entropy (bits per byte) above which a chunk is stored.
const RANDOM_BITS: f64 = 7.95;
/// Bytes of a chunk whose entropy is measured (spread over the chunk).
const SAMPLE: usize = 64 << 10;

/// gzip header: deflate, no name, mtime 0, OS unknown (as Go's compress/gzip).
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
/// An empty final fixed-Huffman block: ends the deflate stream.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// A compressed chunk: its deflate blocks, the CRC-32 and length of its input.
type Done = io::Result<(Vec<u8>, crc32fast::Hasher, usize)>;

/// What [`gzip`] read and wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gzipped {
    /// Bytes read from the input.
    pub input: u64,
    /// Bytes of the gzip stream.
    pub output: u64,
}

/// Compresses `input` into one gzip member with `threads` deflate workers at
/// `level` (1–9), handing the stream to `out` in order, piece by piece.
/// `progress` gets the input bytes compressed and written so far. An error
/// of `out` stops the work and is returned.
pub fn gzip(
    input: &mut (dyn Read + Send),
    level: u32,
    threads: usize,
    out: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<Gzipped> {
    let threads = threads.max(1);
    let level = Compression::new(level.clamp(1, 9));
    let stop = AtomicBool::new(false);
    // Chunks to compress: (index, the 32 KiB before, the chunk).
    let (job_tx, job_rx) = sync_channel::<(usize, Vec<u8>, Vec<u8>)>(threads * 2);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (done_tx, done_rx) = channel::<(usize, Done)>();
    std::thread::scope(|s| {
        let stop = &stop;
        let reader = s.spawn(move || -> io::Result<usize> {
            let mut dict: Vec<u8> = Vec::new();
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                let mut chunk = vec![0u8; CHUNK];
                let n = read_full(input, &mut chunk)?;
                if n == 0 {
                    break;
                }
                chunk.truncate(n);
                let next_dict = chunk[n.saturating_sub(DICT)..].to_vec();
                if job_tx.send((k, std::mem::take(&mut dict), chunk)).is_err() {
                    break; // the workers are gone: the consumer gave up
                }
                dict = next_dict;
                k += 1;
                if n < CHUNK {
                    break;
                }
            }
            Ok(k)
        });
        for _ in 0..threads {
            let rx = job_rx.clone();
            let tx = done_tx.clone();
            s.spawn(move || {
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let job = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok((k, dict, chunk)) = job else { return };
                    let mut crc = crc32fast::Hasher::new();
                    crc.update(&chunk);
                    // A panic in the compressor becomes this push's error, not the daemon's.
                    let res = std::panic::catch_unwind(|| deflate_chunk(level, &dict, &chunk))
                        .unwrap_or_else(|_| Err(io::Error::other("gzip: the compressor failed")))
                        .map(|o| (o, crc, chunk.len()));
                    if tx.send((k, res)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(job_rx);
        drop(done_tx);
        let res = collect(done_rx, out, progress);
        if res.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("gzip reader panicked")));
        let (crc, gz) = res?;
        read?;
        let mut trailer = FINAL_BLOCK.to_vec();
        trailer.extend_from_slice(&crc.finalize().to_le_bytes());
        trailer.extend_from_slice(&(gz.input as u32).to_le_bytes());
        let n = trailer.len() as u64;
        out(trailer)?;
        Ok(Gzipped {
            input: gz.input,
            output: gz.output + n,
        })
    })
}

/// Puts the workers' pieces in order and hands them on, after the header.
fn collect(
    done: Receiver<(usize, Done)>,
    out: &mut dyn FnMut(Vec<u8>) -> io::Result<()>,
    progress: &mut dyn FnMut(u64),
) -> io::Result<(crc32fast::Hasher, Gzipped)> {
    out(HEADER.to_vec())?;
    let mut gz = Gzipped {
        input: 0,
        output: HEADER.len() as u64,
    };
    let mut crc = crc32fast::Hasher::new();
    let mut waiting = BTreeMap::new();
    let mut next = 0usize;
    // Ends when every worker has ended, i.e. the reader sent its last chunk.
    for (k, r) in done {
        waiting.insert(k, r);
        while let Some(r) = waiting.remove(&next) {
            let (bytes, c, n) = r?;
            crc.combine(&c);
            gz.input += n as u64;
            gz.output += bytes.len() as u64;
            out(bytes)?;
            progress(gz.input);
            next += 1;
        }
    }
    if !waiting.is_empty() {
        return Err(io::Error::other("gzip: a chunk was lost"));
    }
    Ok((crc, gz))
}

/// One chunk as non-final deflate blocks ending on a byte boundary.
fn deflate_chunk(level: Compression, dict: &[u8], data: &[u8]) -> io::Result<Vec<u8>> {
    let stored_len = data.len() + 5 * data.len().div_ceil(STORED_MAX).max(1);
    if looks_random(data) {
        return Ok(stored(data));
    }
    // A new compressor per chunk: one reused after `reset` (zlib-rs 0.6) does
    // not always write the same bytes as a new one, and the output must not
    // depend on which worker took which chunk.
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    loop {
        let done_in = c.total_in() as usize;
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 << 10));
        }
        c.compress_vec(&data[done_in..], &mut out, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        if c.total_in() as usize == data.len() && out.len() < out.capacity() {
            break;
        }
        if out.len() > stored_len {
            return Ok(stored(data)); // larger than storing it: stop wasting time
        }
    }
    if out.len() >= stored_len {
        return Ok(stored(data));
    }
    Ok(out)
}

/// `data` as stored (uncompressed) non-final blocks; byte-aligned, as after a sync flush.
fn stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 5 * (data.len() / STORED_MAX + 1));
    for p in data.chunks(STORED_MAX) {
        let n = p.len() as u16;
        out.push(0); // BFINAL 0, BTYPE 00 (stored), padding
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// Whether a sample of `data` has an order-0 entropy that deflate cannot
/// improve on (compressed or encrypted bytes).
fn looks_random(data: &[u8]) -> bool {
    if data.len() < 4096 {
        return false;
    }
    let mut hist = [0u32; 256];
    let mut n = 0usize;
    let part = (SAMPLE / 4).min(data.len() / 4);
    let step = data.len() / 4;
    for i in 0..4 {
        for &b in &data[i * step..i * step + part] {
            hist[b as usize] += 1;
        }
        n += part;
    }
    let n = n as f64;
    let bits: f64 = hist
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    bits > RANDOM_BITS
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(data: &[u8], threads: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut input = data;
        let got = gzip(
            &mut input,
            1,
            threads,
            &mut |b| {
                out.extend_from_slice(&b);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(got.input, data.len() as u64);
        assert_eq!(got.output, out.len() as u64);
        out
    }

    fn gunzip(z: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(z)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let text: Vec<u8> = (0..3_500_000u32)
            .flat_map(|i| format!("line {} of some text\n", i % 977).into_bytes())
            .take(3 * CHUNK + 12345)
            .collect();
        let random = pseudo_random(2 * CHUNK + 7, 42);
        let mut mixed = text[..CHUNK + 100].to_vec();
        mixed.extend_from_slice(&random);
        mixed.extend_from_slice(&text[..5000]);
        for data in [&b""[..], b"x", &text[..], &random[..], &mixed[..]] {
            let one = gz(data, 1);
            assert_eq!(gunzip(&one), data);
            let three = gz(data, 3);
            assert_eq!(one, three, "output depends on the thread count");
        }
        // compressible data shrinks, random data grows only by the framing
        assert!(gz(&text, 2).len() < text.len() / 5);
        let r = gz(&random, 2).len();
        assert!(r <= random.len() + random.len() / 1000 + 64, "{r}");
    }

    #[test]
    fn chunks_deflate_gives_up_on_are_stored() {
        // Random bytes over a small alphabet: entropy below the threshold, yet
        // deflate at level 1 makes them larger; later chunks must still work.
        let mut data: Vec<u8> = pseudo_random(3 * CHUNK, 9)
            .into_iter()
            .map(|b| b % 200)
            .collect();
        data.extend_from_slice(&[b'a'; CHUNK]);
        assert_eq!(gunzip(&gz(&data, 2)), data);
    }

    #[test]
    fn gzip_tools_read_it() {
        // flate2's single-member reader and the multi-member reader agree, and
        // nothing follows the member.
        let data = pseudo_random(100_000, 7);
        let z = gz(&data, 2);
        let mut d = flate2::read::GzDecoder::new(&z[..]);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&z[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn a_failing_consumer_stops_the_work() {
        let data = pseudo_random(8 * CHUNK, 3);
        let mut input = &data[..];
        let mut pieces = 0;
        let err = gzip(
            &mut input,
            1,
            2,
            &mut |_| {
                pieces += 1;
                if pieces == 3 {
                    Err(io::Error::other("gone"))
                } else {
                    Ok(())
                }
            },
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "gone");
    }
}
