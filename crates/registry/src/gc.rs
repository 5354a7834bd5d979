//! Garbage collection: mark every blob reachable from a manifest revision of any
//! repository (configs, layers, index children, subjects), sweep the rest.
//!
//! Safe while the server runs: a blob written or referenced (see [`Storage::touch`])
//! within the grace period is kept, and so are upload sessions younger than it; only
//! leftovers older than the grace period are removed.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use serde_json::Value;

use crate::digest::Digest;
use crate::error::{RegistryError, Result};
use crate::storage::{layer_key, touch_key, Storage, GC_EPOCH_KEY};

/// What a collection found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    pub manifests: usize,
    pub blobs_marked: usize,
    pub blobs_deleted: Vec<Digest>,
    pub bytes_freed: u64,
    pub blobs_kept_young: usize,
    pub uploads_deleted: usize,
}

async fn read_json(s: &dyn Storage, d: &Digest) -> Result<Option<Value>> {
    let Some(mut r) = s.blob_get(d, None).await? else {
        return Ok(None);
    };
    if r.size > crate::server::MAX_MANIFEST_BYTES as u64 {
        return Ok(None);
    }
    let mut buf = Vec::new();
    while let Some(c) = r.stream.next().await {
        buf.extend_from_slice(&c.map_err(|e| RegistryError::Io {
            path: d.to_string().into(),
            source: e,
        })?);
    }
    Ok(serde_json::from_slice(&buf).ok())
}

fn descriptor_digests(v: &Value, out: &mut Vec<Digest>) {
    let one = |d: &Value| {
        d.get("digest")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
    };
    for key in ["config", "subject"] {
        if let Some(d) = v.get(key).and_then(one) {
            out.push(d);
        }
    }
    for key in ["layers", "manifests", "blobs"] {
        if let Some(list) = v.get(key).and_then(Value::as_array) {
            out.extend(list.iter().filter_map(one));
        }
    }
}

/// Runs one collection; with `dry_run` nothing is deleted.
pub async fn collect(s: &dyn Storage, grace: Duration, dry_run: bool) -> Result<GcReport> {
    let started = SystemTime::now();
    let cutoff = started.checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = GcReport::default();

    // Mark: every manifest revision of every repository is a root.
    let mut marked: HashSet<Digest> = HashSet::new();
    let mut queue: Vec<Digest> = Vec::new();
    for repo in s.repo_list().await? {
        let revisions = s.manifest_list(&repo).await?;
        report.manifests += revisions.len();
        queue.extend(revisions);
    }
    while let Some(d) = queue.pop() {
        if !marked.insert(d.clone()) {
            continue;
        }
        if let Some(v) = read_json(s, &d).await? {
            let mut refs = Vec::new();
            descriptor_digests(&v, &mut refs);
            queue.extend(refs.into_iter().filter(|r| !marked.contains(r)));
        }
    }
    report.blobs_marked = marked.len();

    // Blobs touched recently (a manifest being pushed references them) count as young.
    let touched: HashSet<Digest> = s
        .meta_list("touch/")
        .await?
        .into_iter()
        .filter(|e| e.modified >= cutoff)
        .filter_map(|e| {
            let rest = e.key.strip_prefix("touch/")?;
            let (alg, hex) = rest.split_once('/')?;
            Digest::from_parts(alg, hex).ok()
        })
        .collect();

    // Sweep.
    let mut deleted: HashSet<Digest> = HashSet::new();
    for b in s.blob_list().await? {
        if marked.contains(&b.digest) {
            continue;
        }
        // Any marker at all (even one older than the grace period, which is pruned below)
        // keeps the blob for this run: one written since the listing above belongs to a
        // manifest being pushed right now.
        let young = b.modified >= cutoff
            || touched.contains(&b.digest)
            || s.meta_get(&touch_key(&b.digest)).await?.is_some();
        if young {
            report.blobs_kept_young += 1;
            continue;
        }
        if !dry_run {
            s.blob_delete(&b.digest).await?;
        }
        report.bytes_freed += b.size;
        deleted.insert(b.digest.clone());
        report.blobs_deleted.push(b.digest);
    }
    report.blobs_deleted.sort();
    if dry_run {
        return Ok(report);
    }

    if !deleted.is_empty() {
        s.meta_put(GC_EPOCH_KEY, bytes::Bytes::new()).await?;
    }

    // Layer links to deleted blobs, stale touch markers and abandoned uploads.
    for repo in s.repo_list().await? {
        let prefix = format!("repositories/{repo}/_layers/");
        for e in s.meta_list(&prefix).await? {
            let Some((alg, hex)) = e.key.strip_prefix(&prefix).and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            if let Ok(d) = Digest::from_parts(alg, hex) {
                if deleted.contains(&d) {
                    s.meta_delete(&layer_key(&repo, &d)).await?;
                }
            }
        }
    }
    for e in s.meta_list("touch/").await? {
        if e.modified < cutoff {
            s.meta_delete(&e.key).await?;
        }
    }
    for (id, info) in s.upload_list().await? {
        if info.started < cutoff {
            s.upload_cancel(&id).await?;
            report.uploads_deleted += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Algorithm;
    use crate::storage::fs::FsStorage;
    use crate::storage::ByteStream;
    use bytes::Bytes;

    fn body(b: &[u8]) -> ByteStream {
        let b = Bytes::copy_from_slice(b);
        Box::pin(futures_util::stream::once(async move { Ok(b) }))
    }

    async fn put(s: &dyn Storage, data: &[u8]) -> Digest {
        let d = Digest::of(Algorithm::Sha256, data);
        s.blob_put(&d, body(data)).await.unwrap();
        d
    }

    #[tokio::test]
    async fn keeps_reachable_and_young_blobs_and_sweeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let config = put(&s, b"{\"config\":1}").await;
        let layer = put(&s, b"layer bytes").await;
        let orphan = put(&s, b"nobody wants me").await;
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{config}"}},"layers":[{{"digest":"{layer}"}}]}}"#
        );
        let m = put(&s, manifest.as_bytes()).await;
        let index = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{m}"}}]}}"#);
        let i = put(&s, index.as_bytes()).await;
        s.repo_register("r").await.unwrap();
        s.link_blob("r", &orphan).await.unwrap();
        s.manifest_link("r", &i, "application/vnd.oci.image.index.v1+json")
            .await
            .unwrap();

        // Everything is young: nothing goes.
        let r = collect(&s, Duration::from_secs(3600), false).await.unwrap();
        assert!(r.blobs_deleted.is_empty());
        assert_eq!(r.blobs_marked, 4);
        assert_eq!(r.blobs_kept_young, 1);

        // With no grace the orphan goes, and its link with it; dry run deletes nothing.
        let r = collect(&s, Duration::ZERO, true).await.unwrap();
        assert_eq!(r.blobs_deleted, std::slice::from_ref(&orphan));
        assert!(s.blob_stat(&orphan).await.unwrap().is_some());
        let r = collect(&s, Duration::ZERO, false).await.unwrap();
        assert_eq!(r.blobs_deleted, std::slice::from_ref(&orphan));
        assert_eq!(r.bytes_freed, 15);
        assert!(s.blob_stat(&orphan).await.unwrap().is_none());
        assert!(!s.blob_linked("r", &orphan).await.unwrap());
        for d in [&config, &layer, &m, &i] {
            assert!(s.blob_stat(d).await.unwrap().is_some());
        }
    }
}
