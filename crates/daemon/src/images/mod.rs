//! Image operations: list, inspect, history, tag, remove, prune, disk usage,
//! and (in their own files) load, save and import.

pub(crate) mod filters;
mod import;
mod load;
mod pull;
pub(crate) use pull::RegistrySettings;
mod push;
mod save;
mod search;
pub(crate) mod store;
mod unpack;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth_api_types::{
    GraphDriver, HistoryItem, ImageConfig, ImageDeleteItem, ImageInspect, ImageMetadata,
    ImagePruneReport, ImageSummary, RootFs, SystemDf,
};
use berth_image::Reference;
use berth_store::Digest;

use crate::{Daemon, Error, Result};
use filters::{
    bool_filter, check_filter_keys, created_of, label_matches, reference_matches, until_of,
};
use store::Image;

pub use import::ImportOptions;
pub use pull::PullOptions;
pub use push::PushOptions;
pub use save::SavePlan;

/// Filters as the API sends them: name → accepted values.
pub type ImageFilters = BTreeMap<String, Vec<String>>;

impl Daemon {
    /// `GET /images/json`.
    pub fn list_images(&self, all: bool, filters: &ImageFilters) -> Result<Vec<ImageSummary>> {
        check_filter_keys(
            filters,
            &["dangling", "label", "before", "since", "reference", "until"],
        )?;
        let st = self.read();
        let dangling = bool_filter(filters, "dangling")?;
        let before = filters
            .get("before")
            .map(|v| created_of(&st, v))
            .transpose()?;
        let since = filters
            .get("since")
            .map(|v| created_of(&st, v))
            .transpose()?;
        let until = filters.get("until").map(|v| until_of(v)).transpose()?;
        let labels = filters.get("label").cloned().unwrap_or_default();
        let patterns = filters.get("reference").cloned().unwrap_or_default();
        let mut out = Vec::new();
        let mut images: Vec<&Arc<Image>> = st.images.values().collect();
        images.sort_by(|a, b| {
            b.created_ns
                .cmp(&a.created_ns)
                .then_with(|| a.id().cmp(b.id()))
        });
        for img in images {
            let (mut tags, mut digests) = st.repo_tags_digests(img.id());
            let untagged = tags.is_empty() && digests.is_empty();
            if let Some(d) = dangling {
                if d != untagged {
                    continue;
                }
            }
            // Untagged parents of other images are intermediate layers: only with -a.
            if !all && untagged && dangling.is_none() && !st.children(img.id()).is_empty() {
                continue;
            }
            if until.is_some_and(|t| img.created >= t) {
                continue;
            }
            if before.is_some_and(|t| img.created_ns >= t)
                || since.is_some_and(|t| img.created_ns <= t)
            {
                continue;
            }
            if !labels.iter().all(|l| label_matches(img_labels(img), l)) {
                continue;
            }
            if !patterns.is_empty() {
                let refs = st.refs_of(img.id());
                let keep: Vec<String> = refs
                    .iter()
                    .filter(|r| patterns.iter().any(|p| reference_matches(r, p)))
                    .map(|r| r.familiar_string())
                    .collect();
                if keep.is_empty() {
                    continue;
                }
                tags.retain(|t| keep.contains(t));
                digests.retain(|t| keep.contains(t));
            }
            out.push(self.summary(img, tags, digests));
        }
        Ok(out)
    }

    fn summary(
        &self,
        img: &Image,
        repo_tags: Vec<String>,
        repo_digests: Vec<String>,
    ) -> ImageSummary {
        ImageSummary {
            id: img.id().to_string(),
            parent_id: img
                .record
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            repo_tags,
            repo_digests,
            created: img.created,
            size: img.size() as i64,
            shared_size: -1,
            labels: img_labels(img).clone(),
            containers: -1,
        }
    }

