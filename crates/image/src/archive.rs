//! The metadata files of image archives (`docker save` / `docker load`).
//!
//! Layouts read:
//! - docker ≤ 24: `manifest.json` naming `<id>.json` configs and
//!   `<layer id>/layer.tar` layers, plus `repositories`;
//! - docker ≥ 25: the same `manifest.json` with `blobs/sha256/<hex>` paths,
//!   alongside an OCI layout (`index.json`, `oci-layout`);
//! - podman: `manifest.json` with `<hex>.json` and `<hex>.tar`;
//! - a bare OCI image layout (`index.json`, `blobs/...`).
//!
//! No tar I/O here: callers hand over the small files by path.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::manifest::{
    self, is_index_type, is_manifest_type, media_type, Descriptor, Index, Manifest, ParsedManifest,
    Platform,
};
use crate::{Error, Reference};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const INDEX_FILE: &str = "index.json";
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
pub const REPOSITORIES_FILE: &str = "repositories";
/// The exact `oci-layout` bytes dockerd writes (note the space).
pub const OCI_LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion": "1.0.0"}"#;
/// Full image name annotation (containerd; docker ≥ 25 writes it).
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// OCI ref name annotation: a tag, or sometimes a full reference.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A layer's origin as `LayerSources` records it (docker/distribution's
/// `Descriptor`, whose field order differs from the OCI one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub digest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// One entry of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestItem {
    #[serde(rename = "Config")]
    pub config: String,
    /// `None` is written as `null`, as dockerd does for untagged images.
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default, deserialize_with = "null_as_empty")]
    pub layers: Vec<String>,
    #[serde(rename = "Parent", default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    #[serde(
        rename = "LayerSources",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub layer_sources: Option<BTreeMap<String, LayerSource>>,
}

/// Parses `manifest.json`; `null` is refused as dockerd refuses it.
pub fn parse_manifest_json(bytes: &[u8]) -> Result<Vec<ManifestItem>, Error> {
    let items: Option<Vec<ManifestItem>> =
        serde_json::from_slice(bytes).map_err(|source| Error::ArchiveDecode {
            path: MANIFEST_FILE.to_string(),
            source,
        })?;
    items.ok_or(Error::NullManifest)
}

/// One layer to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadLayer {
    /// Path of the layer file inside the archive (clean, relative).
    pub path: String,
    /// The blob's digest when the layout names it (`blobs/<alg>/<hex>`).
    pub digest: Option<String>,
    /// The media type when an OCI manifest gives it (it tells the
    /// compression); docker archives hold plain or self-describing tars.
    pub media_type: Option<String>,
}

/// One image to load, in archive order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadImage {
    /// Path of the config JSON inside the archive (clean, relative).
    pub config_path: String,
    /// The config's digest when the layout names it.
    pub config_digest: Option<String>,
    /// Layers bottom first; as many as the config's `rootfs.diff_ids`.
    pub layers: Vec<LoadLayer>,
    /// Tags to set, normalised (`busybox:latest` → `docker.io/library/busybox:latest`).
    pub repo_tags: Vec<Reference>,
    /// `Parent` from `manifest.json` (an image ID).
    pub parent: Option<String>,
    /// `LayerSources` from `manifest.json`, keyed by diff ID.
    pub layer_sources: BTreeMap<String, LayerSource>,
}

/// Plans a load for this machine's platform (used to pick from
/// multi-platform indexes in OCI layouts). See [`plan_load_for`].
pub fn plan_load(files: &dyn Fn(&str) -> Option<Vec<u8>>) -> Result<Vec<LoadImage>, Error> {
    plan_load_for(files, &Platform::host())
}

/// Reads an archive's metadata through `files` (path → bytes, `None` when
/// absent) and returns the images in it. `manifest.json` is used when
/// present (every docker and podman archive), else `index.json` (an OCI
/// layout), whose multi-platform indexes resolve to `platform`.
pub fn plan_load_for(
    files: &dyn Fn(&str) -> Option<Vec<u8>>,
    platform: &Platform,
) -> Result<Vec<LoadImage>, Error> {
    if let Some(bytes) = files(MANIFEST_FILE) {
        return parse_manifest_json(&bytes)?
            .into_iter()
            .map(load_image_from_item)
            .collect();
    }
    if let Some(bytes) = files(INDEX_FILE) {
        return plan_oci_layout(files, &bytes, platform);
    }
    Err(Error::MissingManifest)
}

