//! One behavioural test suite every storage backend must pass.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;

use super::{ByteStream, Storage};
use crate::digest::{Algorithm, Digest};
use crate::error::RegistryError;

fn body(parts: &[&[u8]]) -> ByteStream {
    let v: Vec<std::io::Result<Bytes>> = parts
        .iter()
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    Box::pin(futures_util::stream::iter(v))
}

async fn read_all(s: &dyn Storage, d: &Digest, r: Option<std::ops::Range<u64>>) -> Vec<u8> {
    let mut read = s.blob_get(d, r).await.unwrap().expect("blob present");
    let mut out = Vec::new();
    while let Some(c) = read.stream.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// Runs the whole suite against `s`, which must be empty.
pub(crate) async fn run(s: &dyn Storage) {
    // Blobs: verified put, stat, ranged get, list, delete.
    let data = b"hello, registry".repeat(1000);
    let d = Digest::of(Algorithm::Sha256, &data);
    assert_eq!(s.blob_stat(&d).await.unwrap(), None);
    assert!(s.blob_get(&d, None).await.unwrap().is_none());
    let n = s
        .blob_put(&d, body(&[&data[..100], &data[100..]]))
        .await
        .unwrap();
    assert_eq!(n, data.len() as u64);
    assert_eq!(s.blob_stat(&d).await.unwrap(), Some(data.len() as u64));
    assert_eq!(read_all(s, &d, None).await, data);
    assert_eq!(read_all(s, &d, Some(5..20)).await, &data[5..20]);
    let listed = s.blob_list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].digest, d);
    assert_eq!(listed[0].size, data.len() as u64);

    // A body that does not match its digest stores nothing.
    let wrong = Digest::of(Algorithm::Sha256, b"something else");
    let err = s.blob_put(&wrong, body(&[b"not it"])).await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert_eq!(s.blob_stat(&wrong).await.unwrap(), None);
    assert_eq!(s.blob_list().await.unwrap().len(), 1);

    // sha512 blobs.
    let d512 = Digest::of(Algorithm::Sha512, b"five-twelve");
    s.blob_put(&d512, body(&[b"five-", b"twelve"]))
        .await
        .unwrap();
    assert_eq!(read_all(s, &d512, None).await, b"five-twelve");

    // Two concurrent pushes of the same blob both succeed.
    let big = vec![7u8; 300_000];
    let db = Digest::of(Algorithm::Sha256, &big);
    let (a, b) = tokio::join!(
        s.blob_put(&db, body(&[&big[..150_000], &big[150_000..]])),
        s.blob_put(&db, body(&[&big]))
    );
    assert_eq!(a.unwrap(), 300_000);
    assert_eq!(b.unwrap(), 300_000);
    assert_eq!(read_all(s, &db, None).await, big);

    assert!(s.blob_delete(&d512).await.unwrap());
    assert!(!s.blob_delete(&d512).await.unwrap());
    assert_eq!(s.blob_stat(&d512).await.unwrap(), None);

    // Upload sessions: chunks, info, verified finish, mismatch, cancel.
    let id = s.upload_start("lib/x").await.unwrap();
    let info = s.upload_info(&id).await.unwrap().unwrap();
    assert_eq!((info.repo.as_str(), info.size), ("lib/x", 0));
    assert_eq!(s.upload_append(&id, body(&[b"chunk1-"])).await.unwrap(), 7);
    assert_eq!(s.upload_append(&id, body(&[b"chunk2"])).await.unwrap(), 13);
    assert_eq!(s.upload_info(&id).await.unwrap().unwrap().size, 13);
    assert_eq!(s.upload_list().await.unwrap().len(), 1);
    let dc = Digest::of(Algorithm::Sha256, b"chunk1-chunk2");
    assert_eq!(s.upload_finish(&id, &dc).await.unwrap(), 13);
    assert_eq!(read_all(s, &dc, None).await, b"chunk1-chunk2");
    assert!(s.upload_info(&id).await.unwrap().is_none());

    let id = s.upload_start("lib/x").await.unwrap();
    s.upload_append(&id, body(&[b"abc"])).await.unwrap();
    let err = s.upload_finish(&id, &wrong).await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    assert_eq!(s.blob_stat(&wrong).await.unwrap(), None);
    assert!(s.upload_info(&id).await.unwrap().is_none());

    let id = s.upload_start("lib/y").await.unwrap();
    assert!(s.upload_cancel(&id).await.unwrap());
    assert!(!s.upload_cancel(&id).await.unwrap());
    assert!(s.upload_info(&id).await.unwrap().is_none());
    assert!(matches!(
        s.upload_append(&id, body(&[b"x"])).await,
        Err(RegistryError::UploadUnknown(_))
    ));
    assert!(s.upload_info("../../etc").await.unwrap().is_none());
    assert!(s.upload_list().await.unwrap().is_empty());

    // Records per repository.
    s.repo_register("lib/x").await.unwrap();
    s.repo_register("lib/x/sub").await.unwrap();
    s.repo_register("a").await.unwrap();
    assert_eq!(s.repo_list().await.unwrap(), ["a", "lib/x", "lib/x/sub"]);
    assert!(s.repo_exists("lib/x").await.unwrap());
    assert!(!s.repo_exists("lib").await.unwrap());

    s.link_blob("lib/x", &d).await.unwrap();
    assert!(s.blob_linked("lib/x", &d).await.unwrap());
    assert!(!s.blob_linked("lib/x/sub", &d).await.unwrap());
    assert!(s.unlink_blob("lib/x", &d).await.unwrap());
    assert!(!s.blob_linked("lib/x", &d).await.unwrap());

    let mt = "application/vnd.oci.image.manifest.v1+json";
    s.manifest_link("lib/x", &dc, mt).await.unwrap();
    assert_eq!(
        s.manifest_media_type("lib/x", &dc)
            .await
            .unwrap()
            .as_deref(),
        Some(mt)
    );
    let revisions = s.manifest_revisions("lib/x").await.unwrap();
    assert_eq!(revisions.iter().map(|(d, _)| d).collect::<Vec<_>>(), [&dc]);
    assert!(s.manifest_revisions("lib/x/sub").await.unwrap().is_empty());
    s.tag_put("lib/x", "v2", &dc).await.unwrap();
    s.tag_put("lib/x", "v1", &d).await.unwrap();
    s.tag_put("lib/x", "v1", &dc).await.unwrap();
    assert_eq!(s.tag_get("lib/x", "v1").await.unwrap(), Some(dc.clone()));
    assert_eq!(s.tag_list("lib/x").await.unwrap(), ["v1", "v2"]);
    assert!(s.tag_list("lib/x/sub").await.unwrap().is_empty());
    assert!(s.tag_delete("lib/x", "v2").await.unwrap());
    assert_eq!(s.tag_list("lib/x").await.unwrap(), ["v1"]);

    s.referrer_put("lib/x", &dc, &d, Bytes::from_static(b"{\"a\":1}"))
        .await
        .unwrap();
    assert_eq!(
        s.referrers("lib/x", &dc).await.unwrap(),
        [Bytes::from_static(b"{\"a\":1}")]
    );
    assert!(s.referrer_delete("lib/x", &dc, &d).await.unwrap());
    assert!(s.referrers("lib/x", &dc).await.unwrap().is_empty());
    assert!(s.manifest_unlink("lib/x", &dc).await.unwrap());
    assert!(s.manifest_media_type("lib/x", &dc).await.unwrap().is_none());

    s.touch(&d).await.unwrap();
    let touched = s.meta_list("touch/").await.unwrap();
    assert_eq!(touched.len(), 1);
    assert!(s.meta_delete(&touched[0].key).await.unwrap());
}

/// Many tasks pushing the same blobs at once through `s` all succeed.
pub(crate) async fn concurrent_pushes(s: Arc<dyn Storage>) {
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let data = vec![i % 2; 100_000];
            let d = Digest::of(Algorithm::Sha256, &data);
            s.blob_put(&d, body(&[&data])).await.map(|_| d)
        }));
    }
    for t in tasks {
        let d = t.await.unwrap().unwrap();
        assert_eq!(s.blob_stat(&d).await.unwrap(), Some(100_000));
    }
}