    /// `GET /images/{name}/json`.
    pub fn inspect_image(&self, name: &str) -> Result<ImageInspect> {
        let st = self.read();
        let img = st.resolve(name)?;
        let (repo_tags, repo_digests) = st.repo_tags_digests(img.id());
        let c = &img.config;
        let config: ImageConfig = c
            .config
            .as_ref()
            .map(|cc| serde_json::to_value(cc).and_then(serde_json::from_value))
            .transpose()
            .map_err(|e| Error::Internal(format!("image config: {e}")))?
            .unwrap_or_default();
        let chain = img.chain_ids();
        let mut dirs: Vec<String> = chain
            .iter()
            .rev()
            .map(|c| self.snapshots.path(c.hex()).display().to_string())
            .collect();
        let mut data = BTreeMap::new();
        if let Some(top) = dirs.first().cloned() {
            data.insert("UpperDir".to_string(), top);
            dirs.remove(0);
            if !dirs.is_empty() {
                data.insert("LowerDir".to_string(), dirs.join(":"));
            }
        }
        Ok(ImageInspect {
            id: img.id().to_string(),
            repo_tags,
            repo_digests,
            parent: img
                .record
                .parent
                .as_ref()
                .map(|p| p.to_string())
                .unwrap_or_default(),
            comment: c.comment.clone().unwrap_or_default(),
            created: c.created.clone().unwrap_or_default(),
            docker_version: c.docker_version.clone().unwrap_or_default(),
            author: c.author.clone().unwrap_or_default(),
            config,
            architecture: c.architecture.clone(),
            variant: c.variant.clone(),
            os: c.os.clone(),
            os_version: c.os_version.clone(),
            size: img.size() as i64,
            graph_driver: GraphDriver {
                name: "overlayfs".into(),
                data,
            },
            root_fs: RootFs {
                kind: "layers".into(),
                layers: img
                    .record
                    .layers
                    .iter()
                    .map(|l| l.diff_id.to_string())
                    .collect(),
            },
            metadata: ImageMetadata {
                last_tag_time: img.record.last_tag_time.clone(),
            },
        })
    }

