//! `POST /images/create?fromImage=`: pulling from a registry.
//!
//! resolve → manifest (an index is narrowed to one platform) → config →
//! layers fetched several at once into resumable ingest files (hashed as they
//! arrive, verified against the manifest) → unpacked several at once through
//! the same `unpack_blobs` as load → under the write lock: snapshots, blobs,
//! one sync, the record, the references.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_distribution::{
    AuthConfig, BlobSink, Client, Credentials, DistError, LayerStatus, Progress, RegistryHosts,
    Repository,
};
use berth_image::config::ImageConfig;
use berth_image::manifest::{parse_manifest, Manifest, ParsedManifest, Platform};
use berth_image::Reference;
use berth_snapshot::Prepared;
use berth_store::{BlobWriter, Digest, PendingBlob};
use bytes::Bytes;

use super::store::{chain_ids, ImageRecord, LayerRecord};
use super::unpack::{verify_diff_id, UnpackedLayer};
use crate::{Config, Daemon, Error, Result};

/// Configs larger than this are refused.
const MAX_CONFIG: usize = 16 << 20;
/// How often a download is tried before the pull fails (dockerd's default is 5).
const ATTEMPTS: u32 = 3;
/// Frames queued between a download and the unpack that follows it.
const UNPACK_QUEUE: usize = 32;

/// What `fromImage` asks for besides the name.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// `tag` as the API got it: a tag, a digest, or empty (all tags when the
    /// name has neither).
    pub tag: String,
    /// `--platform`; the host's when `None`.
    pub platform: Option<String>,
    pub auth: AuthConfig,
}

/// The daemon's registry settings from daemon.json.
pub(crate) struct RegistrySettings {
    pub hosts: RegistryHosts,
    pub downloads: usize,
    pub uploads: usize,
}

fn strings(file: &BTreeMap<String, serde_json::Value>, key: &str) -> Result<Vec<String>> {
    match file.get(key) {
        None => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            Error::InvalidParameter(format!("invalid value for {key} in daemon.json: {e}"))
        }),
    }
}

fn count(file: &BTreeMap<String, serde_json::Value>, key: &str, default: usize) -> Result<usize> {
    match file.get(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| {
                Error::InvalidParameter(format!(
                    "invalid value for {key} in daemon.json: {v} (expected a positive number)"
                ))
            }),
    }
}

impl RegistrySettings {
    pub fn from_config(config: &Config) -> Result<RegistrySettings> {
        let f = &config.file;
        let hosts = RegistryHosts::new(
            &strings(f, "registry-mirrors")?,
            &strings(f, "insecure-registries")?,
        )
        .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        Ok(RegistrySettings {
            hosts,
            downloads: count(f, "max-concurrent-downloads", 3)?,
            uploads: count(f, "max-concurrent-uploads", 5)?,
        })
    }
}

/// One client (connection pool, token cache) per data root, made on first
/// use, so daemons that never pull never start its threads.
static CLIENTS: Mutex<Vec<(std::path::PathBuf, Arc<Client>)>> = Mutex::new(Vec::new());

/// Maps a registry error to what dockerd answers for `reference`.
pub(crate) fn pull_error(e: DistError, r: &Reference) -> Error {
    if e.is_denied() {
        return Error::NotFound(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {e}",
            r.familiar_name()
        ));
    }
    if e.is_not_found() {
        return Error::NotFound(format!(
            "manifest for {} not found: {e}",
            r.familiar_string()
        ));
    }
    dist_error(e)
}

pub(crate) fn dist_error(e: DistError) -> Error {
    match e {
        DistError::InvalidAuth(_) | DistError::InvalidConfig(_) => {
            Error::InvalidParameter(e.to_string())
        }
        DistError::Registry { status: 404, .. } => Error::NotFound(e.to_string()),
        _ => Error::Internal(e.to_string()),
    }
}

/// Serialises the progress of worker threads into the caller's sink.
struct Sink<'a>(Mutex<&'a mut (dyn FnMut(Progress) + Send)>);

impl Sink<'_> {
    fn send(&self, p: Progress) {
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        (*f)(p);
    }
    fn layer(&self, id: &str, status: LayerStatus) {
        self.send(Progress::Layer {
            id: id.to_string(),
            status,
        });
    }
    fn message(&self, id: Option<&str>, status: String) {
        self.send(Progress::Message {
            id: id.map(str::to_string),
            status,
        });
    }
}

