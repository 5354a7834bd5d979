//! `POST /images/create?fromSrc=…`: one tarball becomes a one-layer image.

use std::io::{Read, Write};

use berth_image::config::{ContainerConfig, ImageConfig};
use berth_store::Digest;

use super::store::{ImageRecord, LayerRecord};
use super::unpack::read_full;
use crate::{Daemon, Error, Result};

#[derive(Debug, Default)]
pub struct ImportOptions {
    /// Where the tar came from (`-` or a URL), for the default comment.
    pub source: String,
    pub repo: Option<String>,
    pub tag: Option<String>,
    /// Dockerfile-style `-c/--change` lines.
    pub changes: Vec<String>,
    pub message: Option<String>,
    /// `os[/arch[/variant]]`.
    pub platform: Option<String>,
}

struct ImportSettings {
    target: Option<berth_image::Reference>,
    os: String,
    arch: String,
    variant: Option<String>,
    config: ContainerConfig,
}

/// Copies everything read through it into `sink` as well.
struct Tee<'a, R, W> {
    inner: R,
    sink: &'a mut W,
}

impl<R: Read, W: Write> Read for Tee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sink.write_all(&buf[..n])?;
        Ok(n)
    }
}

impl Daemon {
    /// Checks everything the caller controls, before a byte of the tar is read.
    pub fn check_import(&self, opts: &ImportOptions) -> Result<()> {
        self.import_settings(opts).map(|_| ())
    }

    fn import_settings(&self, opts: &ImportOptions) -> Result<ImportSettings> {
        let target = match &opts.repo {
            Some(repo) if !repo.is_empty() => Some(super::parse_tag_target(
                repo,
                opts.tag.as_deref().unwrap_or_default(),
            )?),
            _ => None,
        };
        let (os, arch, variant) = platform(opts.platform.as_deref())?;
        let config = berth_image::config::apply_changes(&ContainerConfig::default(), &opts.changes)
            .map_err(|e| Error::InvalidParameter(e.to_string()))?;
        Ok(ImportSettings {
            target,
            os,
            arch,
            variant,
            config,
        })
    }

    /// Stores the tar as the layer blob and unpacks it in the same pass.
    pub fn import_image(&self, body: impl Read, opts: &ImportOptions) -> Result<Digest> {
        let ImportSettings {
            target,
            os,
            arch,
            variant,
            config: container_config,
        } = self.import_settings(opts)?;

        let mut blob = self.content.writer()?;
        let prepared = self.snapshots.prepare()?;
        let mut head = Vec::new();
        let applied = {
            let mut tee = Tee {
                inner: body,
                sink: &mut blob,
            };
            let mut first = [0u8; 4];
            let n =
                read_full(&mut tee, &mut first).map_err(Error::io("reading the import stream"))?;
            head.extend_from_slice(&first[..n]);
            berth_layer::apply(
                std::io::BufReader::with_capacity(
                    super::unpack::READ_BUF,
                    std::io::Cursor::new(head.clone()).chain(tee),
                ),
                prepared.path(),
            )?
        };
        let pending = blob.finish()?;
        let diff_id: Digest = applied
            .diff_id
            .parse()
            .map_err(|e| Error::Internal(format!("diff id: {e}")))?;

        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let comment = match &opts.message {
            Some(m) if !m.is_empty() => m.clone(),
            _ => format!("Imported from {}", opts.source),
        };
        let config = serde_json::json!({
            "architecture": arch,
            "comment": comment,
            "config": container_config,
            "created": now,
            "docker_version": env!("CARGO_PKG_VERSION"),
            "history": [{"created": now, "comment": comment}],
            "os": os,
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        });
        let mut config = config;
        if let Some(v) = variant {
            config["variant"] = v.into();
        }
        // Round-trip through the typed config so what we store is what we can read.
        let typed: ImageConfig = serde_json::from_value(config)
            .map_err(|e| Error::Internal(format!("import config: {e}")))?;
        let config_bytes = typed.to_vec();

        let _w = self.lock_write();
        let layer = LayerRecord {
            blob: pending.digest().clone(),
            media_type: berth_layer::Compression::detect(&head)
                .oci_layer_media_type()
                .to_string(),
            blob_size: pending.size(),
            diff_id: diff_id.clone(),
            size: applied.size,
        };
        pending.commit()?;
        prepared.commit(diff_id.hex())?;
        let id = self.content.put(&config_bytes)?;
        let record = ImageRecord {
            id: id.clone(),
            layers: vec![layer],
            parent: None,
            last_tag_time: None,
        };
        let tags: Vec<_> = target.into_iter().collect();
        self.register_images(vec![(record, typed, tags.clone())])?;
        let name = tags
            .first()
            .map(|t| t.familiar_string())
            .unwrap_or_default();
        self.events
            .emit("image", "import", id.as_str(), super::attrs(&name));
        Ok(id)
    }
}

/// `os[/arch[/variant]]`, defaulting to this machine's.
fn platform(p: Option<&str>) -> Result<(String, String, Option<String>)> {
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let Some(p) = p.filter(|p| !p.is_empty()) else {
        return Ok(("linux".into(), host_arch.into(), None));
    };
    let parts: Vec<&str> = p.split('/').collect();
    if parts[0] != "linux" || parts.len() > 3 || parts.iter().any(|s| s.is_empty()) {
        return Err(Error::InvalidParameter(format!("invalid platform: {p}")));
    }
    Ok((
        "linux".into(),
        parts.get(1).copied().unwrap_or(host_arch).to_string(),
        parts.get(2).map(|s| s.to_string()),
    ))
}
