//! Layers into snapshots: shared by load, import and (later) pull.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_layer::Compression;
use berth_store::Digest;

use super::store::{chain_ids, Image, ImageRecord, LayerRecord};
use crate::{Daemon, Error, Result};

/// A layer blob already on disk (committed or pending), to be unpacked.
pub(crate) struct LayerBlob {
    pub path: PathBuf,
    pub digest: Digest,
    pub size: u64,
    /// The diff id the image config promises for this layer.
    pub diff_id: Digest,
}

const READ_BUF: usize = 1 << 20;

/// The OCI media type of a layer blob, from its first bytes.
pub(crate) fn layer_media_type(path: &Path) -> Result<&'static str> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(Error::io("layer blob"))?;
    let n = f.read(&mut head).map_err(Error::io("layer blob"))?;
    Ok(media_type_of(Compression::detect(&head[..n])))
}

pub(crate) fn media_type_of(c: Compression) -> &'static str {
    match c {
        Compression::None => "application/vnd.oci.image.layer.v1.tar",
        Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
        Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
    }
}

impl Daemon {
    /// Unpacks each layer whose snapshot is missing (several at once) and
    /// verifies its diff id; returns the layer records in order.
    pub(crate) fn unpack_layers(&self, layers: &[LayerBlob]) -> Result<Vec<LayerRecord>> {
        let chains = chain_ids(layers.iter().map(|l| &l.diff_id));
        let mut sizes: Vec<Option<u64>> = chains
            .iter()
            .zip(layers)
            .map(|(c, l)| {
                self.snapshots
                    .exists(c.hex())
                    .then(|| self.known_layer_size(&l.diff_id, c))
            })
            .collect();
        let todo: Vec<usize> = (0..layers.len()).filter(|&i| sizes[i].is_none()).collect();
        let next = AtomicUsize::new(0);
        let results = Mutex::new(Vec::new());
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 4)
            .min(todo.len());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = todo.get(k) else { break };
                    let r = self.unpack_one(&layers[i], &chains[i]);
                    let failed = r.is_err();
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, r));
                    if failed {
                        // Stop handing out work; the others finish their current layer.
                        next.store(todo.len(), Ordering::Relaxed);
                    }
                });
            }
        });
        for (i, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
            sizes[i] = Some(r?);
        }
        layers
            .iter()
            .zip(sizes)
            .map(|(l, size)| {
                Ok(LayerRecord {
                    blob: l.digest.clone(),
                    media_type: layer_media_type(&l.path)?.to_string(),
                    blob_size: l.size,
                    diff_id: l.diff_id.clone(),
                    size: size.unwrap_or(0),
                })
            })
            .collect()
    }

    fn unpack_one(&self, layer: &LayerBlob, chain: &Digest) -> Result<u64> {
        let file = File::open(&layer.path).map_err(Error::io("layer blob"))?;
        let prepared = self.snapshots.prepare()?;
        let applied =
            berth_layer::apply(BufReader::with_capacity(READ_BUF, file), prepared.path())?;
        if applied.diff_id != layer.diff_id.as_str() {
            return Err(Error::InvalidParameter(format!(
                "layer {} does not match the image config: its content is {}, the config says {}",
                layer.digest, applied.diff_id, layer.diff_id
            )));
        }
        prepared.commit(chain.hex())?;
        Ok(applied.size)
    }

    /// The size of a layer already unpacked: from an image that has it, else measured.
    fn known_layer_size(&self, diff_id: &Digest, chain: &Digest) -> u64 {
        let st = self.read();
        st.images
            .values()
            .flat_map(|i| i.record.layers.iter())
            .find(|l| &l.diff_id == diff_id)
            .map(|l| l.size)
            .unwrap_or_else(|| dir_size(&self.snapshots.path(chain.hex())))
    }

    /// Makes a new image visible: syncs what it references, writes its record,
    /// then points `tags` at it. Caller holds the write lock.
    pub(crate) fn register_image(
        &self,
        record: ImageRecord,
        tags: &[berth_image::Reference],
    ) -> Result<Arc<Image>> {
        self.content.sync()?;
        self.image_store.write_record(&record)?;
        let img = Arc::new(super::store::image_from_record(&self.content, record)?);
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .images
            .insert(img.id().clone(), img.clone());
        for t in tags {
            self.set_ref(t, img.id())?;
        }
        Ok(img)
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
