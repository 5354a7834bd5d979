//! In-memory caches of what hot reads need (tag → digest, manifest media types and bytes,
//! blob sizes, layer links), so a manifest GET by tag or a blob HEAD touches no disk.
//!
//! Only the server writes tags, so those entries are exact and updated on every write.
//! Blobs, layer links and (with `--delete-untagged`) manifest revisions can also be removed
//! by `berth registry gc` in another process: link and size entries expire after
//! [`LINK_TTL`], and those entries and the manifests' are dropped when the collector's
//! epoch marker changes (looked at no more than once per [`EPOCH_CHECK`]); manifest PUT
//! checks its blobs against storage, never the cache.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::digest::Digest;

pub const LINK_TTL: Duration = Duration::from_secs(30);
pub const EPOCH_CHECK: Duration = Duration::from_secs(1);
/// Bytes of manifest bodies kept in memory (the idle footprint must stay small).
const MANIFEST_BUDGET: usize = 2 * 1024 * 1024;
/// Beyond this many entries a map is dropped and refilled from storage.
const MAX_ENTRIES: usize = 50_000;

#[derive(Default)]
pub struct Cache {
    enabled: bool,
    tags: RwLock<HashMap<(String, String), Digest>>,
    revisions: RwLock<HashMap<(String, Digest), String>>,
    links: RwLock<HashMap<(String, Digest), Instant>>,
    sizes: RwLock<HashMap<Digest, (u64, Instant)>>,
    manifests: Mutex<(HashMap<Digest, Bytes>, usize)>,
    repos: RwLock<HashSet<String>>,
    // When the GC epoch marker was last looked at, and the time it showed.
    epoch: Mutex<Option<(Instant, Option<SystemTime>)>>,
}

fn bounded_insert<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>, k: K, v: V) {
    if m.len() >= MAX_ENTRIES {
        m.clear();
    }
    m.insert(k, v);
}

impl Cache {
    pub fn new(enabled: bool) -> Cache {
        Cache {
            enabled,
            ..Cache::default()
        }
    }

    pub fn tag(&self, repo: &str, tag: &str) -> Option<Digest> {
        let m = self.tags.read().ok()?;
        m.get(&(repo.to_string(), tag.to_string())).cloned()
    }

    pub fn set_tag(&self, repo: &str, tag: &str, d: Option<&Digest>) {
        if let Ok(mut m) = self.tags.write() {
            let k = (repo.to_string(), tag.to_string());
            match d {
                Some(d) if self.enabled => bounded_insert(&mut m, k, d.clone()),
                _ => {
                    m.remove(&k);
                }
            }
        }
    }

    /// Forgets every tag of `repo` that points at `d`.
    pub fn drop_tags_to(&self, repo: &str, d: &Digest) {
        if let Ok(mut m) = self.tags.write() {
            m.retain(|(r, _), v| !(r == repo && v == d));
        }
    }

    pub fn revision(&self, repo: &str, d: &Digest) -> Option<String> {
        let m = self.revisions.read().ok()?;
        m.get(&(repo.to_string(), d.clone())).cloned()
    }

    pub fn set_revision(&self, repo: &str, d: &Digest, media_type: Option<&str>) {
        if let Ok(mut m) = self.revisions.write() {
            let k = (repo.to_string(), d.clone());
            match media_type {
                Some(t) if self.enabled => bounded_insert(&mut m, k, t.to_string()),
                _ => {
                    m.remove(&k);
                }
            }
        }
    }

    pub fn linked(&self, repo: &str, d: &Digest) -> bool {
        self.links
            .read()
            .ok()
            .and_then(|m| m.get(&(repo.to_string(), d.clone())).copied())
            .is_some_and(|at| at.elapsed() < LINK_TTL)
    }

    pub fn set_linked(&self, repo: &str, d: &Digest, linked: bool) {
        if let Ok(mut m) = self.links.write() {
            let k = (repo.to_string(), d.clone());
            if linked && self.enabled {
                bounded_insert(&mut m, k, Instant::now());
            } else {
                m.remove(&k);
            }
        }
    }

