//! Layers into snapshots, and new images into the metadata: shared by load and
//! import (and, later, pull).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_image::config::ImageConfig;
use berth_image::Reference;
use berth_snapshot::Prepared;
use berth_store::Digest;

use super::store::{Image, ImageRecord};
use crate::{Daemon, Error, Result};

/// Read buffer in front of a layer file or stream being unpacked.
pub(super) const READ_BUF: usize = 1 << 20;

/// Reads until `buf` is full or the stream ends (a tar header or a layer's
/// first bytes arrive in as many pieces as the sender chose).
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A layer unpacked into a snapshot that is not visible yet.
pub(crate) struct UnpackedLayer {
    pub size: u64,
    pub prepared: Prepared,
    /// What the unpack computed, when its diff id is still to be checked.
    pub applied: Option<berth_layer::Applied>,
}

/// Checks that what a layer unpacked to is what the image config promised.
pub(crate) fn verify_diff_id(
    blob: &Digest,
    applied: &berth_layer::Applied,
    expected: &Digest,
) -> Result<()> {
    if applied.diff_id != expected.as_str() {
        return Err(Error::InvalidParameter(format!(
            "layer {blob} does not match the image config: its content is {}, the config says {expected}",
            applied.diff_id
        )));
    }
    Ok(())
}

impl Daemon {
    /// Unpacks layer blobs (several at once) into prepared snapshots, verifying
    /// each diff id; `jobs` are (blob file, blob digest, expected diff id).
    pub(crate) fn unpack_blobs(
        &self,
        jobs: &[(PathBuf, Digest, Digest)],
    ) -> Result<Vec<UnpackedLayer>> {
        self.unpack_blobs_with(jobs, &|_, _| {})
    }

    /// [`Daemon::unpack_blobs`], telling `progress(job, bytes of the blob read so far)`.
    pub(crate) fn unpack_blobs_with(
        &self,
        jobs: &[(PathBuf, Digest, Digest)],
        progress: &(dyn Fn(usize, u64) + Sync),
    ) -> Result<Vec<UnpackedLayer>> {
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::new());
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4)
            .min(jobs.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((path, blob, diff_id)) = jobs.get(k) else {
                        break;
                    };
                    let r = self.unpack_file(path, blob, diff_id, &|n| progress(k, n));
                    let failed = r.is_err();
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((k, r));
                    if failed {
                        // Stop handing out work; the others finish their current layer.
                        next.store(jobs.len(), Ordering::Relaxed);
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        results.sort_by_key(|(k, _)| *k);
        results.into_iter().map(|(_, r)| r).collect()
    }

    fn unpack_file(
        &self,
        path: &Path,
        blob: &Digest,
        diff_id: &Digest,
        progress: &dyn Fn(u64),
    ) -> Result<UnpackedLayer> {
        let file = File::open(path).map_err(Error::io("layer blob"))?;
        let prepared = self.snapshots.prepare()?;
        let counted = Counted {
            inner: file,
            read: 0,
            progress,
        };
        let applied =
            berth_layer::apply(BufReader::with_capacity(READ_BUF, counted), prepared.path())?;
        verify_diff_id(blob, &applied, diff_id)?;
        Ok(UnpackedLayer {
            size: applied.size,
            prepared,
            applied: None,
        })
    }

    /// The size of a layer already unpacked under `chain`: from an image that
    /// has it, else measured.
    pub(crate) fn known_layer_size(&self, diff_id: &Digest, chain: &Digest) -> u64 {
        let st = self.read();
        st.images
            .values()
            .flat_map(|i| i.record.layers.iter())
            .find(|l| &l.diff_id == diff_id)
            .map(|l| l.size)
            .unwrap_or_else(|| dir_size(&self.snapshots.path(chain.hex())))
    }

    /// Makes new images visible: one sync of everything they reference, their
    /// records, then one write of the references pointing `tags` at them.
    /// Caller holds the write lock.
    pub(crate) fn register_images(
        &self,
        images: Vec<(ImageRecord, ImageConfig, Vec<Reference>)>,
    ) -> Result<Vec<Arc<Image>>> {
        self.content.sync()?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let mut out = Vec::new();
        let mut refs = self.read().refs().clone();
        for (mut record, config, tags) in images {
            if !tags.is_empty() {
                record.last_tag_time = Some(now.clone());
            }
            self.image_store.write_record(&record)?;
            let img = Arc::new(Image::new(record, config));
            for t in &tags {
                refs.insert(t.to_string(), img.id().clone());
            }
            out.push(img);
        }
        self.image_store.write_refs(&refs)?;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        for img in &out {
            st.images.insert(img.id().clone(), img.clone());
        }
        st.set_refs(refs);
        Ok(out)
    }
}

/// A reader that reports how far it got (pull's `Extracting` progress).
struct Counted<'a, R> {
    inner: R,
    read: u64,
    progress: &'a dyn Fn(u64),
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.progress)(self.read);
        Ok(n)
    }
}

fn dir_size(path: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