fn load_image_from_item(item: ManifestItem) -> Result<LoadImage, Error> {
    let mut repo_tags = Vec::new();
    for tag in item.repo_tags.unwrap_or_default() {
        let r = Reference::parse(&tag)?;
        if r.tag().is_none() {
            return Err(Error::InvalidTag(tag));
        }
        repo_tags.push(r);
    }
    let layers = item
        .layers
        .iter()
        .map(|l| {
            let path = clean_path(l)?;
            Ok(LoadLayer {
                digest: digest_of_blob_path(&path),
                path,
                media_type: None,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let config_path = clean_path(&item.config)?;
    Ok(LoadImage {
        config_digest: digest_of_blob_path(&config_path),
        config_path,
        layers,
        repo_tags,
        parent: item.parent.filter(|p| !p.is_empty()),
        layer_sources: item.layer_sources.unwrap_or_default(),
    })
}

fn plan_oci_layout(
    files: &dyn Fn(&str) -> Option<Vec<u8>>,
    index_bytes: &[u8],
    platform: &Platform,
) -> Result<Vec<LoadImage>, Error> {
    let index: Index =
        serde_json::from_slice(index_bytes).map_err(|source| Error::ArchiveDecode {
            path: INDEX_FILE.to_string(),
            source,
        })?;
    let mut images: Vec<(String, LoadImage)> = Vec::new();
    for desc in &index.manifests {
        let names = names_of(desc);
        let Some((manifest_digest, manifest)) = resolve_manifest(files, desc, platform, 0)? else {
            continue;
        };
        // docker lists one entry per tag of the same manifest: merge them.
        if let Some((_, img)) = images.iter_mut().find(|(d, _)| *d == manifest_digest) {
            for n in names {
                if !img.repo_tags.contains(&n) {
                    img.repo_tags.push(n);
                }
            }
            continue;
        }
        let config_path = blob_path(&manifest.config.digest)?;
        let layers = manifest
            .layers
            .iter()
            .map(|l| {
                Ok(LoadLayer {
                    path: blob_path(&l.digest)?,
                    digest: Some(l.digest.clone()),
                    media_type: Some(l.media_type.clone()),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        images.push((
            manifest_digest,
            LoadImage {
                config_path,
                config_digest: Some(manifest.config.digest.clone()),
                layers,
                repo_tags: names,
                parent: None,
                layer_sources: BTreeMap::new(),
            },
        ));
    }
    Ok(images.into_iter().map(|(_, img)| img).collect())
}

/// Follows a descriptor to an image manifest: indexes resolve to `platform`.
/// Returns the manifest's digest and body, or `None` for content that is
/// not an image (attestations, artifacts).
fn resolve_manifest(
    files: &dyn Fn(&str) -> Option<Vec<u8>>,
    desc: &Descriptor,
    platform: &Platform,
    depth: usize,
) -> Result<Option<(String, Manifest)>, Error> {
    // Nesting deeper than this is a loop or an abuse.
    if depth > 8 || !(is_manifest_type(&desc.media_type) || is_index_type(&desc.media_type)) {
        return Ok(None);
    }
    let path = blob_path(&desc.digest)?;
    let bytes = files(&path).ok_or_else(|| Error::MissingFile(path.clone()))?;
    if crate::sha256_digest(&bytes) != desc.digest {
        return Err(Error::DigestMismatch {
            path,
            expected: desc.digest.clone(),
        });
    }
    match manifest::parse_manifest(&bytes, Some(&desc.media_type))? {
        ParsedManifest::Manifest(m) => Ok(Some((desc.digest.clone(), *m))),
        ParsedManifest::Index(i) => {
            let child = i.select(platform)?.clone();
            resolve_manifest(files, &child, platform, depth + 1)
        }
    }
}

/// The tags an index entry names. `io.containerd.image.name` is a full
/// reference; `org.opencontainers.image.ref.name` counts only when it is a
/// full tagged reference (a bare tag names no repository). Unusable names
/// are skipped: annotations are advice, not content.
fn names_of(desc: &Descriptor) -> Vec<Reference> {
    let tagged = |s: &str| Reference::parse(s).ok().filter(|r| r.tag().is_some());
    if let Some(r) = desc
        .annotations
        .get(ANNOTATION_IMAGE_NAME)
        .and_then(|s| tagged(s))
    {
        return vec![r];
    }
    desc.annotations
        .get(ANNOTATION_REF_NAME)
        .filter(|s| s.contains('/') || s.contains(':'))
        .and_then(|s| tagged(s))
        .into_iter()
        .collect()
}

/// `blobs/<alg>/<hex>` for a digest.
pub fn blob_path(digest: &str) -> Result<String, Error> {
    let (alg, hex) = crate::reference::parse_digest(digest)?;
    Ok(format!("blobs/{alg}/{hex}"))
}

fn digest_of_blob_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("blobs/")?;
    let (alg, hex) = rest.split_once('/')?;
    let digest = format!("{alg}:{hex}");
    crate::reference::parse_digest(&digest).ok()?;
    Some(digest)
}

/// A metadata path made relative and clean; `..` that leaves the archive is
/// refused.
fn clean_path(path: &str) -> Result<String, Error> {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(Error::UnsafePath(path.to_string()));
                }
            }
            s => parts.push(s),
        }
    }
    if parts.is_empty() {
        return Err(Error::UnsafePath(path.to_string()));
    }
    Ok(parts.join("/"))
}

/// A layer of an image to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveLayer {
    /// The layer's diff ID (from the config's `rootfs.diff_ids`).
    pub diff_id: String,
    /// Digest of the tar written to the archive (normally the diff ID).
    pub digest: String,
    /// Size of that tar in bytes.
    pub size: u64,
    /// Its media type (plain, gzip or zstd tar), as stored.
    pub media_type: String,
}

/// An image to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveImage {
    /// The image ID (`sha256:<hex>` of the config bytes).
    pub config_digest: String,
    /// Size of the config bytes.
    pub config_size: u64,
    pub layers: Vec<SaveLayer>,
    /// Names to record. References with a digest are skipped and names
    /// without a tag get `latest`, as dockerd does.
    pub refs: Vec<Reference>,
    /// The parent image ID; recorded only if that image is saved too.
    pub parent: Option<String>,
    /// Put on the config descriptor and the `index.json` entries when set.
    pub platform: Option<Platform>,
}

/// The metadata of a `docker save` archive. The config and layer blobs are
/// the caller's to write (`blobs/sha256/<hex>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaveMetadata {
    pub manifest_json: Vec<u8>,
    pub index_json: Vec<u8>,
    pub oci_layout: Vec<u8>,
    /// Absent when no image has a tag (dockerd then writes no file).
    pub repositories: Option<Vec<u8>>,
    /// The OCI manifest blobs created here: `(path, bytes)`.
    pub blobs: Vec<(String, Vec<u8>)>,
}

