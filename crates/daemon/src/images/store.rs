//! Image metadata: one record file per image and one file of references, both
//! replaced atomically, mirrored in memory so reads never touch the disk.
//!
//! Write order keeps every crash state consistent: blobs and snapshots first
//! (synced), then the image record, then the references. Anything a crash leaves
//! unreferenced is collected at the next start ([`ImageStore::garbage`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use berth_image::config::ImageConfig;
use berth_image::Reference;
use berth_store::{atomic_write_json, read_json, ContentStore, Digest};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One layer of an image: the blob as stored and what it unpacks to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// The stored blob (compressed or not, as it came).
    pub blob: Digest,
    pub media_type: String,
    pub blob_size: u64,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Bytes of the files it unpacks to (docker's layer size).
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image ID: the digest of its config blob.
    pub id: Digest,
    pub layers: Vec<LayerRecord>,
    #[serde(default)]
    pub parent: Option<Digest>,
    /// RFC 3339 time of the last tag, for inspect's Metadata.LastTagTime.
    #[serde(default)]
    pub last_tag_time: Option<String>,
}

/// An image as the daemon sees it: the record and its parsed config.
#[derive(Debug)]
pub struct Image {
    pub record: ImageRecord,
    pub config: ImageConfig,
    /// Seconds since the epoch of `config.created` (0 when absent).
    pub created: i64,
    /// The same in nanoseconds, for comparisons within a second (`before=`, `since=`).
    pub created_ns: i64,
}

impl Image {
    pub fn id(&self) -> &Digest {
        &self.record.id
    }
    /// Docker's image size: the unpacked size of all layers.
    pub fn size(&self) -> u64 {
        self.record.layers.iter().map(|l| l.size).sum()
    }
    /// Chain ids of the layers, bottom first: the keys of their snapshots.
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(self.record.layers.iter().map(|l| &l.diff_id))
    }
}

/// chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
pub fn chain_ids<'a>(diff_ids: impl Iterator<Item = &'a Digest>) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => Digest::of(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[derive(Default)]
pub struct State {
    pub images: HashMap<Digest, Arc<Image>>,
    /// Full reference string (`docker.io/library/busybox:latest`, or `…@sha256:…`) → image.
    refs: BTreeMap<String, Digest>,
    /// The same, parsed and grouped by image (derived from `refs`, so listings stay linear).
    by_image: HashMap<Digest, Vec<Reference>>,
}

impl State {
    pub fn refs(&self) -> &BTreeMap<String, Digest> {
        &self.refs
    }

    /// Replaces the references (already persisted by the caller) and re-derives the index.
    pub fn set_refs(&mut self, refs: BTreeMap<String, Digest>) {
        let mut by_image: HashMap<Digest, Vec<Reference>> = HashMap::new();
        for (k, id) in &refs {
            if let Ok(r) = Reference::parse(k) {
                by_image.entry(id.clone()).or_default().push(r);
            }
        }
        self.refs = refs;
        self.by_image = by_image;
    }

    /// References of an image, in the store's (sorted) order.
    pub fn refs_of(&self, id: &Digest) -> Vec<Reference> {
        self.by_image.get(id).cloned().unwrap_or_default()
    }

    /// `RepoTags` and `RepoDigests` in docker's familiar form.
    pub fn repo_tags_digests(&self, id: &Digest) -> (Vec<String>, Vec<String>) {
        let (mut tags, mut digests) = (Vec::new(), Vec::new());
        for r in self.refs_of(id) {
            if r.digest().is_some() {
                digests.push(r.familiar_string());
            } else {
                tags.push(r.familiar_string());
            }
        }
        (tags, digests)
    }

    /// Images whose parent is `id`.
    pub fn children(&self, id: &Digest) -> Vec<Digest> {
        self.images
            .values()
            .filter(|i| i.record.parent.as_ref() == Some(id))
            .map(|i| i.record.id.clone())
            .collect()
    }

    /// Resolves what a user typed to an image, as dockerd's GetImage does:
    /// a full ID, a reference (tag or digest), then a unique ID prefix.
    pub fn resolve(&self, name: &str) -> Result<Arc<Image>> {
        if let Some(img) = self.by_id_string(name) {
            return Ok(img);
        }
        if let Some(hex) = name.strip_prefix("sha256:") {
            if let Some(img) = self.by_prefix(hex) {
                return Ok(img);
            }
            return Err(Error::no_such_image(name));
        }
        let r = Reference::parse(name).map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let r = r.with_default_tag();
        if let Some(id) = self.refs.get(&r.to_string()) {
            if let Some(img) = self.images.get(id) {
                return Ok(img.clone());
            }
        }
        if let Some(img) = self.by_prefix(name) {
            return Ok(img);
        }
        Err(Error::no_such_image(&r.familiar_string()))
    }

    fn by_id_string(&self, name: &str) -> Option<Arc<Image>> {
        let d = if name.len() == 64 {
            Digest::from_hex(name).ok()?
        } else {
            name.parse().ok()?
        };
        self.images.get(&d).cloned()
    }

    /// A unique prefix of an image ID (docker's TruncIndex).
    fn by_prefix(&self, prefix: &str) -> Option<Arc<Image>> {
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        let mut found = self
            .images
            .values()
            .filter(|i| i.record.id.hex().starts_with(prefix));
        let first = found.next()?;
        found.next().is_none().then(|| first.clone())
    }
}

/// The persisted side of [`State`].
pub struct ImageStore {
    records: PathBuf,
    refs_file: PathBuf,
}

#[derive(Serialize, Deserialize, Default)]
struct RefsFile {
    refs: BTreeMap<String, Digest>,
}

impl ImageStore {
    pub fn new(root: PathBuf) -> ImageStore {
        ImageStore {
            records: root.join("records"),
            refs_file: root.join("repositories.json"),
        }
    }

    /// Reads every record and the references; references to missing images are dropped.
    pub fn load(&self, content: &ContentStore) -> Result<State> {
        std::fs::create_dir_all(&self.records).map_err(Error::io("image records"))?;
        let mut state = State::default();
        for entry in std::fs::read_dir(&self.records).map_err(Error::io("image records"))? {
            let path = entry.map_err(Error::io("image records"))?.path();
            if path.extension().is_none_or(|e| e != "json") {
                // a temp file a crash left behind
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(record) = read_json::<ImageRecord>(&path)? else {
                continue;
            };
            match image_from_record(content, record) {
                Ok(img) => {
                    state.images.insert(img.record.id.clone(), Arc::new(img));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable image record")
                }
            }
        }
        let refs: RefsFile = read_json(&self.refs_file)?.unwrap_or_default();
        let refs = refs
            .refs
            .into_iter()
            .filter(|(_, id)| state.images.contains_key(id))
            .collect();
        state.set_refs(digests_without_tags(refs));
        Ok(state)
    }

    pub fn write_record(&self, record: &ImageRecord) -> Result<()> {
        Ok(atomic_write_json(
            &self.records.join(format!("{}.json", record.id.hex())),
            record,
        )?)
    }

    pub fn delete_record(&self, id: &Digest) -> Result<()> {
        match std::fs::remove_file(self.records.join(format!("{}.json", id.hex()))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("image record")(e)),
            _ => Ok(()),
        }
    }

    pub fn write_refs(&self, refs: &BTreeMap<String, Digest>) -> Result<()> {
        Ok(atomic_write_json(
            &self.refs_file,
            &RefsFile { refs: refs.clone() },
        )?)
    }
}

/// Pulls before 2026-12-06 recorded `repo:tag@digest`; such a reference is read as
/// `repo@digest`, as dockerd records it (the next write of the file persists that).
/// A `repo@digest` already there wins over one made so.
fn digests_without_tags(refs: BTreeMap<String, Digest>) -> BTreeMap<String, Digest> {
    let mut out = BTreeMap::new();
    let mut legacy = Vec::new();
    for (k, id) in refs {
        let plain = Reference::parse(&k).ok().and_then(|r| {
            r.tag()?;
            r.trimmed().with_digest(r.digest()?).ok()
        });
        match plain {
            Some(p) => legacy.push((p.to_string(), id)),
            None => {
                out.insert(k, id);
            }
        }
    }
    for (k, id) in legacy {
        out.entry(k).or_insert(id);
    }
    out
}

/// Builds the in-memory image from its record and its config blob.
pub fn image_from_record(content: &ContentStore, record: ImageRecord) -> Result<Image> {
    let bytes = content.read(&record.id)?;
    let config: ImageConfig = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Internal(format!("config {} of image: {e}", record.id)))?;
    Ok(Image::new(record, config))
}

impl Image {
    /// An image from its record and its already parsed config.
    pub fn new(record: ImageRecord, config: ImageConfig) -> Image {
        let created_ns = config
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0);
        Image {
            record,
            config,
            created: created_ns.div_euclid(1_000_000_000),
            created_ns,
        }
    }
}

/// Blobs and snapshots that images reference, for garbage collection.
pub fn referenced(state: &State) -> (HashSet<Digest>, HashSet<String>) {
    let mut blobs = HashSet::new();
    let mut snaps = HashSet::new();
    for img in state.images.values() {
        blobs.insert(img.record.id.clone());
        for l in &img.record.layers {
            blobs.insert(l.blob.clone());
        }
        for c in img.chain_ids() {
            snaps.insert(c.hex().to_string());
        }
    }
    (blobs, snaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_and_digest_reference_is_kept_as_the_digest_alone() {
        let id = Digest::of(b"image");
        let d = Digest::of(b"manifest");
        let mut st = State::default();
        st.set_refs(digests_without_tags(BTreeMap::from([
            (format!("docker.io/library/bb:1@{d}"), id.clone()),
            (format!("docker.io/library/bb@{d}"), id.clone()),
            ("docker.io/library/bb:1".to_string(), id.clone()),
        ])));
        assert_eq!(
            st.refs().keys().collect::<Vec<_>>(),
            [
                "docker.io/library/bb:1",
                &format!("docker.io/library/bb@{d}")
            ]
        );
        assert_eq!(
            st.repo_tags_digests(&id),
            (vec!["bb:1".to_string()], vec![format!("bb@{d}")])
        );
    }

    #[test]
    fn chain_id_of_two_layers() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let ids = chain_ids([&a, &b].into_iter());
        assert_eq!(ids[0], a);
        assert_eq!(ids[1], Digest::of(format!("{a} {b}").as_bytes()));
    }
}