    /// `GET /images/{name}/history`: newest first; only the top entry carries the
    /// image's ID and tags, the rest are `<missing>` as with docker for pulled images.
    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
        let st = self.read();
        let img = st.resolve(name)?;
        let (tags, _) = st.repo_tags_digests(img.id());
        let mut layers = img.record.layers.iter();
        let mut items = Vec::new();
        if img.config.history.is_empty() {
            for l in layers {
                items.push(HistoryItem {
                    size: l.size as i64,
                    created: img.created,
                    ..Default::default()
                });
            }
        } else {
            for h in &img.config.history {
                let empty = h.empty_layer.unwrap_or(false);
                let size = if empty {
                    0
                } else {
                    layers.next().map(|l| l.size as i64).unwrap_or(0)
                };
                let created = h
                    .created
                    .as_deref()
                    .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                    .map(|t| t.timestamp())
                    .unwrap_or(0);
                items.push(HistoryItem {
                    id: String::new(),
                    created,
                    created_by: h.created_by.clone().unwrap_or_default(),
                    tags: Vec::new(),
                    size,
                    comment: h.comment.clone().unwrap_or_default(),
                });
            }
        }
        items.reverse();
        for (i, item) in items.iter_mut().enumerate() {
            if i == 0 {
                item.id = img.id().to_string();
                item.tags = tags.clone();
            } else {
                item.id = "<missing>".into();
            }
        }
        Ok(items)
    }

    /// `POST /images/{name}/tag`.
    pub fn tag_image(&self, name: &str, repo: &str, tag: &str) -> Result<()> {
        let target = parse_tag_target(repo, tag)?;
        let _w = self.lock_write();
        let img = self.read().resolve(name)?;
        self.set_ref(&target, img.id())?;
        self.events.emit(
            "image",
            "tag",
            img.id().as_str(),
            attrs(&target.familiar_string()),
        );
        Ok(())
    }

    /// Points `r` at `id` (persisted), stamping the image's LastTagTime. Caller holds the write lock.
    fn set_ref(&self, r: &Reference, id: &Digest) -> Result<()> {
        let mut refs = self.read().refs().clone();
        refs.insert(r.to_string(), id.clone());
        self.image_store.write_refs(&refs)?;
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        st.set_refs(refs);
        if let Some(img) = st.images.get(id).cloned() {
            let mut record = img.record.clone();
            record.last_tag_time =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true));
            // LastTagTime is informational: a failure to persist it must not fail the tag.
            if self.image_store.write_record(&record).is_ok() {
                st.images.insert(
                    id.clone(),
                    Arc::new(Image {
                        record,
                        config: img.config.clone(),
                        created: img.created,
                        created_ns: img.created_ns,
                    }),
                );
            }
        }
        Ok(())
    }

    fn remove_ref(&self, key: &str) -> Result<()> {
        let mut refs = self.read().refs().clone();
        refs.remove(key);
        self.image_store.write_refs(&refs)?;
        self.state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .set_refs(refs);
        Ok(())
    }

    fn lock_write(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `DELETE /images/{name}`, following dockerd's ImageDelete rules.
    pub fn remove_image(
        &self,
        name: &str,
        force: bool,
        no_prune: bool,
    ) -> Result<Vec<ImageDeleteItem>> {
        let _w = self.lock_write();
        let img = self.read().resolve(name)?;
        let id = img.id().clone();
        let mut out = Vec::new();
        let by_id = is_id_prefix(&id, name);
        let refs = self.read().refs_of(&id);
        let users = self
            .containers
            .images_in_use()
            .remove(id.as_str())
            .unwrap_or_default();
        let running = users
            .iter()
            .find(|(_, r)| *r)
            .map(|(c, _)| c[..12].to_string());
        let stopped = users
            .iter()
            .find(|(_, r)| !*r)
            .map(|(c, _)| c[..12].to_string());
        // The references this delete takes away: the named one, plus (as dockerd) the
        // digest references of its repository once no tag of that repository is left.
        let target = if by_id {
            None
        } else {
            Some(
                Reference::parse(name)
                    .map_err(|e| Error::InvalidParameter(e.to_string()))?
                    .with_default_tag(),
            )
        };
        let mut dropping: Vec<Reference> = Vec::new();
        if let Some(r) = &target {
            dropping.push(r.clone());
            let other_tags = refs
                .iter()
                .any(|x| x != r && x.name() == r.name() && x.digest().is_none());
            if r.digest().is_none() && !other_tags {
                dropping.extend(
                    refs.iter()
                        .filter(|x| x.name() == r.name() && x.digest().is_some())
                        .cloned(),
                );
            }
        }
        let last_ref = !by_id && refs.iter().all(|x| dropping.contains(x));
        if !by_id && last_ref && !force {
            if let Some(c) = running.as_ref().or(stopped.as_ref()) {
                return Err(Error::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - container {c} is using its referenced image {}",
                    id.short()
                )));
            }
        }
        if by_id {
            if let Some(c) = &running {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image is being used by running container {c}",
                    id.short()
                )));
            }
            if let (Some(c), false) = (&stopped, force) {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is being used by stopped container {c}",
                    id.short()
                )));
            }
        }
        if !by_id {
            for r in &dropping {
                self.remove_ref(&r.to_string())?;
                out.push(ImageDeleteItem::Untagged(r.familiar_string()));
                self.events
                    .emit("image", "untag", id.as_str(), attrs(&r.familiar_string()));
            }
            if !self.read().refs_of(&id).is_empty() {
                return Ok(out);
            }
        } else if !refs.is_empty() {
            if !force && !is_single_reference(&refs) {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
                    id.short()
                )));
            }
            for r in refs {
                self.remove_ref(&r.to_string())?;
                out.push(ImageDeleteItem::Untagged(r.familiar_string()));
                self.events
                    .emit("image", "untag", id.as_str(), attrs(&r.familiar_string()));
            }
        }
        // An image a running container uses stays (untagged) even when forced.
        if running.is_some() {
            return Ok(out);
        }
        if !self.read().children(&id).is_empty() {
            if by_id {
                return Err(Error::Conflict(format!(
                    "conflict: unable to delete {} (cannot be forced) - image has dependent child images",
                    id.short()
                )));
            }
            return Ok(out);
        }
        self.delete_image_and_parents(&id, !no_prune, &mut out)?;
        Ok(out)
    }

    /// Deletes an untagged image with no children, then (when pruning) its parents
    /// that became untagged and childless. Caller holds the write lock.
    fn delete_image_and_parents(
        &self,
        id: &Digest,
        prune: bool,
        out: &mut Vec<ImageDeleteItem>,
    ) -> Result<u64> {
        let mut reclaimed = 0;
        let mut next = Some(id.clone());
        while let Some(id) = next.take() {
            let parent = {
                let st = self.read();
                let Some(img) = st.images.get(&id) else { break };
                img.record.parent.clone()
            };
            reclaimed += self.delete_image(&id, out)?;
            if prune {
                next = parent.filter(|p| {
                    let st = self.read();
                    st.images.contains_key(p)
                        && st.refs_of(p).is_empty()
                        && st.children(p).is_empty()
                });
            }
        }
        Ok(reclaimed)
    }

    /// Drops one image and every layer (snapshot and blob) no other image uses;
    /// returns the bytes freed. Caller holds the write lock.
    fn delete_image(&self, id: &Digest, out: &mut Vec<ImageDeleteItem>) -> Result<u64> {
        self.image_store.delete_record(id)?;
        let img = {
            let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
            let mut refs = st.refs().clone();
            refs.retain(|_, v| v != id);
            st.set_refs(refs);
            st.images.remove(id)
        };
        let Some(img) = img else { return Ok(0) };
        out.push(ImageDeleteItem::Deleted(id.to_string()));
        self.events
            .emit("image", "delete", id.as_str(), BTreeMap::new());
        let (blobs, mut snaps) = store::referenced(&self.read());
        snaps.extend(self.containers.snapshots_in_use());
        let mut freed = 0;
        for (layer, chain) in img.record.layers.iter().zip(img.chain_ids()).rev() {
            if !snaps.contains(chain.hex()) {
                self.snapshots.remove(chain.hex())?;
                freed += layer.size;
                out.push(ImageDeleteItem::Deleted(chain.to_string()));
            }
            if !blobs.contains(&layer.blob) {
                self.content.delete(&layer.blob)?;
            }
        }
        if !blobs.contains(id) {
            self.content.delete(id)?;
        }
        Ok(freed)
    }

    /// `POST /images/prune`: dangling images, or with `dangling=false` (`-a`)
    /// every image no container uses.
    pub fn prune_images(&self, filters: &ImageFilters) -> Result<ImagePruneReport> {
        check_filter_keys(filters, &["dangling", "label", "label!", "until"])?;
        let all = bool_filter(filters, "dangling")? == Some(false);
        let until = filters.get("until").map(|v| until_of(v)).transpose()?;
        let _w = self.lock_write();
        let in_use = self.containers.images_in_use();
        let candidates: Vec<Digest> = {
            let st = self.read();
            st.images
                .values()
                .filter(|img| !in_use.contains_key(img.id().as_str()))
                .filter(|img| all || st.refs_of(img.id()).is_empty())
                .filter(|img| until.is_none_or(|t| img.created < t))
                .filter(|img| {
                    let labels = img_labels(img);
                    filters
                        .get("label")
                        .is_none_or(|ls| ls.iter().all(|l| label_matches(labels, l)))
                        && filters
                            .get("label!")
                            .is_none_or(|ls| ls.iter().all(|l| !label_matches(labels, l)))
                })
                .map(|img| img.id().clone())
                .collect()
        };
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for id in candidates {
            if !self.read().images.contains_key(&id) || !self.read().children(&id).is_empty() {
                continue;
            }
            let refs = self.read().refs_of(&id);
            for r in refs {
                self.remove_ref(&r.to_string())?;
                deleted.push(ImageDeleteItem::Untagged(r.familiar_string()));
            }
            reclaimed += self.delete_image_and_parents(&id, true, &mut deleted)?;
        }
        self.events
            .emit("image", "prune", "", attrs_reclaimed(reclaimed));
        Ok(ImagePruneReport {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: reclaimed,
        })
    }

    /// The image half of `GET /system/df`: shared size counts layers used by more than one image.
    pub fn disk_usage(&self) -> Result<SystemDf> {
        // Containers first: listing them reads the image state itself.
        let containers = self
            .list_containers(true, None, true, &Default::default())?
            .into_iter()
            .map(|c| serde_json::to_value(c).map_err(|e| Error::Internal(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let in_use = self.containers.images_in_use();
        let st = self.read();
        let mut layers: BTreeMap<Digest, (u64, usize)> = BTreeMap::new();
        for img in st.images.values() {
            for (l, c) in img.record.layers.iter().zip(img.chain_ids()) {
                let e = layers.entry(c).or_insert((l.size, 0));
                e.1 += 1;
            }
        }
        let layers_size = layers.values().map(|(s, _)| s).sum::<u64>() as i64;
        let mut images = Vec::new();
        for img in st.images.values() {
            let shared: u64 = img
                .chain_ids()
                .iter()
                .filter_map(|c| layers.get(c))
                .filter(|(_, users)| *users > 1)
                .map(|(size, _)| size)
                .sum();
            let (tags, digests) = st.repo_tags_digests(img.id());
            let mut s = self.summary(img, tags, digests);
            s.shared_size = shared as i64;
            s.containers = in_use.get(img.id().as_str()).map_or(0, |u| u.len() as i64);
            images.push(s);
        }
        images.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(SystemDf {
            layers_size,
            images,
            containers,
            ..Default::default()
        })
    }
}

fn attrs(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("name".to_string(), name.to_string())])
}