/// Writes a download into a blob writer, reporting progress now and then,
/// and hands the same bytes to the layer's unpack while they arrive.
struct Download<'a, 's> {
    w: BlobWriter,
    id: &'a str,
    total: u64,
    sink: &'a Sink<'s>,
    last: Instant,
    /// The unpack fed from this download; `None` once it gave up or was
    /// abandoned (its input would no longer be the blob's bytes in order).
    unpack: Option<SyncSender<Bytes>>,
}

impl Download<'_, '_> {
    fn wrote(&mut self) {
        if self.last.elapsed() >= Duration::from_millis(100) {
            self.last = Instant::now();
            self.sink.layer(
                self.id,
                LayerStatus::Downloading {
                    current: self.w.size(),
                    total: self.total,
                },
            );
        }
    }
}

impl BlobSink for Download<'_, '_> {
    fn start(&mut self, offset: u64, _total: Option<u64>) -> std::io::Result<()> {
        if offset != self.w.size() {
            // The registry starts over: the unpack already saw the first bytes.
            self.unpack = None;
            self.w.restart().map_err(std::io::Error::other)?;
        }
        self.w.expect(self.total);
        Ok(())
    }
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.write_bytes(Bytes::copy_from_slice(data))
    }
    fn write_bytes(&mut self, data: Bytes) -> std::io::Result<()> {
        std::io::Write::write_all(&mut self.w, &data)?;
        if let Some(tx) = &self.unpack {
            if tx.send(data).is_err() {
                // The unpack failed; the blob is still stored and unpacked later.
                self.unpack = None;
            }
        }
        self.wrote();
        Ok(())
    }
}

/// An unpack running on its own thread while its blob downloads.
type Streamed = std::thread::JoinHandle<(
    std::result::Result<berth_layer::Applied, berth_layer::LayerError>,
    Prepared,
)>;

/// A downloaded blob, and its layer when it was unpacked while it arrived.
struct Fetched {
    blob: PendingBlob,
    unpacked: Option<UnpackedLayer>,
}

/// A layer to fetch and unpack.
struct Job {
    id: String,
    digest: Digest,
    size: u64,
    /// The diff id to unpack the blob to while it downloads, if it is unpacked.
    diff_id: Option<Digest>,
}

