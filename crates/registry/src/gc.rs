//! Garbage collection: mark every blob reachable from a manifest revision of any
//! repository (configs, layers, index children, subjects), sweep the rest. With
//! `delete_untagged` (distribution's `--delete-untagged`), the roots are only the
//! revisions a tag reaches, their referrers, and the recent ones; the other revisions
//! are removed first.
//!
//! Safe while the server runs: a blob written or referenced (see [`Storage::touch`])
//! within the grace period is kept, and so are upload sessions younger than it; only
//! leftovers older than the grace period are removed.

use std::collections::{HashMap, HashSet};
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
    /// Untagged manifest revisions removed (`repository@digest`).
    pub manifests_deleted: Vec<String>,
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

fn descriptor_digest(d: &Value) -> Option<Digest> {
    d.get("digest")?.as_str()?.parse().ok()
}

/// The digests a descriptor list of `v` names (`layers`, `manifests`, `blobs`).
fn listed<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = Digest> + 'a {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(descriptor_digest)
}

/// What a manifest or index names: its subject, the manifests an index lists, and
/// every digest it references (those, and its config, layers and blobs).
#[derive(Debug, Default)]
struct Names {
    subject: Option<Digest>,
    manifests: Vec<Digest>,
    all: Vec<Digest>,
}

impl Names {
    fn of(v: &Value) -> Names {
        let subject = v.get("subject").and_then(descriptor_digest);
        let manifests: Vec<Digest> = listed(v, "manifests").collect();
        let mut all: Vec<Digest> = v
            .get("config")
            .and_then(descriptor_digest)
            .into_iter()
            .collect();
        all.extend(subject.clone());
        all.extend(listed(v, "layers"));
        all.extend(manifests.iter().cloned());
        all.extend(listed(v, "blobs"));
        Names {
            subject,
            manifests,
            all,
        }
    }
}

/// The names in blob `d`, read once per collection (`None`: not a JSON document).
async fn names<'a>(
    s: &dyn Storage,
    d: &Digest,
    known: &'a mut HashMap<Digest, Option<Names>>,
) -> Result<Option<&'a Names>> {
    if !known.contains_key(d) {
        let read = read_json(s, d).await?.as_ref().map(Names::of);
        known.insert(d.clone(), read);
    }
    Ok(known.get(d).and_then(Option::as_ref))
}

/// What a collection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcOptions {
    /// Blobs, revisions and uploads younger than this are kept.
    pub grace: Duration,
    /// Report, delete nothing.
    pub dry_run: bool,
    /// Remove the manifest revisions no tag reaches first.
    pub delete_untagged: bool,
}

/// The revisions of `repo` that `--delete-untagged` keeps: those a tag names, what they
/// name in turn (an index's children), the referrers of kept ones (signatures and SBOMs
/// name their image as subject and carry no tag), and any pushed within the grace
/// period (an index's children are pushed by digest before the index gets its tag).
async fn tagged_revisions(
    s: &dyn Storage,
    repo: &str,
    revisions: &[(Digest, SystemTime)],
    cutoff: SystemTime,
    known: &mut HashMap<Digest, Option<Names>>,
) -> Result<HashSet<Digest>> {
    for (d, _) in revisions {
        names(s, d, known).await?;
    }
    let named = |d: &Digest| known.get(d).and_then(Option::as_ref);
    let present: HashSet<&Digest> = revisions.iter().map(|(d, _)| d).collect();
    let mut queue: Vec<Digest> = revisions
        .iter()
        .filter(|(_, modified)| *modified >= cutoff)
        .map(|(d, _)| d.clone())
        .collect();
    for tag in s.tag_list(repo).await? {
        queue.extend(s.tag_get(repo, &tag).await?);
    }
    let mut kept = HashSet::new();
    loop {
        while let Some(d) = queue.pop() {
            if !present.contains(&d) || !kept.insert(d.clone()) {
                continue;
            }
            if let Some(n) = named(&d) {
                queue.extend(n.manifests.iter().cloned());
            }
        }
        queue.extend(
            present
                .iter()
                .filter(|d| {
                    !kept.contains(**d)
                        && named(d)
                            .and_then(|n| n.subject.as_ref())
                            .is_some_and(|s| kept.contains(s))
                })
                .map(|d| (*d).clone()),
        );
        if queue.is_empty() {
            return Ok(kept);
        }
    }
}