    pub fn size(&self, d: &Digest) -> Option<u64> {
        let m = self.sizes.read().ok()?;
        m.get(d)
            .filter(|(_, at)| at.elapsed() < LINK_TTL)
            .map(|(s, _)| *s)
    }

    pub fn set_size(&self, d: &Digest, size: u64) {
        if let (true, Ok(mut m)) = (self.enabled, self.sizes.write()) {
            bounded_insert(&mut m, d.clone(), (size, Instant::now()));
        }
    }

    pub fn manifest(&self, d: &Digest) -> Option<Bytes> {
        let m = self.manifests.lock().ok()?;
        m.0.get(d).cloned()
    }

    pub fn set_manifest(&self, d: &Digest, body: &Bytes) {
        if !self.enabled || body.len() > MANIFEST_BUDGET / 8 {
            return;
        }
        if let Ok(mut m) = self.manifests.lock() {
            if m.1 + body.len() > MANIFEST_BUDGET {
                m.0.clear();
                m.1 = 0;
            }
            if m.0.insert(d.clone(), body.clone()).is_none() {
                m.1 += body.len();
            }
        }
    }

    /// Whether the GC epoch marker is due to be looked at again.
    pub fn epoch_due(&self) -> bool {
        self.enabled
            && self
                .epoch
                .lock()
                .is_ok_and(|e| e.is_none_or(|(at, _)| at.elapsed() >= EPOCH_CHECK))
    }

    /// Records the marker's time; a change since the last look drops what a collection
    /// may have removed.
    pub fn set_epoch(&self, marker: Option<SystemTime>) {
        let changed = match self.epoch.lock() {
            Ok(mut e) => {
                let changed = e.is_some_and(|(_, old)| old != marker);
                *e = Some((Instant::now(), marker));
                changed
            }
            Err(_) => false,
        };
        if changed {
            if let Ok(mut m) = self.links.write() {
                m.clear();
            }
            if let Ok(mut m) = self.sizes.write() {
                m.clear();
            }
            // `gc --delete-untagged` removes manifest revisions too.
            if let Ok(mut m) = self.revisions.write() {
                m.clear();
            }
            if let Ok(mut m) = self.manifests.lock() {
                *m = Default::default();
            }
        }
    }

    /// Whether `repo` is known to be registered in the catalog already.
    pub fn repo_known(&self, repo: &str) -> bool {
        self.repos.read().is_ok_and(|s| s.contains(repo))
    }

    pub fn set_repo_known(&self, repo: &str) {
        if let (true, Ok(mut s)) = (self.enabled, self.repos.write()) {
            if s.len() >= MAX_ENTRIES {
                s.clear();
            }
            s.insert(repo.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;

    #[test]
    fn entries_are_invalidated_and_disabled_cache_keeps_nothing() {
        let d = Digest::of(Algorithm::Sha256, b"x");
        let c = Cache::new(true);
        c.set_tag("r", "t", Some(&d));
        assert_eq!(c.tag("r", "t"), Some(d.clone()));
        c.drop_tags_to("r", &d);
        assert_eq!(c.tag("r", "t"), None);
        c.set_linked("r", &d, true);
        assert!(c.linked("r", &d));
        c.set_linked("r", &d, false);
        assert!(!c.linked("r", &d));
        c.set_manifest(&d, &Bytes::from_static(b"{}"));
        assert_eq!(c.manifest(&d).unwrap(), "{}");

        c.set_size(&d, 5);
        c.set_epoch(None);
        assert!(!c.epoch_due());
        c.set_epoch(None);
        assert_eq!(c.size(&d), Some(5));
        c.set_epoch(Some(SystemTime::now()));
        assert_eq!(c.size(&d), None);

        let off = Cache::new(false);
        off.set_tag("r", "t", Some(&d));
        off.set_size(&d, 1);
        off.set_manifest(&d, &Bytes::from_static(b"{}"));
        assert!(off.tag("r", "t").is_none() && off.size(&d).is_none());
        assert!(off.manifest(&d).is_none());
    }
}