impl SaveMetadata {
    /// The top-level files in the order dockerd's tar lists them (sorted).
    pub fn top_level_files(&self) -> Vec<(&'static str, &[u8])> {
        let mut out = vec![
            (INDEX_FILE, self.index_json.as_slice()),
            (MANIFEST_FILE, self.manifest_json.as_slice()),
            (OCI_LAYOUT_FILE, self.oci_layout.as_slice()),
        ];
        if let Some(r) = &self.repositories {
            out.push((REPOSITORIES_FILE, r.as_slice()));
        }
        out
    }
}

/// Builds the metadata files of a save of `images`, as dockerd 28 writes
/// them: one OCI manifest blob per image, `index.json` with one entry per
/// tag (annotated with the full name and the tag; untagged images get one
/// plain entry), `manifest.json` with familiar `RepoTags` and
/// `LayerSources` for every layer, and `repositories`.
pub fn build_save_metadata(images: &[SaveImage]) -> Result<SaveMetadata, Error> {
    let mut items = Vec::with_capacity(images.len());
    let mut index_entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    for img in images {
        let layer_descs: Vec<Descriptor> = img
            .layers
            .iter()
            .map(|l| Descriptor::new(&l.media_type, &l.digest, l.size))
            .collect();
        let mut m = manifest::oci_manifest(&img.config_digest, img.config_size, layer_descs);
        m.config.platform = img.platform.clone();
        let bytes = m.to_vec();
        let digest = crate::sha256_digest(&bytes);
        let mut entry = Descriptor::new(media_type::OCI_MANIFEST, &digest, bytes.len() as u64);
        entry.platform = img.platform.clone();
        let path = blob_path(&digest)?;
        if !blobs.iter().any(|(p, _)| *p == path) {
            blobs.push((path, bytes));
        }

        let mut tags: Vec<Reference> = Vec::new();
        for r in &img.refs {
            if r.digest().is_some() {
                continue;
            }
            let r = r.clone().with_default_tag();
            if !tags.contains(&r) {
                tags.push(r);
            }
        }
        let top_layer_hex = match img.layers.last() {
            Some(l) => crate::reference::parse_digest(&l.diff_id)?.1.to_string(),
            None => String::new(),
        };
        for r in &tags {
            let tag = r.tag().unwrap_or(crate::reference::DEFAULT_TAG).to_string();
            repositories
                .entry(r.familiar_name())
                .or_default()
                .insert(tag.clone(), top_layer_hex.clone());
            let mut tagged = entry.clone();
            tagged.annotations = BTreeMap::from([
                (ANNOTATION_IMAGE_NAME.to_string(), r.to_string()),
                (ANNOTATION_REF_NAME.to_string(), tag),
            ]);
            index_entries.push(tagged);
        }
        if tags.is_empty() {
            index_entries.push(entry);
        }

        let layer_paths = img
            .layers
            .iter()
            .map(|l| blob_path(&l.digest))
            .collect::<Result<Vec<_>, Error>>()?;
        let sources: BTreeMap<String, LayerSource> = img
            .layers
            .iter()
            .map(|l| {
                (
                    l.diff_id.clone(),
                    LayerSource {
                        media_type: l.media_type.clone(),
                        size: l.size,
                        digest: l.digest.clone(),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let parent = img
            .parent
            .as_ref()
            .filter(|p| **p != img.config_digest && images.iter().any(|o| o.config_digest == **p));
        items.push(ManifestItem {
            config: blob_path(&img.config_digest)?,
            repo_tags: (!tags.is_empty())
                .then(|| tags.iter().map(Reference::familiar_string).collect()),
            layers: layer_paths,
            parent: parent.cloned(),
            layer_sources: (!sources.is_empty()).then_some(sources),
        });
    }
    // Go's json.Encoder adds a newline; json.Marshal (index.json) does not.
    let mut manifest_json = serde_json::to_vec(&items).unwrap_or_default();
    manifest_json.push(b'\n');
    let repositories = (!repositories.is_empty()).then(|| {
        let mut r = serde_json::to_vec(&repositories).unwrap_or_default();
        r.push(b'\n');
        r
    });
    Ok(SaveMetadata {
        manifest_json,
        index_json: manifest::oci_index(index_entries).to_vec(),
        oci_layout: OCI_LAYOUT_CONTENT.as_bytes().to_vec(),
        repositories,
        blobs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const CFG: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const L1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const L2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn files_of(map: HashMap<String, Vec<u8>>) -> impl Fn(&str) -> Option<Vec<u8>> {
        move |p: &str| map.get(p).cloned()
    }

    fn hex(d: &str) -> &str {
        &d[7..]
    }

    fn tags(img: &LoadImage) -> Vec<String> {
        img.repo_tags.iter().map(|r| r.to_string()).collect()
    }

    fn busybox() -> SaveImage {
        SaveImage {
            config_digest: CFG.to_string(),
            config_size: 581,
            layers: vec![SaveLayer {
                diff_id: L1.to_string(),
                digest: L1.to_string(),
                size: 4_526_080,
                media_type: media_type::OCI_LAYER.to_string(),
            }],
            refs: vec![Reference::parse("busybox").unwrap()],
            parent: None,
            platform: None,
        }
    }

    #[test]
    fn save_metadata_bytes_match_dockerd() {
        let meta = build_save_metadata(&[busybox()]).unwrap();
        let manifest_blob = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{CFG}","size":581}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{L1}","size":4526080}}]}}"#
        );
        let mdigest = crate::sha256_digest(manifest_blob.as_bytes());
        assert_eq!(
            meta.blobs,
            vec![(
                format!("blobs/sha256/{}", hex(&mdigest)),
                manifest_blob.clone().into_bytes()
            )]
        );
        assert_eq!(
            String::from_utf8(meta.manifest_json.clone()).unwrap(),
            format!(
                "[{{\"Config\":\"blobs/sha256/{}\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"blobs/sha256/{}\"],\"LayerSources\":{{\"{L1}\":{{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"size\":4526080,\"digest\":\"{L1}\"}}}}}}]\n",
                hex(CFG),
                hex(L1)
            )
        );
        assert_eq!(
            String::from_utf8(meta.index_json.clone()).unwrap(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{mdigest}","size":{},"annotations":{{"io.containerd.image.name":"docker.io/library/busybox:latest","org.opencontainers.image.ref.name":"latest"}}}}]}}"#,
                manifest_blob.len()
            )
        );
        assert_eq!(meta.oci_layout, br#"{"imageLayoutVersion": "1.0.0"}"#);
        assert_eq!(
            meta.repositories.as_deref(),
            Some(format!("{{\"busybox\":{{\"latest\":\"{}\"}}}}\n", hex(L1)).as_bytes())
        );
        let names: Vec<&str> = meta.top_level_files().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["index.json", "manifest.json", "oci-layout", "repositories"]
        );
    }

    #[test]
    fn save_untagged_parent_platform_and_digest_refs() {
        let mut base = busybox();
        base.refs = vec![Reference::parse(&format!("busybox@{L2}")).unwrap()];
        let mut child = busybox();
        child.config_digest = L2.to_string();
        child.refs = vec![
            Reference::parse("me/app:1").unwrap(),
            Reference::parse("me/app:1").unwrap(),
            Reference::parse("localhost:5000/app").unwrap(),
        ];
        child.parent = Some(CFG.to_string());
        child.platform = Some(Platform::new("linux", "arm64", Some("v8")));
        let meta = build_save_metadata(&[base, child]).unwrap();
        let items = parse_manifest_json(&meta.manifest_json).unwrap();
        assert_eq!(items[0].repo_tags, None);
        assert!(String::from_utf8_lossy(&meta.manifest_json).contains("\"RepoTags\":null"));
        assert_eq!(
            items[1].repo_tags,
            Some(vec![
                "me/app:1".to_string(),
                "localhost:5000/app:latest".to_string()
            ])
        );
        assert_eq!(items[1].parent.as_deref(), Some(CFG));
        let index: Index = serde_json::from_slice(&meta.index_json).unwrap();
        assert_eq!(index.manifests.len(), 3, "one untagged entry, two tags");
        assert!(index.manifests[0].annotations.is_empty());
        assert_eq!(
            index.manifests[1]
                .platform
                .as_ref()
                .map(|p| p.to_string())
                .as_deref(),
            Some("linux/arm64/v8")
        );
        let repos: serde_json::Value =
            serde_json::from_slice(meta.repositories.as_ref().unwrap()).unwrap();
        assert_eq!(repos["me/app"]["1"], hex(L1));
        assert_eq!(repos["localhost:5000/app"]["latest"], hex(L1));
        // The child's manifest blob carries the platform on its config.
        assert_eq!(meta.blobs.len(), 2);
        assert!(String::from_utf8_lossy(&meta.blobs[1].1).contains(
            r#""size":581,"platform":{"architecture":"arm64","os":"linux","variant":"v8"}"#
        ));
    }

    #[test]
    fn save_then_load_gives_the_same_images() {
        let mut second = busybox();
        second.config_digest = L2.to_string();
        second.layers.push(SaveLayer {
            diff_id: L2.to_string(),
            digest: L2.to_string(),
            size: 10,
            media_type: media_type::OCI_LAYER.to_string(),
        });
        second.refs = vec![
            Reference::parse("example.com/ns/app:v2").unwrap(),
            Reference::parse("app:x").unwrap(),
        ];
        let images = [busybox(), second];
        let meta = build_save_metadata(&images).unwrap();
        let mut map: HashMap<String, Vec<u8>> = meta
            .top_level_files()
            .into_iter()
            .map(|(n, b)| (n.to_string(), b.to_vec()))
            .collect();
        map.extend(meta.blobs.iter().cloned());
        let via_manifest = plan_load(&files_of(map.clone())).unwrap();
        // Without manifest.json the OCI layout alone gives the same images.
        map.remove(MANIFEST_FILE);
        let via_index = plan_load(&files_of(map)).unwrap();
        for loaded in [&via_manifest, &via_index] {
            assert_eq!(loaded.len(), 2);
            for (img, want) in loaded.iter().zip(&images) {
                assert_eq!(img.config_path, blob_path(&want.config_digest).unwrap());
                assert_eq!(
                    img.config_digest.as_deref(),
                    Some(want.config_digest.as_str())
                );
                let layer_digests: Vec<_> = img
                    .layers
                    .iter()
                    .map(|l| l.digest.clone().unwrap())
                    .collect();
                let want_digests: Vec<_> = want.layers.iter().map(|l| l.digest.clone()).collect();
                assert_eq!(layer_digests, want_digests);
                let want_tags: Vec<String> = want
                    .refs
                    .iter()
                    .map(|r| r.clone().with_default_tag().to_string())
                    .collect();
                assert_eq!(tags(img), want_tags);
            }
        }
        assert_eq!(via_manifest[1].layer_sources.len(), 2);
        assert_eq!(
            via_index[0].layers[0].media_type.as_deref(),
            Some(media_type::OCI_LAYER)
        );
    }

    #[test]
    fn load_docker20_archive() {
        let id = hex(CFG);
        let manifest = format!(
            r#"[{{"Config":"{id}.json","RepoTags":["busybox:latest","myhost:5000/x:1"],"Layers":["0123abcd/layer.tar","./4567ef/layer.tar"]}}]"#
        );
        let files = files_of(HashMap::from([
            (MANIFEST_FILE.to_string(), manifest.into_bytes()),
            (
                REPOSITORIES_FILE.to_string(),
                br#"{"busybox":{"latest":"4567ef"}}"#.to_vec(),
            ),
        ]));
        let images = plan_load(&files).unwrap();
        assert_eq!(images.len(), 1);
        let img = &images[0];
        assert_eq!(img.config_path, format!("{id}.json"));
        assert_eq!(img.config_digest, None);
        let paths: Vec<_> = img.layers.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(paths, ["0123abcd/layer.tar", "4567ef/layer.tar"]);
        assert!(img.layers.iter().all(|l| l.digest.is_none()));
        assert_eq!(
            tags(img),
            ["docker.io/library/busybox:latest", "myhost:5000/x:1"]
        );
    }

    #[test]
    fn load_docker25_archive_prefers_manifest_json() {
        let manifest = format!(
            r#"[{{"Config":"blobs/sha256/{}","RepoTags":["busybox:latest"],"Layers":["blobs/sha256/{}"],"LayerSources":{{"{L1}":{{"mediaType":"application/vnd.oci.image.layer.v1.tar","size":5,"digest":"{L1}"}}}}}}]"#,
            hex(CFG),
            hex(L1)
        );
        let files = files_of(HashMap::from([
            (MANIFEST_FILE.to_string(), manifest.into_bytes()),
            // An index.json that would fail to load proves it is not read.
            (INDEX_FILE.to_string(), b"not json".to_vec()),
        ]));
        let images = plan_load(&files).unwrap();
        assert_eq!(images[0].config_digest.as_deref(), Some(CFG));
        assert_eq!(images[0].layers[0].digest.as_deref(), Some(L1));
        assert_eq!(images[0].layer_sources[L1].size, 5);
        assert_eq!(tags(&images[0]), ["docker.io/library/busybox:latest"]);
    }

    #[test]
    fn load_podman_archive() {
        let manifest = format!(
            r#"[{{"Config":"{c}.json","RepoTags":["localhost/foo:latest"],"Layers":["{l}.tar"],"Parent":""}}]"#,
            c = hex(CFG),
            l = hex(L1)
        );
        let files = files_of(HashMap::from([(
            MANIFEST_FILE.to_string(),
            manifest.into_bytes(),
        )]));
        let images = plan_load(&files).unwrap();
        assert_eq!(images[0].config_path, format!("{}.json", hex(CFG)));
        assert_eq!(images[0].layers[0].path, format!("{}.tar", hex(L1)));
        assert_eq!(images[0].parent, None);
        assert_eq!(tags(&images[0]), ["localhost/foo:latest"]);
    }

    #[test]
    fn load_bare_oci_layout_with_nested_index() {
        let amd = manifest::oci_manifest(
            CFG,
            3,
            vec![Descriptor::new(media_type::OCI_LAYER_GZIP, L1, 4)],
        )
        .to_vec();
        let arm = manifest::oci_manifest(L2, 3, vec![]).to_vec();
        let (amd_d, arm_d) = (crate::sha256_digest(&amd), crate::sha256_digest(&arm));
        let mut amd_desc = Descriptor::new(media_type::OCI_MANIFEST, &amd_d, amd.len() as u64);
        amd_desc.platform = Some(Platform::new("linux", "amd64", None));
        let mut arm_desc = Descriptor::new(media_type::OCI_MANIFEST, &arm_d, arm.len() as u64);
        arm_desc.platform = Some(Platform::new("linux", "arm64", Some("v8")));
        let nested = manifest::oci_index(vec![arm_desc, amd_desc]).to_vec();
        let nested_d = crate::sha256_digest(&nested);
        let mut top1 = Descriptor::new(media_type::OCI_INDEX, &nested_d, nested.len() as u64);
        top1.annotations
            .insert(ANNOTATION_REF_NAME.into(), "1.0".into());
        let mut top2 = Descriptor::new(media_type::OCI_MANIFEST, &amd_d, amd.len() as u64);
        top2.annotations
            .insert(ANNOTATION_REF_NAME.into(), "quay.io/x/y:2".into());
        let index = manifest::oci_index(vec![top1, top2]).to_vec();
        let map = HashMap::from([
            (INDEX_FILE.to_string(), index),
            (
                OCI_LAYOUT_FILE.to_string(),
                OCI_LAYOUT_CONTENT.as_bytes().to_vec(),
            ),
            (blob_path(&amd_d).unwrap(), amd),
            (blob_path(&arm_d).unwrap(), arm),
            (blob_path(&nested_d).unwrap(), nested),
        ]);
        let files = files_of(map.clone());
        let images = plan_load_for(&files, &Platform::new("linux", "amd64", None)).unwrap();
        assert_eq!(images.len(), 1, "both entries are the same amd64 manifest");
        assert_eq!(images[0].config_digest.as_deref(), Some(CFG));
        assert_eq!(
            images[0].layers[0].media_type.as_deref(),
            Some(media_type::OCI_LAYER_GZIP)
        );
        assert_eq!(
            tags(&images[0]),
            ["quay.io/x/y:2"],
            "a bare tag names no repository"
        );
        let images = plan_load_for(&files, &Platform::parse("linux/arm64").unwrap()).unwrap();
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].config_digest.as_deref(), Some(L2));
        assert!(images[0].layers.is_empty());

        // A blob that does not match its digest is refused.
        let mut bad = map;
        bad.insert(blob_path(&amd_d).unwrap(), b"{}".to_vec());
        let err =
            plan_load_for(&files_of(bad), &Platform::new("linux", "amd64", None)).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }

    #[test]
    fn load_errors() {
        let empty = files_of(HashMap::new());
        assert_eq!(
            plan_load(&empty).unwrap_err().to_string(),
            "invalid archive: does not contain a manifest.json"
        );
        let with = |m: &str| {
            files_of(HashMap::from([(
                MANIFEST_FILE.to_string(),
                m.as_bytes().to_vec(),
            )]))
        };
        assert_eq!(
            plan_load(&with("null")).unwrap_err().to_string(),
            "invalid manifest, manifest cannot be null (but can be [])"
        );
        assert!(plan_load(&with("[]")).unwrap().is_empty());
        assert!(plan_load(&with("{"))
            .unwrap_err()
            .to_string()
            .starts_with("invalid archive: failed to decode manifest.json:"));
        assert!(matches!(
            plan_load(&with(
                r#"[{"Config":"../../etc/passwd","RepoTags":null,"Layers":[]}]"#
            )),
            Err(Error::UnsafePath(_))
        ));
        assert_eq!(
            plan_load(&with(
                r#"[{"Config":"c.json","RepoTags":["Busybox:1"],"Layers":null}]"#
            ))
            .unwrap_err()
            .to_string(),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            plan_load(&with(&format!(
                r#"[{{"Config":"c.json","RepoTags":["busybox@{L1}"],"Layers":[]}}]"#
            )))
            .unwrap_err()
            .to_string(),
            format!("invalid tag \"busybox@{L1}\"")
        );
        let index_missing_blob = files_of(HashMap::from([(
            INDEX_FILE.to_string(),
            manifest::oci_index(vec![Descriptor::new(media_type::OCI_MANIFEST, L1, 1)]).to_vec(),
        )]));
        assert_eq!(
            plan_load(&index_missing_blob).unwrap_err().to_string(),
            format!("invalid archive: blobs/sha256/{} not found", hex(L1))
        );
    }
}