/// Runs one collection.
pub async fn collect(s: &dyn Storage, opts: GcOptions) -> Result<GcReport> {
    let started = SystemTime::now();
    let cutoff = started
        .checked_sub(opts.grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = GcReport::default();
    let mut known: HashMap<Digest, Option<Names>> = HashMap::new();

    // Mark: every manifest revision of every repository is a root (with
    // `delete_untagged`, every one that stays).
    let mut marked: HashSet<Digest> = HashSet::new();
    let mut queue: Vec<Digest> = Vec::new();
    for repo in s.repo_list().await? {
        let revisions = s.manifest_revisions(&repo).await?;
        report.manifests += revisions.len();
        if !opts.delete_untagged {
            queue.extend(revisions.into_iter().map(|(d, _)| d));
            continue;
        }
        let kept = tagged_revisions(s, &repo, &revisions, cutoff, &mut known).await?;
        for (d, _) in revisions {
            if kept.contains(&d) {
                queue.push(d);
                continue;
            }
            if !opts.dry_run {
                s.manifest_unlink(&repo, &d).await?;
                let subject = known
                    .get(&d)
                    .and_then(Option::as_ref)
                    .and_then(|n| n.subject.clone());
                if let Some(subject) = subject {
                    s.referrer_delete(&repo, &subject, &d).await?;
                }
            }
            report.manifests_deleted.push(format!("{repo}@{d}"));
        }
    }
    report.manifests_deleted.sort();
    while let Some(d) = queue.pop() {
        if !marked.insert(d.clone()) {
            continue;
        }
        if let Some(n) = names(s, &d, &mut known).await? {
            queue.extend(n.all.iter().filter(|r| !marked.contains(*r)).cloned());
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
        if !opts.dry_run {
            s.blob_delete(&b.digest).await?;
        }
        report.bytes_freed += b.size;
        deleted.insert(b.digest.clone());
        report.blobs_deleted.push(b.digest);
    }
    report.blobs_deleted.sort();
    if opts.dry_run {
        return Ok(report);
    }

    if !deleted.is_empty() || !report.manifests_deleted.is_empty() {
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

    fn opts(grace_secs: u64, dry_run: bool, delete_untagged: bool) -> GcOptions {
        GcOptions {
            grace: Duration::from_secs(grace_secs),
            dry_run,
            delete_untagged,
        }
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
        let r = collect(&s, opts(3600, false, false)).await.unwrap();
        assert!(r.blobs_deleted.is_empty());
        assert_eq!(r.blobs_marked, 4);
        assert_eq!(r.blobs_kept_young, 1);

        // With no grace the orphan goes, and its link with it; dry run deletes nothing.
        let r = collect(&s, opts(0, true, false)).await.unwrap();
        assert_eq!(r.blobs_deleted, std::slice::from_ref(&orphan));
        assert!(s.blob_stat(&orphan).await.unwrap().is_some());
        let r = collect(&s, opts(0, false, false)).await.unwrap();
        assert_eq!(r.blobs_deleted, std::slice::from_ref(&orphan));
        assert_eq!(r.bytes_freed, 15);
        assert!(s.blob_stat(&orphan).await.unwrap().is_none());
        assert!(!s.blob_linked("r", &orphan).await.unwrap());
        for d in [&config, &layer, &m, &i] {
            assert!(s.blob_stat(d).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn delete_untagged_keeps_what_tags_reach_their_referrers_and_recent_pushes() {
        const OCI: &str = "application/vnd.oci.image.manifest.v1+json";
        let dir = tempfile::tempdir().unwrap();
        let s = FsStorage::open(dir.path()).unwrap();
        let config = put(&s, b"{}").await;
        let image = |n: u32, subject: Option<&Digest>| {
            let subject = subject
                .map(|d| format!(r#","subject":{{"digest":"{d}"}}"#))
                .unwrap_or_default();
            format!(
                r#"{{"schemaVersion":2,"config":{{"digest":"{config}"}},"layers":[],"annotations":{{"n":"{n}"}}{subject}}}"#
            )
        };
        s.repo_register("r").await.unwrap();
        let push = |body: String| {
            let s = &s;
            async move {
                let d = put(s, body.as_bytes()).await;
                s.manifest_link("r", &d, OCI).await.unwrap();
                d
            }
        };
        // A tagged index and its (untagged) child, with a referrer of the child.
        let child = push(image(1, None)).await;
        let index = push(format!(
            r#"{{"schemaVersion":2,"manifests":[{{"digest":"{child}"}}]}}"#
        ))
        .await;
        s.tag_put("r", "t", &index).await.unwrap();
        let signature = push(image(2, Some(&child))).await;
        // An untagged image with a referrer of its own, both old; and a recent push.
        let old = push(image(3, None)).await;
        let old_referrer = push(image(4, Some(&old))).await;
        s.referrer_put("r", &old, &old_referrer, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let recent = push(image(5, None)).await;
        let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for d in [&child, &index, &signature, &old, &old_referrer] {
            let p = dir.path().join(format!(
                "meta/repositories/r/_manifests/revisions/sha256/{}",
                d.hex()
            ));
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(an_hour_ago)
                .unwrap();
        }

        let r = collect(&s, opts(600, false, true)).await.unwrap();
        let mut gone = vec![format!("r@{old}"), format!("r@{old_referrer}")];
        gone.sort();
        assert_eq!(r.manifests_deleted, gone);
        let mut left = s
            .manifest_revisions("r")
            .await
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect::<Vec<_>>();
        left.sort();
        let mut want = vec![child, index, signature, recent];
        want.sort();
        assert_eq!(left, want);
        assert!(s.referrers("r", &old).await.unwrap().is_empty());
        // Without the option, untagged revisions are roots like the others.
        let r = collect(&s, opts(0, true, false)).await.unwrap();
        assert!(r.manifests_deleted.is_empty());
    }
}
