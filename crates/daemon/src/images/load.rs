//! `POST /images/load`: docker-archive and OCI-layout tars, plain or compressed.
//!
//! The tar is read once. Every file goes into the content store's ingest area
//! (hashed on the way); small ones are kept in memory too for the metadata; and
//! a file that looks like a layer is unpacked while it streams in, on its own
//! thread, into a snapshot that is not visible yet. Nothing becomes visible
//! until every image of the archive has been checked: then snapshots and blobs
//! are committed, records written and tags moved, with one sync for all.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Component, Path};
use std::sync::mpsc::sync_channel;
use std::thread::JoinHandle;

use berth_image::archive;
use berth_image::config::ImageConfig;
use berth_layer::Compression;
use berth_snapshot::Prepared;
use berth_store::{BlobWriter, Digest, PendingBlob};

use super::store::{chain_ids, ImageRecord, LayerRecord};
use super::unpack::{read_full, verify_diff_id, UnpackedLayer};
use crate::{Daemon, Error, Result};

/// Files up to this size are also kept in memory (manifests, configs, indexes).
const SMALL: u64 = 4 << 20;
const CHUNK: usize = 256 * 1024;

fn bad(e: impl std::fmt::Display) -> Error {
    Error::InvalidParameter(format!("invalid image archive: {e}"))
}

/// A read error of the archive stream: dockerd's `unexpected EOF` when it was cut short.
fn read_err(e: std::io::Error) -> Error {
    if berth_layer::is_unexpected_eof(&e) {
        return Error::InvalidParameter("unexpected EOF".into());
    }
    bad(e)
}

/// `a/./b/../c` → `a/c`; `None` for paths that climb out of the archive.
fn clean(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    Some(parts.join("/"))
}

/// Whether the first bytes of a file are those of a layer: a tar header or a
/// gzip/zstd stream (configs and manifests are JSON).
fn looks_like_layer(head: &[u8]) -> bool {
    let tar = head.len() >= 263 && &head[257..262] == b"ustar";
    tar || Compression::detect(head) != Compression::None
}

/// A layer being unpacked on its own thread while its bytes stream in.
type Speculative = JoinHandle<std::result::Result<(berth_layer::Applied, Prepared), Error>>;

/// What the tar held, by cleaned path.
#[derive(Default)]
struct Received {
    small: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, PendingBlob>,
    /// How each file is compressed, seen from its first bytes as it came.
    compression: HashMap<String, Compression>,
    links: HashMap<String, String>,
    /// Layers being unpacked as they came, with their still open blob writers
    /// (the unpack's diff id names a plain tar's blob).
    speculative: HashMap<String, (Speculative, BlobWriter)>,
}