fn attrs_reclaimed(bytes: u64) -> BTreeMap<String, String> {
    BTreeMap::from([("reclaimed".to_string(), bytes.to_string())])
}

fn img_labels(img: &Image) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    img.config
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .unwrap_or(&EMPTY)
}

/// Whether `name` designates the image by its ID (full or prefix) rather than by a reference.
fn is_id_prefix(id: &Digest, name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    !hex.is_empty() && id.hex().starts_with(hex)
}

/// dockerd's isSingleReference: at most one tag, and digests only of that same repository.
fn is_single_reference(refs: &[Reference]) -> bool {
    if refs.len() <= 1 {
        return refs.len() == 1;
    }
    let mut single: Option<&Reference> = None;
    let mut canonical = BTreeSet::new();
    for r in refs {
        if r.digest().is_some() {
            canonical.insert(r.name());
        } else if single.is_none() {
            single = Some(r);
        } else {
            return false;
        }
    }
    let single = single.unwrap_or(&refs[0]);
    canonical.len() == 1 && canonical.contains(&single.name())
}

/// The reference `repo[:tag]` a tag request creates; digests are refused.
pub(crate) fn parse_tag_target(repo: &str, tag: &str) -> Result<Reference> {
    let r = Reference::parse(repo).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    if r.digest().is_some() {
        return Err(Error::InvalidParameter(
            "refusing to create a tag with a digest reference".into(),
        ));
    }
    if tag.is_empty() {
        return Ok(r.with_default_tag());
    }
    r.with_tag(tag)
        .map_err(|e| Error::InvalidParameter(e.to_string()))
}
