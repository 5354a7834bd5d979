//! `POST /images/{name}/push`: layers (skipped when the registry has them,
//! mounted when another repository of the same registry does), the config,
//! then the manifest under each tag.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use berth_distribution::{AuthConfig, DistError, LayerStatus, Mount, Progress, Repository};
use berth_image::manifest::{media_type, Descriptor, Manifest};
use berth_image::Reference;
use berth_store::Digest;

use super::pull::{dist_error, RegistrySettings};
use super::store::Image;
use crate::{Daemon, Error, Result};

/// Mount sources tried per layer before uploading it (docker's limit).
const MAX_MOUNT_ATTEMPTS: usize = 3;
/// gzip level of layers compressed for a push. zlib-rs's level 1 uses fixed
/// Huffman codes: on a 98 MB tar of /usr/lib files it wrote 30% more than
/// level 6 (docker's); level 2 writes 8% more, at about twice level 6's speed.
const GZIP_LEVEL: u32 = 2;

/// Uncompressed layer blob → what it compressed to (digest, size) in an
/// earlier push of this daemon: a registry that has that blob (or can mount
/// it) needs no upload, as when dockerd finds a layer it pushed before.
static GZIPPED: Mutex<Option<HashMap<Digest, (Digest, u64)>>> = Mutex::new(None);

fn gzipped(blob: &Digest) -> Option<(Digest, u64)> {
    GZIPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m.get(blob).cloned())
}

/// The media type a plain layer has once gzipped; `None` for layers pushed
/// as stored (compressed already, or not distributable).
fn gzip_media_type(mt: &str) -> Option<&'static str> {
    match mt {
        media_type::OCI_LAYER => Some(media_type::OCI_LAYER_GZIP),
        media_type::DOCKER_LAYER => Some(media_type::DOCKER_LAYER_GZIP),
        _ => None,
    }
}

/// How a layer went to the registry: the descriptor for the manifest.
type Pushed = HashMap<Digest, Descriptor>;

/// Other repositories of the push's registry that should hold each of these
/// layer blobs: those of the references (digest references first: they were
/// recorded by a pull or push there, so the blob is known to be in them) of
/// local images made of that blob.
fn mount_sources(
    refs: &std::collections::BTreeMap<String, Digest>,
    images: &HashMap<Digest, std::sync::Arc<Image>>,
    target: &Reference,
    blobs: &[Digest],
) -> HashMap<Digest, Vec<String>> {
    let mut out: HashMap<Digest, Vec<String>> = HashMap::new();
    let mut parsed: Vec<(bool, Reference, &Digest)> = refs
        .iter()
        .filter_map(|(k, id)| Some((Reference::parse(k).ok()?, id)))
        .filter(|(r, _)| r.domain() == target.domain() && r.path() != target.path())
        .map(|(r, id)| (r.digest().is_none(), r, id))
        .collect();
    // `false` (a digest reference) sorts first.
    parsed.sort_by_key(|(tagged, _, _)| *tagged);
    for (_, r, id) in parsed {
        let Some(img) = images.get(id) else { continue };
        for l in &img.record.layers {
            if !blobs.contains(&l.blob) {
                continue;
            }
            let from = out.entry(l.blob.clone()).or_default();
            if !from.iter().any(|f| f == r.path()) && from.len() < MAX_MOUNT_ATTEMPTS {
                from.push(r.path().to_string());
            }
        }
    }
    out
}

/// What a push needs besides the name.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The tag to push; every tag of the repository when empty.
    pub tag: String,
    pub auth: AuthConfig,
}

/// The manifest docker would write for an image: Docker schema 2 when its
/// layers have Docker media types, else OCI. Layers in `pushed` are
/// described as they were sent (compressed), the others as stored.
fn manifest_of(img: &Image, config_size: u64, pushed: &Pushed) -> (Vec<u8>, &'static str) {
    let docker = img
        .record
        .layers
        .iter()
        .any(|l| l.media_type.starts_with("application/vnd.docker."));
    let (mt, config_mt) = if docker {
        (media_type::DOCKER_MANIFEST, media_type::DOCKER_CONFIG)
    } else {
        (media_type::OCI_MANIFEST, media_type::OCI_CONFIG)
    };
    let m = Manifest {
        schema_version: 2,
        media_type: Some(mt.to_string()),
        artifact_type: None,
        config: Descriptor::new(config_mt, img.id().as_str(), config_size),
        layers: img
            .record
            .layers
            .iter()
            .map(|l| {
                pushed
                    .get(&l.blob)
                    .cloned()
                    .unwrap_or_else(|| Descriptor::new(&l.media_type, l.blob.as_str(), l.blob_size))
            })
            .collect(),
        subject: None,
        annotations: Default::default(),
    };
    (m.to_vec(), mt)
}