impl Received {
    /// Follows docker ≤ 24's links from repeated layers to their first copy.
    fn resolve(&self, p: &str) -> String {
        let mut p = p.to_string();
        for _ in 0..8 {
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        p
    }
}

impl Daemon {
    /// Loads every image of the archive; `out` receives docker's "Loaded image" lines.
    pub fn load_images(&self, body: impl Read, out: &mut dyn FnMut(String)) -> Result<()> {
        let mut got = Received::default();
        let received = self.receive(body, &mut got);
        // Collect every speculative unpack, also on failure, so none outlives the load.
        let mut unpacked: HashMap<String, UnpackedLayer> = HashMap::new();
        let mut finished = Ok(());
        for (path, (h, w)) in got.speculative.drain() {
            let blob = match h.join() {
                Ok(Ok((applied, prepared))) => {
                    let blob = applied
                        .diff_id
                        .parse()
                        .map_err(bad)
                        .and_then(|d| Ok(w.finish_as(d)?));
                    unpacked.insert(
                        path.clone(),
                        UnpackedLayer {
                            size: applied.size,
                            prepared,
                            applied: Some(applied),
                        },
                    );
                    blob
                }
                // Not a layer after all, or a broken one: hash the blob the slow way.
                _ => w.finish().map_err(Error::from),
            };
            match blob {
                Ok(b) => {
                    got.blobs.insert(path, b);
                }
                Err(e) => finished = finished.and(Err(e)),
            }
        }
        received?;
        finished?;

        let get = |p: &str| got.small.get(&got.resolve(p)).cloned();
        let plan = archive::plan_load(&get).map_err(bad)?;

        // Check every image and unpack what is still missing before anything becomes visible.
        let mut staged: HashMap<Digest, (u64, Option<Prepared>)> = HashMap::new();
        let mut images = Vec::new();
        for img in &plan {
            let config_path = got.resolve(&img.config_path);
            let config_bytes = got
                .small
                .get(&config_path)
                .ok_or_else(|| bad(format!("missing config {}", img.config_path)))?;
            let config = ImageConfig::from_slice(config_bytes).map_err(bad)?;
            if config.rootfs.diff_ids.len() != img.layers.len() {
                return Err(bad(format!(
                    "image config lists {} layers but the manifest has {}",
                    config.rootfs.diff_ids.len(),
                    img.layers.len()
                )));
            }
            let diff_ids: Vec<Digest> = config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| d.parse().map_err(bad))
                .collect::<Result<_>>()?;
            let chains = chain_ids(diff_ids.iter());
            let mut todo = Vec::new();
            let mut layer_paths = Vec::new();
            for (i, layer) in img.layers.iter().enumerate() {
                let p = got.resolve(&layer.path);
                let blob = got
                    .blobs
                    .get(&p)
                    .ok_or_else(|| bad(format!("missing layer {}", layer.path)))?;
                let chain = &chains[i];
                if staged.contains_key(chain) {
                    // an earlier image of this archive has the same layer stack
                } else if self.snapshots.exists(chain.hex()) {
                    staged.insert(
                        chain.clone(),
                        (self.known_layer_size(&diff_ids[i], chain), None),
                    );
                } else if let Some(u) = unpacked.remove(&p) {
                    if let Some(applied) = &u.applied {
                        verify_diff_id(blob.digest(), applied, &diff_ids[i])?;
                    }
                    staged.insert(chain.clone(), (u.size, Some(u.prepared)));
                } else {
                    todo.push((
                        i,
                        (
                            blob.path().to_path_buf(),
                            blob.digest().clone(),
                            diff_ids[i].clone(),
                        ),
                    ));
                }
                layer_paths.push(p);
            }
            let jobs: Vec<_> = todo.iter().map(|(_, j)| j.clone()).collect();
            for ((i, _), u) in todo.iter().zip(self.unpack_blobs(&jobs)?) {
                staged.insert(chains[*i].clone(), (u.size, Some(u.prepared)));
            }
            let mut layers = Vec::new();
            for (i, p) in layer_paths.iter().enumerate() {
                let blob = &got.blobs[p];
                layers.push(LayerRecord {
                    blob: blob.digest().clone(),
                    media_type: got
                        .compression
                        .get(p)
                        .copied()
                        .unwrap_or(Compression::None)
                        .oci_layer_media_type()
                        .to_string(),
                    blob_size: blob.size(),
                    diff_id: diff_ids[i].clone(),
                    size: staged.get(&chains[i]).map(|(s, _)| *s).unwrap_or(0),
                });
            }
            images.push((
                config_path,
                config,
                layer_paths,
                layers,
                img.repo_tags.clone(),
            ));
        }

        let _w = self.lock_write();
        // A layer found already unpacked may have been removed (rmi) since; only
        // now, under the write lock, is that settled.
        if let Some(gone) = staged
            .iter()
            .find(|(c, (_, p))| p.is_none() && !self.snapshots.exists(c.hex()))
        {
            return Err(Error::Conflict(format!(
                "layer {} was removed while the archive was loading; load it again",
                gone.0
            )));
        }
        for (chain, (_, prepared)) in staged {
            if let Some(p) = prepared {
                p.commit(chain.hex())?;
            }
        }
        let mut batch = Vec::new();
        let mut moved = Vec::new();
        for (config_path, config, layer_paths, layers, tags) in images {
            for p in layer_paths.iter().chain(std::iter::once(&config_path)) {
                if let Some(blob) = got.blobs.remove(p) {
                    blob.commit()?;
                }
            }
            let id = Digest::of(
                got.small
                    .get(&config_path)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            {
                let st = self.read();
                for t in &tags {
                    if let Some(prev) = st.refs().get(&t.to_string()).filter(|p| **p != id) {
                        moved.push((t.familiar_string(), prev.clone()));
                    }
                }
            }
            batch.push((
                ImageRecord {
                    id,
                    layers,
                    parent: None,
                    last_tag_time: None,
                },
                config,
                tags,
            ));
        }
        let tags: Vec<Vec<berth_image::Reference>> =
            batch.iter().map(|(_, _, t)| t.clone()).collect();
        let registered = self.register_images(batch)?;
        for (name, prev) in moved {
            // docker tells the user when a tag moves away from an image.
            out(format!("The image {name} already exists, renaming the old one with ID {prev} to empty string"));
        }
        for (img, tags) in registered.iter().zip(tags) {
            if tags.is_empty() {
                out(format!("Loaded image ID: {}", img.id()));
            }
            for t in &tags {
                out(format!("Loaded image: {}", t.familiar_string()));
            }
            let name = tags
                .first()
                .map(|t| t.familiar_string())
                .unwrap_or_default();
            self.events
                .emit("image", "load", img.id().as_str(), super::attrs(&name));
        }
        Ok(())
    }

