//! `GET /images/get`: a tar that docker 25+ (and older, and podman) loads: an OCI
//! image layout (`index.json`, `oci-layout`, `blobs/`) plus docker's
//! `manifest.json` and `repositories`.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use berth_image::archive::{self, SaveImage};
use berth_image::Reference;

use super::store::Image;
use crate::{Daemon, Error, Result};

/// The images to save, resolved before the first byte is sent.
pub struct SavePlan {
    images: Vec<(Arc<Image>, Vec<Reference>)>,
}

impl Daemon {
    /// Resolves names as docker save does: a bare repository name brings all its
    /// tags, `name:tag` that tag, an ID the image without names.
    pub fn plan_save(&self, names: &[String]) -> Result<SavePlan> {
        if names.is_empty() {
            return Err(Error::InvalidParameter("no images specified".into()));
        }
        let st = self.read();
        let mut images: Vec<(Arc<Image>, Vec<Reference>)> = Vec::new();
        for name in names {
            // A bare repository name brings every tag of that repository.
            if let Ok(r) = Reference::parse(name) {
                if r.is_name_only() {
                    let mut found = false;
                    for (key, id) in st.refs() {
                        let Ok(t) = Reference::parse(key) else {
                            continue;
                        };
                        if t.name() == r.name() && t.tag().is_some() {
                            if let Some(img) = st.images.get(id) {
                                push(&mut images, img.clone(), vec![t]);
                                found = true;
                            }
                        }
                    }
                    if found {
                        continue;
                    }
                }
            }
            let img = st.resolve(name)?;
            let mut tags = Vec::new();
            if !super::is_id_prefix(img.id(), name) {
                if let Ok(r) = Reference::parse(name) {
                    if r.digest().is_none() {
                        tags.push(r.with_default_tag());
                    }
                }
            }
            push(&mut images, img, tags);
        }
        Ok(SavePlan { images })
    }

    /// Streams the archive for `plan` into `out`.
    pub fn write_save(&self, plan: &SavePlan, out: impl Write) -> Result<()> {
        let mut tar = tar::Builder::new(out);
        let save: Vec<SaveImage> = plan
            .images
            .iter()
            .map(|(img, tags)| SaveImage {
                config_digest: img.id().to_string(),
                config_size: self.content.size(img.id()).unwrap_or(0),
                layers: img
                    .record
                    .layers
                    .iter()
                    .map(|l| archive::SaveLayer {
                        diff_id: l.diff_id.to_string(),
                        digest: l.blob.to_string(),
                        size: l.blob_size,
                        media_type: l.media_type.clone(),
                    })
                    .collect(),
                refs: tags.clone(),
                parent: img.record.parent.as_ref().map(|p| p.to_string()),
                platform: None,
            })
            .collect();
        let meta =
            archive::build_save_metadata(&save).map_err(|e| Error::Internal(e.to_string()))?;
        dir(&mut tar, "blobs/").map_err(Error::io("writing the archive"))?;
        dir(&mut tar, "blobs/sha256/").map_err(Error::io("writing the archive"))?;
        let mut written = BTreeSet::new();
        for (img, _) in &plan.images {
            let blobs = std::iter::once(img.id()).chain(img.record.layers.iter().map(|l| &l.blob));
            for d in blobs {
                if !written.insert(d.clone()) {
                    continue;
                }
                let mut f = self.content.open_blob(d)?;
                let len = f.metadata().map_err(Error::io("reading a blob"))?.len();
                let mut h = header(len, 0o644);
                tar.append_data(&mut h, format!("blobs/sha256/{}", d.hex()), &mut f)
                    .map_err(Error::io("writing the archive"))?;
            }
        }
        let files = meta
            .blobs
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .chain(meta.top_level_files());
        for (path, bytes) in files {
            let mut h = header(bytes.len() as u64, 0o644);
            tar.append_data(&mut h, path, bytes)
                .map_err(Error::io("writing the archive"))?;
        }
        tar.into_inner()
            .and_then(|mut w| w.flush())
            .map_err(Error::io("writing the archive"))?;
        for (img, tags) in &plan.images {
            let name = tags
                .first()
                .map(|t| t.familiar_string())
                .unwrap_or_default();
            self.events
                .emit("image", "save", img.id().as_str(), super::attrs(&name));
        }
        Ok(())
    }
}

fn push(images: &mut Vec<(Arc<Image>, Vec<Reference>)>, img: Arc<Image>, tags: Vec<Reference>) {
    match images.iter_mut().find(|(i, _)| i.id() == img.id()) {
        Some((_, existing)) => {
            for t in tags {
                if !existing.iter().any(|e| e.to_string() == t.to_string()) {
                    existing.push(t);
                }
            }
        }
        None => images.push((img, tags)),
    }
}

fn header(size: u64, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn dir<W: Write>(tar: &mut tar::Builder<W>, path: &str) -> std::io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_size(0);
    h.set_mode(0o755);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Directory);
    tar.append_data(&mut h, path, std::io::empty())
}