impl Daemon {
    /// Pushes `name` (a repository, with `opts.tag` or all its tags).
    pub fn push(
        &self,
        name: &str,
        opts: &PushOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<()> {
        let r = Reference::parse(name).map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let repo_ref = r.trimmed();
        let targets: Vec<(Reference, std::sync::Arc<Image>)> = {
            let st = self.read();
            if opts.tag.is_empty() && r.tag().is_none() {
                let mut v = Vec::new();
                for (k, id) in st.refs() {
                    let Ok(t) = Reference::parse(k) else { continue };
                    if t.tag().is_some() && t.name() == repo_ref.name() {
                        if let Some(img) = st.images.get(id) {
                            v.push((t, img.clone()));
                        }
                    }
                }
                if v.is_empty() {
                    return Err(Error::NotFound(format!(
                        "An image does not exist locally with the tag: {}",
                        repo_ref.familiar_name()
                    )));
                }
                v
            } else {
                let tag = if opts.tag.is_empty() {
                    r.tag().unwrap_or("latest").to_string()
                } else {
                    opts.tag.clone()
                };
                let t = repo_ref
                    .with_tag(&tag)
                    .map_err(|e| Error::InvalidParameter(e.to_string()))?;
                let img = st
                    .refs()
                    .get(&t.to_string())
                    .and_then(|id| st.images.get(id))
                    .cloned()
                    .ok_or_else(|| {
                        Error::NotFound(format!(
                            "An image does not exist locally with the tag: {}",
                            repo_ref.familiar_name()
                        ))
                    })?;
                vec![(t, img)]
            }
        };
        let sources = {
            let st = self.read();
            let blobs: Vec<Digest> = targets
                .iter()
                .flat_map(|(_, img)| img.record.layers.iter().map(|l| l.blob.clone()))
                .collect();
            mount_sources(st.refs(), &st.images, &repo_ref, &blobs)
        };
        let creds = opts
            .auth
            .credentials()
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let settings = RegistrySettings::from_config(&self.config)?;
        let client = self.registry()?;
        let sink = Mutex::new(progress);
        let send = |p: Progress| {
            let mut f = sink.lock().unwrap_or_else(|e| e.into_inner());
            (*f)(p);
        };
        send(Progress::Message {
            id: None,
            status: format!("The push refers to repository [{}]", repo_ref.name()),
        });
        let ep = client.hosts().push_endpoint(r.domain());
        let repo = client
            .repository(&ep, r.path(), &creds, true)
            .map_err(dist_error)?;
        for (t, img) in targets {
            let pushed = self.push_layers(&repo, &img, &sources, settings.uploads, &send)?;
            let config = self.content.read(img.id())?;
            if repo
                .blob_exists(img.id().as_str())
                .map_err(dist_error)?
                .is_none()
            {
                repo.upload_blob(
                    img.id().as_str(),
                    config.len() as u64,
                    None,
                    &mut config.as_slice(),
                    &mut |_| {},
                )
                .map_err(dist_error)?;
            }
            let (bytes, mt) = manifest_of(&img, config.len() as u64, &pushed);
            let tag = t.tag().unwrap_or("latest");
            let digest = repo.put_manifest(tag, mt, &bytes).map_err(dist_error)?;
            send(Progress::Message {
                id: None,
                status: format!("{tag}: digest: {digest} size: {}", bytes.len()),
            });
            self.record_push_digest(&t, img.id(), &digest)?;
            send(Progress::Aux(serde_json::json!({
                "Tag": tag, "Digest": digest, "Size": bytes.len()
            })));
            self.events.emit(
                "image",
                "push",
                &t.familiar_string(),
                super::attrs(&t.familiar_name()),
            );
        }
        Ok(())
    }

    /// Records `repo@digest` for the pushed image, as dockerd does, unless
    /// the image went away during the push.
    fn record_push_digest(&self, tag: &Reference, id: &Digest, digest: &str) -> Result<()> {
        let r = tag
            .trimmed()
            .with_digest(digest)
            .map_err(|e| Error::Internal(format!("digest reference of {tag}: {e}")))?;
        let _w = self.lock_write();
        if !self.read().images.contains_key(id) {
            return Ok(());
        }
        self.set_ref(&r, id)
    }

    fn push_layers(
        &self,
        repo: &Repository<'_>,
        img: &Image,
        sources: &HashMap<Digest, Vec<String>>,
        workers: usize,
        send: &(dyn Fn(Progress) + Sync),
    ) -> Result<Pushed> {
        // docker lists layers top first.
        let mut layers: Vec<(Digest, u64, &str)> = Vec::new();
        for l in img.record.layers.iter().rev() {
            if !layers.iter().any(|(d, _, _)| *d == l.blob) {
                layers.push((l.blob.clone(), l.blob_size, &l.media_type));
            }
        }
        let layer = |d: &Digest, status| {
            send(Progress::Layer {
                id: d.hex()[..12].to_string(),
                status,
            })
        };
        for (d, _, _) in &layers {
            layer(d, LayerStatus::Preparing);
        }
        for (d, _, _) in layers.iter().skip(workers) {
            layer(d, LayerStatus::Waiting);
        }
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let pushed: Mutex<Pushed> = Mutex::new(HashMap::new());
        std::thread::scope(|s| {
            for _ in 0..workers.min(layers.len()) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((d, size, mt)) = layers.get(k) else {
                        break;
                    };
                    let from = sources.get(d).map(Vec::as_slice).unwrap_or_default();
                    let res = match gzip_media_type(mt) {
                        Some(gz_mt) => {
                            self.push_gzipped(repo, d, *size, gz_mt, from, &layer)
                                .map(|desc| {
                                    pushed
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .insert(d.clone(), desc);
                                })
                        }
                        None => self.push_layer(repo, d, *size, from, &layer),
                    };
                    if let Err(e) = res {
                        failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        next.store(layers.len(), Ordering::Relaxed);
                    }
                });
            }
        });
        match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(pushed.into_inner().unwrap_or_else(|e| e.into_inner())),
        }
    }

    /// Skips, mounts or uploads the blob `d` as `push_layer` does; `Some`
    /// session left by a refused mount when it must still be uploaded, `None`
    /// when the registry has it now.
    fn skip_or_mount(
        &self,
        repo: &Repository<'_>,
        d: &Digest,
        shown: &Digest,
        mount_from: &[String],
        layer: &(dyn Fn(&Digest, LayerStatus) + Sync),
    ) -> Result<Option<Option<berth_distribution::UploadSession>>> {
        if repo.blob_exists(d.as_str()).map_err(dist_error)?.is_some() {
            layer(shown, LayerStatus::LayerAlreadyExists);
            return Ok(None);
        }
        let mut session = None;
        for from in mount_from {
            match repo.mount_blob(d.as_str(), from) {
                Ok(Mount::Mounted) => {
                    if let Some(s) = session.take() {
                        let _ = repo.cancel_upload(s);
                    }
                    layer(shown, LayerStatus::MountedFrom(from.clone()));
                    return Ok(None);
                }
                // Keep the newest session for the upload; an older one is not needed.
                Ok(Mount::Refused(s)) => {
                    if let Some(old) = std::mem::replace(&mut session, s) {
                        let _ = repo.cancel_upload(old);
                    }
                }
                // A refused mount is no reason to fail the push: upload instead.
                Err(e) => {
                    tracing::debug!(blob = %d, from = %from, error = %e, "cross-repository mount failed")
                }
            }
        }
        Ok(Some(session))
    }

    /// Pushes a plain (uncompressed) layer gzipped, as docker does: compressed
    /// on several threads while it uploads (hashed on the way, as its digest
    /// is known only at the end). A layer compressed by an earlier push is
    /// looked for (and mounted) under that digest first.
    fn push_gzipped(
        &self,
        repo: &Repository<'_>,
        d: &Digest,
        size: u64,
        gz_media_type: &str,
        mount_from: &[String],
        layer: &(dyn Fn(&Digest, LayerStatus) + Sync),
    ) -> Result<Descriptor> {
        let mut session = None;
        let known = gzipped(d);
        if let Some((gz, gz_size)) = &known {
            match self.skip_or_mount(repo, gz, d, mount_from, layer)? {
                None => return Ok(Descriptor::new(gz_media_type, gz.as_str(), *gz_size)),
                Some(s) => session = s,
            }
        }
        let mut file = self.content.open_blob(d)?;
        let size = if size > 0 {
            size
        } else {
            self.content.size(d)?
        };
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .clamp(1, 8);
        // Hashed on the way: the digest is known only at the end.
        let mut up = repo.start_upload(session, None).map_err(dist_error)?;
        let mut last = Instant::now();
        let fed = berth_layer::gzip(
            &mut file,
            GZIP_LEVEL,
            threads,
            &mut |piece| {
                if up.send(piece.into()) {
                    Ok(())
                } else {
                    Err(std::io::Error::other("the upload ended early"))
                }
            },
            &mut |n| {
                if last.elapsed() >= Duration::from_millis(100) || n == size {
                    last = Instant::now();
                    layer(
                        d,
                        LayerStatus::Pushing {
                            current: n,
                            total: size,
                        },
                    );
                }
            },
        )
        .map_err(|e| DistError::Sink {
            digest: d.to_string(),
            source: e,
        });
        let (gz, gz_size) = up.finish(None, fed.map(|_| ())).map_err(dist_error)?;
        let gz: Digest = gz
            .parse()
            .map_err(|e| Error::Internal(format!("digest of the gzipped layer {d}: {e}")))?;
        GZIPPED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(d.clone(), (gz.clone(), gz_size));
        layer(d, LayerStatus::Pushed);
        Ok(Descriptor::new(gz_media_type, gz.as_str(), gz_size))
    }

    fn push_layer(
        &self,
        repo: &Repository<'_>,
        d: &Digest,
        size: u64,
        mount_from: &[String],
        layer: &(dyn Fn(&Digest, LayerStatus) + Sync),
    ) -> Result<()> {
        let Some(session) = self.skip_or_mount(repo, d, d, mount_from, layer)? else {
            return Ok(());
        };
        let mut file = self.content.open_blob(d)?;
        let size = if size > 0 {
            size
        } else {
            self.content.size(d)?
        };
        let mut last = Instant::now();
        repo.upload_blob(d.as_str(), size, session, &mut file, &mut |n| {
            if last.elapsed() >= Duration::from_millis(100) || n == size {
                last = Instant::now();
                layer(
                    d,
                    LayerStatus::Pushing {
                        current: n,
                        total: size,
                    },
                );
            }
        })
        .map_err(dist_error)?;
        layer(d, LayerStatus::Pushed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::images::store::{ImageRecord, LayerRecord};

    #[test]
    fn manifest_kind_follows_the_layers() {
        let layer = |mt: &str| LayerRecord {
            blob: Digest::of(b"l"),
            media_type: mt.into(),
            blob_size: 1,
            diff_id: Digest::of(b"d"),
            size: 1,
        };
        let config: berth_image::config::ImageConfig =
            berth_image::config::ImageConfig::from_slice(
                br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#,
            )
            .unwrap();
        let img = Image::new(
            ImageRecord {
                id: Digest::of(b"c"),
                layers: vec![layer(media_type::DOCKER_LAYER_GZIP)],
                parent: None,
                last_tag_time: None,
            },
            config.clone(),
        );
        let (bytes, mt) = manifest_of(&img, 10, &HashMap::new());
        assert_eq!(mt, media_type::DOCKER_MANIFEST);
        let m: Manifest = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(m.config.media_type, media_type::DOCKER_CONFIG);
        assert_eq!(m.layers[0].digest, Digest::of(b"l").as_str());
        let img = Image::new(
            ImageRecord {
                id: Digest::of(b"c"),
                layers: vec![layer(media_type::OCI_LAYER)],
                parent: None,
                last_tag_time: None,
            },
            config,
        );
        assert_eq!(
            manifest_of(&img, 10, &HashMap::new()).1,
            media_type::OCI_MANIFEST
        );
    }

    #[test]
    fn mount_sources_prefer_digest_references_on_the_same_registry() {
        let config = berth_image::config::ImageConfig::from_slice(
            br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let (a, b) = (Digest::of(b"a"), Digest::of(b"b"));
        let img = |id: &Digest, blobs: &[&Digest]| {
            std::sync::Arc::new(Image::new(
                ImageRecord {
                    id: id.clone(),
                    layers: blobs
                        .iter()
                        .map(|d| LayerRecord {
                            blob: (*d).clone(),
                            media_type: media_type::OCI_LAYER.into(),
                            blob_size: 1,
                            diff_id: (*d).clone(),
                            size: 1,
                        })
                        .collect(),
                    parent: None,
                    last_tag_time: None,
                },
                config.clone(),
            ))
        };
        let (i1, i2) = (Digest::of(b"i1"), Digest::of(b"i2"));
        let images: HashMap<_, _> = [
            (i1.clone(), img(&i1, &[&a, &b])),
            (i2.clone(), img(&i2, &[&a])),
        ]
        .into_iter()
        .collect();
        let digest = format!("sha256:{}", "1".repeat(64));
        let refs: std::collections::BTreeMap<String, Digest> = [
            ("reg.test:5000/src/one:1".to_string(), i1.clone()),
            (format!("reg.test:5000/src/two@{digest}"), i2.clone()),
            ("reg.test:5000/dst:1".to_string(), i1.clone()),
            ("other.test/src/three:1".to_string(), i1.clone()),
        ]
        .into_iter()
        .collect();
        let target = Reference::parse("reg.test:5000/dst:1").unwrap();
        let got = mount_sources(&refs, &images, &target, &[a.clone(), b.clone()]);
        // Only the same registry, never the target itself; digest references first.
        assert_eq!(got[&a], vec!["src/two".to_string(), "src/one".to_string()]);
        assert_eq!(got[&b], vec!["src/one".to_string()]);
        assert_eq!(got.len(), 2);
    }
}
