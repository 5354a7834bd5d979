//! Rough throughput of `apply` (and `write_tar`) on a ~200 MB layer.
//!
//! `cargo run --release -p berth-layer --example apply_bench [SOURCE_DIR]`
//!
//! Without SOURCE_DIR a tree resembling /usr (many small files, a few large
//! ones, ~200 MB) is generated in a temporary directory. The tar is built in
//! memory, then applied into fresh directories (page cache, no fsync) as
//! plain, gzip and zstd streams. `BENCH_DIR=/dev/shm` measures on tmpfs.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn generate(root: &Path, total: u64) -> std::io::Result<()> {
    // xorshift: cheap, half-compressible content (a byte pattern + noise).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let sizes = [300u64, 1_500, 4_000, 12_000, 40_000, 150_000, 2_000_000];
    let mut written = 0;
    let mut i = 0u64;
    while written < total {
        let dir = root.join(format!("lib{}/sub{}", i / 500, (i / 50) % 10));
        std::fs::create_dir_all(&dir)?;
        let size = sizes[(next() % sizes.len() as u64) as usize];
        let mut data = Vec::with_capacity(size as usize);
        while (data.len() as u64) < size {
            let r = next();
            data.extend_from_slice(&r.to_le_bytes()[..4]);
            data.extend_from_slice(b"ELF\0text");
        }
        data.truncate(size as usize);
        std::fs::write(dir.join(format!("file{i}.so")), &data)?;
        if i.is_multiple_of(20) {
            std::os::unix::fs::symlink(format!("file{i}.so"), dir.join(format!("link{i}")))?;
        }
        written += size;
        i += 1;
    }
    Ok(())
}

fn run(
    label: &str,
    stream: &[u8],
    tar_len: usize,
    base: &Path,
    rounds: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut best = f64::MAX;
    for round in 0..rounds {
        // Deleted only at the end: ext4 gets slow creating inodes right
        // after mass deletion (recently_deleted), which would skew rounds.
        let dst = base.join(format!("{label}-{round}"));
        std::fs::create_dir(&dst)?;
        let start = Instant::now();
        let applied = berth_layer::apply(stream, &dst)?;
        let secs = start.elapsed().as_secs_f64();
        best = best.min(secs);
        if round == 0 {
            println!(
                "  {label}: diff_id {} size {}",
                applied.diff_id, applied.size
            );
        }
    }
    println!(
        "apply {label:5}: {:7.1} MB/s of uncompressed tar ({:.3} s best of {rounds}, input {:.1} MB)",
        tar_len as f64 / 1e6 / best,
        best,
        stream.len() as f64 / 1e6
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // BENCH_DIR picks the filesystem written to (default: the temp dir).
    let work = match std::env::var_os("BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir)?,
        None => tempfile::tempdir()?,
    };
    let source = match std::env::args().nth(1) {
        Some(dir) => dir.into(),
        None => {
            let src = work.path().join("src");
            std::fs::create_dir(&src)?;
            generate(&src, 200_000_000)?;
            src
        }
    };
    let start = Instant::now();
    let mut tar = Vec::new();
    let written = berth_layer::write_tar(&source, &mut tar)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "write_tar: {:.1} MB in {:.3} s = {:.1} MB/s ({} bytes of files)",
        tar.len() as f64 / 1e6,
        secs,
        tar.len() as f64 / 1e6 / secs,
        written.size
    );

    run("plain", &tar, tar.len(), work.path(), 2)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(&tar)?;
    run("gzip", &gz.finish()?, tar.len(), work.path(), 1)?;
    let zst = zstd::encode_all(&tar[..], 3)?;
    run("zstd", &zst, tar.len(), work.path(), 1)?;
    Ok(())
}