impl Daemon {
    /// The registry client for this daemon's settings.
    pub(crate) fn registry(&self) -> Result<Arc<Client>> {
        let root = self.config.data_root.clone();
        let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, c)) = clients.iter().find(|(r, _)| *r == root) {
            return Ok(c.clone());
        }
        let settings = RegistrySettings::from_config(&self.config)?;
        let client = Arc::new(Client::new(settings.hosts).map_err(dist_error)?);
        clients.push((root, client.clone()));
        Ok(client)
    }

    /// `/info`'s `RegistryConfig`.
    pub fn registry_config(&self) -> Result<serde_json::Value> {
        Ok(RegistrySettings::from_config(&self.config)?
            .hosts
            .service_config())
    }

    /// Pulls `from_image` (with `opts.tag`), reporting docker's progress.
    pub fn pull(
        &self,
        from_image: &str,
        opts: &PullOptions,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<()> {
        let mut r =
            Reference::parse(from_image).map_err(|e| Error::InvalidParameter(e.to_string()))?;
        if !opts.tag.is_empty() {
            r = if opts.tag.contains(':') {
                r.with_digest(&opts.tag)
            } else {
                r.with_tag(&opts.tag)
            }
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        }
        let platform = match &opts.platform {
            Some(p) if !p.is_empty() => {
                Platform::parse(p).map_err(|e| Error::InvalidParameter(e.to_string()))?
            }
            _ => Platform::host(),
        };
        let creds = opts
            .auth
            .credentials()
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let client = self.registry()?;
        let settings = RegistrySettings::from_config(&self.config)?;
        let sink = Sink(Mutex::new(progress));
        if r.tag().is_some() || r.digest().is_some() {
            let fresh = self.pull_one(&client, &settings, &r, &platform, &creds, &sink)?;
            let status = if fresh {
                "Downloaded newer image for"
            } else {
                "Image is up to date for"
            };
            sink.message(None, format!("Status: {status} {}", r.familiar_string()));
            return Ok(());
        }
        // All tags of the repository.
        let ep = client.hosts().pull_endpoints(r.domain());
        let last = ep
            .last()
            .cloned()
            .ok_or_else(|| Error::Internal("no registry endpoint".into()))?;
        let repo = client
            .repository(&last, r.path(), &creds, false)
            .map_err(|e| pull_error(e, &r))?;
        let tags = repo.tags().map_err(|e| pull_error(e, &r))?;
        let mut fresh = false;
        for t in tags {
            let tagged = r
                .with_tag(&t)
                .map_err(|e| Error::InvalidParameter(e.to_string()))?;
            fresh |= self.pull_one(&client, &settings, &tagged, &platform, &creds, &sink)?;
        }
        let status = if fresh {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        sink.message(None, format!("Status: {status} {}", r.familiar_name()));
        Ok(())
    }

    /// Finds the manifest at the first endpoint that has it (mirrors before the origin).
    fn resolve_manifest<'c>(
        &self,
        client: &'c Client,
        r: &Reference,
        creds: &Credentials,
    ) -> Result<(Repository<'c>, berth_distribution::FetchedManifest)> {
        let want = r.digest().or(r.tag()).unwrap_or("latest").to_string();
        let mut last = None;
        for ep in client.hosts().pull_endpoints(r.domain()) {
            let got = client
                .repository(&ep, r.path(), creds, false)
                .and_then(|repo| repo.get_manifest(&want).map(|m| (repo, m)));
            match got {
                Ok(x) => return Ok(x),
                Err(e) if ep.mirror => {
                    tracing::info!(error = %e, "mirror failed; trying the next endpoint");
                    last = Some(e);
                }
                Err(e) => return Err(pull_error(e, r)),
            }
        }
        Err(last
            .map(|e| pull_error(e, r))
            .unwrap_or_else(|| Error::Internal("no registry endpoint".into())))
    }

    /// Pulls one tag or digest; true when the tag now points at a new image.
    fn pull_one(
        &self,
        client: &Client,
        settings: &RegistrySettings,
        r: &Reference,
        platform: &Platform,
        creds: &Credentials,
        sink: &Sink<'_>,
    ) -> Result<bool> {
        let (repo, top) = self.resolve_manifest(client, r, creds)?;
        let bad =
            |e: &dyn std::fmt::Display| Error::Internal(format!("{}: {e}", r.familiar_string()));
        let manifest: Manifest =
            match parse_manifest(&top.bytes, Some(&top.media_type)).map_err(|e| bad(&e))? {
                ParsedManifest::Manifest(m) => *m,
                ParsedManifest::Index(i) => {
                    let d = i.select(platform).map_err(|_| {
                        Error::NotFound(format!(
                            "no matching manifest for {platform} in the manifest list entries"
                        ))
                    })?;
                    let m = repo.get_manifest(&d.digest).map_err(|e| pull_error(e, r))?;
                    match parse_manifest(&m.bytes, Some(&m.media_type)).map_err(|e| bad(&e))? {
                        ParsedManifest::Manifest(m) => *m,
                        ParsedManifest::Index(_) => {
                            return Err(bad(&"an index inside an index is not supported"))
                        }
                    }
                }
            };
        let id_tag = r.tag().or(r.digest()).unwrap_or("latest");
        sink.message(Some(id_tag), format!("Pulling from {}", r.path()));

        let config_digest: Digest = manifest.config.digest.parse().map_err(|e| bad(&e))?;
        let config_bytes = match self.content.read(&config_digest) {
            Ok(b) => b,
            Err(_) => repo
                .get_blob_bytes(config_digest.as_str(), MAX_CONFIG)
                .map_err(|e| pull_error(e, r))?,
        };
        let config = ImageConfig::from_slice(&config_bytes).map_err(|e| bad(&e))?;
        let diff_ids: Vec<Digest> = config
            .rootfs
            .diff_ids
            .iter()
            .map(|d| d.parse().map_err(|e| bad(&e)))
            .collect::<Result<_>>()?;
        if diff_ids.len() != manifest.layers.len() {
            return Err(bad(&format!(
                "the manifest has {} layers but the image config {}",
                manifest.layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(diff_ids.iter());

        // Layers already unpacked are skipped; the rest are fetched (each
        // blob once) and unpacked (each chain once).
        let mut jobs: Vec<Job> = Vec::new();
        let mut unpack: Vec<usize> = Vec::new();
        let mut sizes: HashMap<usize, u64> = HashMap::new();
        for (i, l) in manifest.layers.iter().enumerate() {
            let digest: Digest = l.digest.parse().map_err(|e| bad(&e))?;
            let id = digest.hex()[..12].to_string();
            if self.snapshots.exists(chains[i].hex()) {
                sink.layer(&id, LayerStatus::AlreadyExists);
                sizes.insert(i, self.known_layer_size(&diff_ids[i], &chains[i]));
                continue;
            }
            let fresh_chain = !unpack.iter().any(|k| chains[*k] == chains[i]);
            if fresh_chain {
                unpack.push(i);
            }
            if !jobs.iter().any(|j| j.digest == digest) {
                sink.layer(&id, LayerStatus::PullingFsLayer);
                jobs.push(Job {
                    id,
                    digest,
                    size: l.size,
                    diff_id: fresh_chain.then(|| diff_ids[i].clone()),
                });
            }
        }
        let mut pending = self.download_all(&repo, &jobs, settings.downloads, sink, r)?;

        let blob_of =
            |i: usize| -> Result<Digest> { manifest.layers[i].digest.parse().map_err(|e| bad(&e)) };
        // Layers unpacked while they downloaded are done; the others (blobs
        // already stored, resumed downloads, failed or repeated unpacks) are
        // unpacked from their files now.
        let mut done: HashMap<usize, UnpackedLayer> = HashMap::new();
        let mut unpack_jobs = Vec::new();
        let mut from_file = Vec::new();
        for (k, &i) in unpack.iter().enumerate() {
            let d = blob_of(i)?;
            let streamed_to = |j: &Job| j.digest == d && j.diff_id.as_ref() == Some(&diff_ids[i]);
            if let Some(u) = pending
                .get_mut(&d)
                .filter(|_| jobs.iter().any(streamed_to))
                .and_then(|f| f.unpacked.take())
            {
                done.insert(k, u);
                continue;
            }
            let path = match pending.get(&d) {
                Some(f) => f.blob.path().to_path_buf(),
                None => self.content.path(&d),
            };
            unpack_jobs.push((path, d, diff_ids[i].clone()));
            from_file.push(k);
        }
        let short = |i: usize| {
            manifest.layers[i]
                .digest
                .get(7..19)
                .unwrap_or("")
                .to_string()
        };
        let last = Mutex::new(vec![Instant::now(); unpack_jobs.len()]);
        let unpacked = self.unpack_blobs_with(&unpack_jobs, &|k, n| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            if last[k].elapsed() >= Duration::from_millis(100) {
                last[k] = Instant::now();
                let i = unpack[from_file[k]];
                sink.layer(
                    &short(i),
                    LayerStatus::Extracting {
                        current: n,
                        total: manifest.layers[i].size,
                    },
                );
            }
        })?;
        for (k, u) in from_file.into_iter().zip(unpacked) {
            done.insert(k, u);
        }
        let mut staged: Vec<(Digest, Prepared)> = Vec::new();
        for (k, &i) in unpack.iter().enumerate() {
            let u = done
                .remove(&k)
                .ok_or_else(|| Error::Internal(format!("layer {} was not unpacked", short(i))))?;
            let total = manifest.layers[i].size;
            sink.layer(
                &short(i),
                LayerStatus::Extracting {
                    current: total,
                    total,
                },
            );
            sink.layer(&short(i), LayerStatus::PullComplete);
            sizes.insert(i, u.size);
            staged.push((chains[i].clone(), u.prepared));
        }

        let mut layers = Vec::new();
        for (i, l) in manifest.layers.iter().enumerate() {
            // A chain seen twice (never in practice) shares its size.
            let size = sizes
                .get(&i)
                .copied()
                .or_else(|| {
                    (0..i)
                        .find(|k| chains[*k] == chains[i])
                        .and_then(|k| sizes.get(&k).copied())
                })
                .unwrap_or(0);
            layers.push(LayerRecord {
                blob: blob_of(i)?,
                media_type: l.media_type.clone(),
                blob_size: l.size,
                diff_id: diff_ids[i].clone(),
                size,
            });
        }

        // `repo@digest`, as dockerd records it: without the tag pulled by.
        let digest_ref = r
            .trimmed()
            .with_digest(&top.digest)
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        let mut tags = vec![digest_ref];
        if r.tag().is_some() {
            tags.push(r.clone());
        }
        let _w = self.lock_write();
        // A layer found unpacked may have been removed (rmi) since; only now,
        // under the write lock, is that settled.
        if let Some(gone) = (0..layers.len()).find(|&i| {
            staged.iter().all(|(c, _)| *c != chains[i]) && !self.snapshots.exists(chains[i].hex())
        }) {
            return Err(Error::Conflict(format!(
                "layer {} was removed while the image was being pulled; pull it again",
                layers[gone].blob
            )));
        }
        for (chain, p) in staged {
            if !self.snapshots.exists(chain.hex()) {
                p.commit(chain.hex())?;
            }
        }
        for (_, f) in pending {
            f.blob.commit()?;
        }
        let id = self.content.put(&config_bytes)?;
        if id != config_digest {
            return Err(bad(&format!("config digest {id} is not {config_digest}")));
        }
        let fresh = {
            let st = self.read();
            r.tag()
                .is_none_or(|_| st.refs().get(&r.to_string()) != Some(&id))
                || !st.images.contains_key(&id)
        };
        self.register_images(vec![(
            ImageRecord {
                id: id.clone(),
                layers,
                parent: None,
                last_tag_time: None,
            },
            config,
            tags,
        )])?;
        drop(_w);
        sink.message(None, format!("Digest: {}", top.digest));
        self.events.emit(
            "image",
            "pull",
            &r.familiar_string(),
            super::attrs(&r.familiar_name()),
        );
        Ok(fresh)
    }

    /// Downloads the layers not in the content store yet, `workers` at a
    /// time; returns the verified, uncommitted blobs.
    fn download_all(
        &self,
        repo: &Repository<'_>,
        jobs: &[Job],
        workers: usize,
        sink: &Sink<'_>,
        r: &Reference,
    ) -> Result<HashMap<Digest, Fetched>> {
        for j in jobs.iter().skip(workers) {
            sink.layer(&j.id, LayerStatus::Waiting);
        }
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Result<Option<Fetched>>>> = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..workers.min(jobs.len()) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(j) = jobs.get(k) else { break };
                    let res = if self.content.exists(&j.digest) {
                        sink.layer(&j.id, LayerStatus::DownloadComplete);
                        Ok(None)
                    } else {
                        self.download(repo, j, sink, r).map(Some)
                    };
                    let failed = res.is_err();
                    results.lock().unwrap_or_else(|e| e.into_inner()).push(res);
                    if failed {
                        next.store(jobs.len(), Ordering::Relaxed);
                    }
                });
            }
        });
        let mut out = HashMap::new();
        for r in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
            if let Some(f) = r? {
                out.insert(f.blob.digest().clone(), f);
            }
        }
        Ok(out)
    }

    /// One layer into a resumable ingest file, retried (and resumed) on
    /// connection failures, then verified. A layer to unpack whose download
    /// starts from its first byte is unpacked on another thread as its bytes
    /// arrive; that unpack is kept only when both the blob's digest and the
    /// layer's diff id check out.
    fn download(
        &self,
        repo: &Repository<'_>,
        j: &Job,
        sink: &Sink<'_>,
        r: &Reference,
    ) -> Result<Fetched> {
        let w = match self.content.resumable_writer(&j.digest)? {
            Some(w) => w,
            // Another pull is fetching the same blob: fetch our own copy.
            None => self.content.writer()?,
        };
        let mut streamed: Option<Streamed> = None;
        let mut unpack = None;
        if j.diff_id.is_some() && w.size() == 0 {
            let prepared = self.snapshots.prepare()?;
            let (tx, rx) = sync_channel::<Bytes>(UNPACK_QUEUE);
            let reader = berth_layer::ChannelReader::new(rx);
            streamed = Some(std::thread::spawn(move || {
                let applied = berth_layer::apply(reader, prepared.path());
                (applied, prepared)
            }));
            unpack = Some(tx);
        }
        let mut d = Download {
            w,
            id: &j.id,
            total: j.size,
            sink,
            last: Instant::now(),
            unpack,
        };
        let fetched = self.fetch_into(repo, j, &mut d, sink, r);
        // The unpack sees the end of its input (or of what it will get) and finishes.
        d.unpack = None;
        let unpacked = streamed.and_then(|h| match h.join() {
            Ok((Ok(applied), prepared)) => {
                let expected = j.diff_id.as_ref()?;
                match verify_diff_id(&j.digest, &applied, expected) {
                    Ok(()) => Some(UnpackedLayer {
                        size: applied.size,
                        prepared,
                        applied: None,
                    }),
                    Err(e) => {
                        tracing::debug!(blob = %j.digest, error = %e, "unpack while downloading");
                        None
                    }
                }
            }
            Ok((Err(e), _)) => {
                tracing::debug!(blob = %j.digest, error = %e, "unpack while downloading");
                None
            }
            Err(_) => None,
        });
        fetched?;
        let blob = self.verify_download(j, d, sink)?;
        Ok(Fetched { blob, unpacked })
    }

    /// The download loop of [`Daemon::download`]: retries and resumes.
    fn fetch_into(
        &self,
        repo: &Repository<'_>,
        j: &Job,
        d: &mut Download<'_, '_>,
        sink: &Sink<'_>,
        r: &Reference,
    ) -> Result<()> {
        let mut attempt = 1;
        loop {
            sink.layer(
                &j.id,
                LayerStatus::Downloading {
                    current: d.w.size(),
                    total: j.size,
                },
            );
            match repo.fetch_blob(j.digest.as_str(), d.w.size(), d) {
                Ok(()) => return Ok(()),
                Err(e) if e.is_connect() && attempt < ATTEMPTS => {
                    let wait = 1u64 << (attempt - 1);
                    sink.layer(&j.id, LayerStatus::Retrying { seconds: wait });
                    std::thread::sleep(Duration::from_secs(wait));
                    attempt += 1;
                }
                Err(e) => return Err(pull_error(e, r)),
            }
        }
    }

    /// Ends a download: the blob's size and digest must be the manifest's.
    fn verify_download(
        &self,
        j: &Job,
        d: Download<'_, '_>,
        sink: &Sink<'_>,
    ) -> Result<PendingBlob> {
        sink.layer(&j.id, LayerStatus::VerifyingChecksum);
        let size = d.w.size();
        let pending = d.w.finish()?;
        if pending.digest() != &j.digest || (j.size > 0 && size != j.size) {
            return Err(Error::Internal(
                DistError::DigestMismatch {
                    digest: j.digest.to_string(),
                    actual: pending.digest().to_string(),
                }
                .to_string(),
            ));
        }
        sink.layer(&j.id, LayerStatus::DownloadComplete);
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_daemon_json() {
        let mut c = Config::default();
        c.file.insert(
            "insecure-registries".into(),
            serde_json::json!(["10.0.0.0/8"]),
        );
        c.file
            .insert("max-concurrent-downloads".into(), serde_json::json!(7));
        let s = RegistrySettings::from_config(&c).unwrap();
        assert_eq!(s.downloads, 7);
        assert_eq!(s.uploads, 5);
        assert!(s.hosts.is_insecure("10.1.1.1:5000"));
        c.file
            .insert("max-concurrent-uploads".into(), serde_json::json!(0));
        assert!(RegistrySettings::from_config(&c).is_err());
        c.file.insert(
            "registry-mirrors".into(),
            serde_json::json!(["mirror.example"]),
        );
        c.file.remove("max-concurrent-uploads");
        assert!(RegistrySettings::from_config(&c).is_err());
    }

    #[test]
    fn registry_errors_read_like_dockerd() {
        let r = Reference::parse("127.0.0.1:5000/nope:1").unwrap();
        let denied = DistError::Registry {
            status: 401,
            errors: vec![berth_distribution::RegistryErrorItem {
                code: "DENIED".into(),
                message: "requested access to the resource is denied".into(),
            }],
        };
        assert_eq!(
            pull_error(denied, &r).to_string(),
            "pull access denied for 127.0.0.1:5000/nope, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
        );
        let unknown = DistError::Registry {
            status: 404,
            errors: vec![berth_distribution::RegistryErrorItem {
                code: "MANIFEST_UNKNOWN".into(),
                message: "manifest unknown".into(),
            }],
        };
        let e = pull_error(unknown, &r);
        assert!(matches!(e, Error::NotFound(_)));
        assert_eq!(
            e.to_string(),
            "manifest for 127.0.0.1:5000/nope:1 not found: manifest unknown: manifest unknown"
        );
    }
}
