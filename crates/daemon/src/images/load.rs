//! `POST /images/load`: docker-archive and OCI-layout tars, plain or compressed.
//!
//! The tar is read once: every file goes into the content store's ingest area
//! (hashed on the way), small ones are kept in memory too for the metadata.
//! Nothing becomes visible until every image of the archive has been checked
//! and unpacked; then blobs are committed, records written and tags moved.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path};

use berth_image::archive;
use berth_image::config::ImageConfig;
use berth_store::{Digest, PendingBlob};

use super::store::ImageRecord;
use super::unpack::LayerBlob;
use crate::{Daemon, Error, Result};

/// Files up to this size are also kept in memory (manifests, configs, indexes).
const SMALL: u64 = 4 << 20;

fn bad(e: impl std::fmt::Display) -> Error {
    Error::InvalidParameter(format!("invalid image archive: {e}"))
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

impl Daemon {
    /// Loads every image of the archive; `out` receives docker's "Loaded image" lines.
    pub fn load_images(&self, body: impl Read, out: &mut dyn FnMut(String)) -> Result<()> {
        let (_, reader) = berth_layer::decompress(body).map_err(bad)?;
        let mut tar = tar::Archive::new(reader);
        let mut small: HashMap<String, Vec<u8>> = HashMap::new();
        let mut files: HashMap<String, PendingBlob> = HashMap::new();
        let mut links: HashMap<String, String> = HashMap::new();
        for entry in tar.entries().map_err(bad)? {
            let mut e = entry.map_err(bad)?;
            let raw = e.path().map_err(bad)?.into_owned();
            let Some(path) = clean(&raw) else {
                return Err(bad(format!(
                    "entry {} points outside the archive",
                    raw.display()
                )));
            };
            let kind = e.header().entry_type();
            if kind.is_symlink() || kind.is_hard_link() {
                // docker ≤ 24 links repeated layers to the first copy.
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
                links.insert(path, t);
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let size = e.header().size().map_err(bad)?;
            let mut w = self.content.writer()?;
            if size <= SMALL {
                let mut buf = Vec::with_capacity(size as usize);
                e.read_to_end(&mut buf).map_err(bad)?;
                std::io::Write::write_all(&mut w, &buf).map_err(Error::io("ingest"))?;
                small.insert(path.clone(), buf);
            } else {
                std::io::copy(&mut e, &mut w).map_err(bad)?;
            }
            files.insert(path, w.finish()?);
        }
        // Drain the trailer so a truncated archive fails here, not silently.
        std::io::copy(&mut tar.into_inner(), &mut std::io::sink()).map_err(bad)?;

        let resolve = |p: &str| -> String {
            let mut p = p.to_string();
            for _ in 0..8 {
                match links.get(&p) {
                    Some(t) => p = t.clone(),
                    None => break,
                }
            }
            p
        };
        let get = |p: &str| small.get(&resolve(p)).cloned();
        let plan = archive::plan_load(&get).map_err(bad)?;

        // Check and unpack every image before anything becomes visible.
        let mut ready = Vec::new();
        for img in &plan {
            let config_path = resolve(&img.config_path);
            let config_bytes = small
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
            let mut layers = Vec::new();
            for (layer, diff_id) in img.layers.iter().zip(&config.rootfs.diff_ids) {
                let p = resolve(&layer.path);
                let blob = files
                    .get(&p)
                    .ok_or_else(|| bad(format!("missing layer {}", layer.path)))?;
                let diff_id: Digest = diff_id.parse().map_err(bad)?;
                layers.push(LayerBlob {
                    path: blob.path().to_path_buf(),
                    digest: blob.digest().clone(),
                    size: blob.size(),
                    diff_id,
                });
            }
            let records = self.unpack_layers(&layers)?;
            let paths: Vec<String> = img.layers.iter().map(|l| resolve(&l.path)).collect();
            ready.push((config_path, paths, records, img.repo_tags.clone()));
        }

        let _w = self.lock_write();
        for (config_path, layer_paths, layers, tags) in ready {
            for p in layer_paths.iter().chain(std::iter::once(&config_path)) {
                if let Some(blob) = files.remove(p) {
                    blob.commit()?;
                }
            }
            let id = Digest::of(
                small
                    .get(&config_path)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
            );
            let record = ImageRecord {
                id: id.clone(),
                layers,
                parent: None,
                last_tag_time: None,
            };
            let old: Vec<(String, Option<Digest>)> = {
                let st = self.read();
                tags.iter()
                    .map(|t| (t.familiar_string(), st.refs().get(&t.to_string()).cloned()))
                    .collect()
            };
            self.register_image(record, &tags)?;
            for (name, previous) in old {
                if let Some(prev) = previous.filter(|p| *p != id) {
                    // docker tells the user when a tag moves away from an image.
                    out(format!(
                        "The image {name} already exists, renaming the old one with ID {prev} to empty string"
                    ));
                }
            }
            if tags.is_empty() {
                out(format!("Loaded image ID: {id}"));
            }
            for t in &tags {
                out(format!("Loaded image: {}", t.familiar_string()));
            }
            self.events.emit(
                "image",
                "load",
                id.as_str(),
                super::attrs(
                    &tags
                        .first()
                        .map(|t| t.familiar_string())
                        .unwrap_or_default(),
                ),
            );
        }
        Ok(())
    }
}