    /// Reads the whole tar into `got`, starting a speculative unpack for each layer-like file.
    fn receive(&self, body: impl Read, got: &mut Received) -> Result<()> {
        let body = std::io::BufReader::with_capacity(super::unpack::READ_BUF, body);
        let (_, reader) = berth_layer::decompress(body).map_err(bad)?;
        let mut tar = tar::Archive::new(reader);
        for entry in tar.entries().map_err(bad)? {
            let mut e = entry.map_err(read_err)?;
            let raw = e.path().map_err(bad)?.into_owned();
            let Some(path) = clean(&raw) else {
                return Err(bad(format!(
                    "entry {} points outside the archive",
                    raw.display()
                )));
            };
            let kind = e.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                let target = e.link_name().map_err(bad)?.unwrap_or_default().into_owned();
                let base = if kind.is_symlink() {
                    Path::new(&path)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .join(&target)
                } else {
                    target.clone()
                };
                let Some(t) = clean(&base) else {
                    return Err(bad(format!("link {path} points outside the archive")));
                };
                got.links.insert(path, t);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = e.header().size().map_err(bad)?;
            let mut w = self.content.writer()?;
            w.expect(size);
            if size <= SMALL {
                let mut buf = Vec::with_capacity(size as usize);
                e.read_to_end(&mut buf).map_err(read_err)?;
                w.write_all(&buf).map_err(Error::io("ingest"))?;
                got.compression
                    .insert(path.clone(), Compression::detect(&buf));
                got.small.insert(path.clone(), buf);
            } else {
                let mut head = vec![0u8; 512];
                let n = read_full(&mut e, &mut head).map_err(read_err)?;
                head.truncate(n);
                got.compression
                    .insert(path.clone(), Compression::detect(&head));
                if looks_like_layer(&head) {
                    if Compression::detect(&head) == Compression::None {
                        // A plain tar: its digest is the diff id the unpack computes.
                        w.skip_hashing();
                    }
                    let (tx, rx) = sync_channel::<Vec<u8>>(16);
                    let prepared = self.snapshots.prepare()?;
                    let h = std::thread::spawn(move || {
                        let reader = berth_layer::ChannelReader::new(rx);
                        let applied = berth_layer::apply(reader, prepared.path())?;
                        Ok((applied, prepared))
                    });
                    let mut feed = || -> Result<()> {
                        w.write_all(&head).map_err(Error::io("ingest"))?;
                        // If the unpack gave up (not a layer after all), keep storing the blob.
                        let mut feeding = tx.send(head.clone()).is_ok();
                        loop {
                            let mut chunk = vec![0u8; CHUNK];
                            let n = read_full(&mut e, &mut chunk).map_err(read_err)?;
                            if n == 0 {
                                return Ok(());
                            }
                            chunk.truncate(n);
                            w.write_all(&chunk).map_err(Error::io("ingest"))?;
                            if feeding {
                                feeding = tx.send(chunk).is_ok();
                            }
                        }
                    };
                    let fed = feed();
                    drop(tx);
                    if let Err(e) = fed {
                        // The unpack sees the end of its input and cleans up; wait for it.
                        let _ = h.join();
                        return Err(e);
                    }
                    got.speculative.insert(path, (h, w));
                    continue;
                }
                w.write_all(&head).map_err(Error::io("ingest"))?;
                std::io::copy(&mut e, &mut w).map_err(read_err)?;
            }
            got.blobs.insert(path, w.finish()?);
        }
        // Drain the trailer so a truncated archive fails here, not silently.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(read_err)?;
        Ok(())
    }
}
