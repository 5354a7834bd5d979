//! Manifests, indexes and descriptors (OCI and Docker schema 2), media
//! types, and platform selection.
//!
//! These types mirror the Go structs of `image-spec` field for field, in the
//! same order and with sorted annotation maps, so that what berth writes is
//! byte-identical to what dockerd writes for the same content. (oci-spec's
//! types keep annotations in a `HashMap`, whose order changes from run to
//! run, which would change digests.)

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Error;

/// Media types of manifests, configs and layers.
pub mod media_type {
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    pub const DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const OCI_LAYER_NONDISTRIBUTABLE: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar";
    pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    pub const OCI_LAYER_NONDISTRIBUTABLE_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
}

/// How a layer blob is compressed: from its media type, or sniffed from its
/// first bytes. The `layer` crate decompresses by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Sniffs the compression from the first bytes of a stream
    /// (gzip `1f 8b`, zstd `28 b5 2f fd`); anything else is taken as plain.
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// The OCI layer media type of a blob so compressed.
    pub fn oci_layer_media_type(self) -> &'static str {
        match self {
            Compression::None => media_type::OCI_LAYER,
            Compression::Gzip => media_type::OCI_LAYER_GZIP,
            Compression::Zstd => media_type::OCI_LAYER_ZSTD,
        }
    }

    /// The compression of a layer media type, or `None` (the Rust one) when
    /// the media type is not a layer.
    pub fn of_layer(media_type: &str) -> Option<Compression> {
        use media_type::*;
        match media_type {
            OCI_LAYER | OCI_LAYER_NONDISTRIBUTABLE | DOCKER_LAYER => Some(Compression::None),
            OCI_LAYER_GZIP
            | OCI_LAYER_NONDISTRIBUTABLE_GZIP
            | DOCKER_LAYER_GZIP
            | DOCKER_FOREIGN_LAYER_GZIP => Some(Compression::Gzip),
            OCI_LAYER_ZSTD | OCI_LAYER_NONDISTRIBUTABLE_ZSTD | DOCKER_LAYER_ZSTD => {
                Some(Compression::Zstd)
            }
            _ => None,
        }
    }
}

/// A platform as in descriptors and `--platform`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            architecture: architecture.to_string(),
            os: os.to_string(),
            variant: variant.map(str::to_string),
            ..Default::default()
        }
    }

    /// `linux/<this machine's architecture>`, docker's default platform.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "arm",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform::new("linux", arch, None)
    }

    /// Parses `os[/arch[/variant]]` (or a bare architecture, which means
    /// linux), as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Platform, Error> {
        let invalid = || Error::InvalidPlatform(s.to_string());
        let lower = s.to_lowercase();
        let parts: Vec<&str> = lower.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) || parts.len() > 3 {
            return Err(invalid());
        }
        let known_os = [
            "linux",
            "windows",
            "darwin",
            "freebsd",
            "netbsd",
            "openbsd",
            "solaris",
            "illumos",
            "aix",
            "plan9",
            "android",
            "ios",
            "dragonfly",
            "js",
            "wasip1",
        ];
        let p = match parts.as_slice() {
            [one] if known_os.contains(one) => {
                Platform::new(one, &Platform::host().architecture, None)
            }
            [one] => Platform::new("linux", one, None),
            [os, arch] => Platform::new(os, arch, None),
            [os, arch, variant] => Platform::new(os, arch, Some(variant)),
            _ => return Err(invalid()),
        };
        if !known_os.contains(&p.os.as_str()) {
            return Err(invalid());
        }
        Ok(p.normalized())
    }

    /// Architecture aliases and default variants resolved, the way
    /// containerd's `platforms.Normalize` does.
    pub fn normalized(&self) -> Platform {
        let variant = self.variant.clone().unwrap_or_default();
        let (arch, variant) = match (self.architecture.as_str(), variant.as_str()) {
            ("x86_64" | "x86-64" | "amd64", "v1") => ("amd64", String::new()),
            ("x86_64" | "x86-64", v) => ("amd64", v.to_string()),
            ("i386", v) => ("386", v.to_string()),
            ("aarch64" | "arm64", "8" | "v8") => ("arm64", String::new()),
            ("aarch64", v) => ("arm64", v.to_string()),
            ("armhf", _) => ("arm", "v7".to_string()),
            ("armel", _) => ("arm", "v6".to_string()),
            ("arm", "") => ("arm", "v7".to_string()),
            ("arm", v) if v.len() == 1 => ("arm", format!("v{v}")),
            (a, v) => (a, v.to_string()),
        };
        Platform {
            architecture: arch.to_string(),
            os: self.os.to_lowercase(),
            variant: (!variant.is_empty()).then_some(variant),
            ..self.clone()
        }
    }

    /// Whether an image for `other` runs on this platform exactly.
    pub fn matches(&self, other: &Platform) -> bool {
        let (a, b) = (self.normalized(), other.normalized());
        a.os == b.os && a.architecture == b.architecture && a.variant == b.variant
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) if !v.is_empty() => write!(f, "/{v}"),
            _ => Ok(()),
        }
    }
}

/// A content descriptor (image-spec's `Descriptor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    pub fn new(media_type: &str, digest: &str, size: u64) -> Descriptor {
        Descriptor {
            media_type: media_type.to_string(),
            digest: digest.to_string(),
            size,
            ..Default::default()
        }
    }
}

/// An image manifest (OCI, or Docker schema 2, which has the same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// Compact JSON, as Go's `json.Marshal` writes it.
    pub fn to_vec(&self) -> Vec<u8> {
        // Plain strings, numbers and string maps: serialisation cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Index {
    /// Compact JSON, as Go's `json.Marshal` writes it.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The entry for `want`: the first whose platform matches exactly; for
    /// 32-bit arm, a lower variant when no exact one exists. Entries without
    /// a platform (attestations, ...) never match.
    pub fn select(&self, want: &Platform) -> Result<&Descriptor, Error> {
        let candidates = || {
            self.manifests
                .iter()
                .filter(|d| is_manifest_type(&d.media_type) || is_index_type(&d.media_type))
        };
        let with_platform = |p: &Platform| {
            candidates().find(|d| d.platform.as_ref().is_some_and(|dp| p.matches(dp)))
        };
        if let Some(d) = with_platform(want) {
            return Ok(d);
        }
        let want_n = want.normalized();
        if want_n.architecture == "arm" {
            let fallbacks: &[&str] = match want_n.variant.as_deref() {
                Some("v8") => &["v7", "v6", "v5"],
                Some("v7") => &["v6", "v5"],
                Some("v6") => &["v5"],
                _ => &[],
            };
            for v in fallbacks {
                if let Some(d) = with_platform(&Platform::new(&want_n.os, "arm", Some(v))) {
                    return Ok(d);
                }
            }
        }
        Err(Error::NoMatchingPlatform(want_n.to_string()))
    }
}

/// Either kind of manifest document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedManifest {
    Manifest(Box<Manifest>),
    Index(Box<Index>),
}

/// True for the media types of single-image manifests.
pub fn is_manifest_type(mt: &str) -> bool {
    mt == media_type::OCI_MANIFEST || mt == media_type::DOCKER_MANIFEST
}

/// True for the media types of indexes / manifest lists.
pub fn is_index_type(mt: &str) -> bool {
    mt == media_type::OCI_INDEX || mt == media_type::DOCKER_MANIFEST_LIST
}

/// Parses manifest or index bytes. The kind comes from the document's
/// `mediaType`, else from `content_type` (an HTTP Content-Type), else from
/// its shape (`manifests` vs `config`). Schema 1 is refused.
pub fn parse_manifest(bytes: &[u8], content_type: Option<&str>) -> Result<ParsedManifest, Error> {
    let decode = |source| Error::Decode {
        what: "manifest",
        source,
    };
    let value: Value = serde_json::from_slice(bytes).map_err(decode)?;
    let body_type = value.get("mediaType").and_then(Value::as_str);
    let content_type = content_type.map(|c| c.split(';').next().unwrap_or(c).trim());
    let mt = body_type
        .or(content_type)
        .filter(|m| !m.is_empty() && *m != "application/json")
        .unwrap_or("");
    if value.get("schemaVersion").and_then(Value::as_u64) == Some(1)
        || mt == media_type::DOCKER_MANIFEST_V1
        || mt == media_type::DOCKER_MANIFEST_V1_SIGNED
    {
        return Err(Error::UnsupportedManifest(if mt.is_empty() {
            media_type::DOCKER_MANIFEST_V1.to_string()
        } else {
            mt.to_string()
        }));
    }
    let as_index = if is_index_type(mt) {
        true
    } else if is_manifest_type(mt) {
        false
    } else if mt.is_empty() {
        if value.get("manifests").is_some() {
            true
        } else if value.get("config").is_some() {
            false
        } else {
            return Err(Error::UnsupportedManifest(String::new()));
        }
    } else {
        return Err(Error::UnsupportedManifest(mt.to_string()));
    };
    if as_index {
        serde_json::from_value(value)
            .map(|i| ParsedManifest::Index(Box::new(i)))
            .map_err(decode)
    } else {
        serde_json::from_value(value)
            .map(|m| ParsedManifest::Manifest(Box::new(m)))
            .map_err(decode)
    }
}

/// An OCI image manifest for a config blob and layer descriptors.
pub fn oci_manifest(config_digest: &str, config_size: u64, layers: Vec<Descriptor>) -> Manifest {
    Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        artifact_type: None,
        config: Descriptor::new(media_type::OCI_CONFIG, config_digest, config_size),
        layers,
        subject: None,
        annotations: BTreeMap::new(),
    }
}

/// An OCI index over `manifests`.
pub fn oci_index(manifests: Vec<Descriptor>) -> Index {
    Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.to_string()),
        artifact_type: None,
        manifests,
        subject: None,
        annotations: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn compression_sniffed_and_named() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"ustar"), Compression::None);
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            assert_eq!(Compression::of_layer(c.oci_layer_media_type()), Some(c));
        }
    }

    use super::*;

    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    #[test]
    fn build_manifest_bytes_like_go() {
        let m = oci_manifest(D1, 7, vec![Descriptor::new(media_type::OCI_LAYER, D2, 9)]);
        assert_eq!(
            String::from_utf8(m.to_vec()).unwrap(),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":7}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D2}","size":9}}]}}"#
            )
        );
        match parse_manifest(&m.to_vec(), None).unwrap() {
            ParsedManifest::Manifest(back) => assert_eq!(*back, m),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn descriptor_field_order_and_sorted_annotations() {
        let mut d = Descriptor::new(media_type::OCI_MANIFEST, D1, 3);
        d.annotations.insert("z".into(), "1".into());
        d.annotations.insert("a".into(), "2".into());
        d.platform = Some(Platform::new("linux", "arm64", Some("v8")));
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{D1}","size":3,"annotations":{{"a":"2","z":"1"}},"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}}"#
            )
        );
    }

    #[test]
    fn parse_docker_list_and_pick_platform() {
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[
              {{"mediaType":"{m}","digest":"{D1}","size":1,"platform":{{"architecture":"arm","os":"linux","variant":"v6"}}}},
              {{"mediaType":"{m}","digest":"{D2}","size":2,"platform":{{"architecture":"amd64","os":"linux"}}}},
              {{"mediaType":"{m}","digest":"{D1}","size":3,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
              {{"mediaType":"{m}","digest":"{D2}","size":4,"platform":{{"architecture":"unknown","os":"unknown"}},"annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}
            ]}}"#,
            media_type::DOCKER_MANIFEST_LIST,
            m = media_type::DOCKER_MANIFEST
        );
        let ParsedManifest::Index(index) = parse_manifest(list.as_bytes(), None).unwrap() else {
            panic!("expected an index");
        };
        assert_eq!(
            index
                .select(&Platform::new("linux", "amd64", None))
                .unwrap()
                .size,
            2
        );
        assert_eq!(
            index
                .select(&Platform::parse("linux/arm64").unwrap())
                .unwrap()
                .size,
            3
        );
        assert_eq!(
            index
                .select(&Platform::parse("linux/aarch64").unwrap())
                .unwrap()
                .size,
            3
        );
        // arm/v7 falls back to v6.
        assert_eq!(
            index
                .select(&Platform::parse("linux/arm").unwrap())
                .unwrap()
                .size,
            1
        );
        assert_eq!(
            index
                .select(&Platform::parse("linux/s390x").unwrap())
                .unwrap_err()
                .to_string(),
            "no matching manifest for linux/s390x in the manifest list entries"
        );
    }

    #[test]
    fn parse_by_shape_and_content_type() {
        let bare =
            format!(r#"{{"schemaVersion":2,"config":{{"digest":"{D1}","size":1}},"layers":[]}}"#);
        assert!(matches!(
            parse_manifest(bare.as_bytes(), None).unwrap(),
            ParsedManifest::Manifest(_)
        ));
        let idx = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse_manifest(
                idx.as_bytes(),
                Some("application/vnd.oci.image.index.v1+json; charset=utf-8")
            )
            .unwrap(),
            ParsedManifest::Index(_)
        ));
        let v1 = r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        assert!(matches!(
            parse_manifest(v1.as_bytes(), None),
            Err(Error::UnsupportedManifest(_))
        ));
        assert!(matches!(
            parse_manifest(br#"{"mediaType":"text/plain"}"#, None),
            Err(Error::UnsupportedManifest(m)) if m == "text/plain"
        ));
        assert!(parse_manifest(b"nope", None).is_err());
    }

    #[test]
    fn platform_parsing() {
        assert_eq!(
            Platform::parse("linux/amd64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("linux/arm/v7").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(Platform::parse("arm64").unwrap().to_string(), "linux/arm64");
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            Platform::parse("Linux/X86_64").unwrap().to_string(),
            "linux/amd64"
        );
        assert_eq!(
            Platform::parse("foo/amd64").unwrap_err().to_string(),
            "\"foo/amd64\": unknown operating system or architecture: invalid argument"
        );
        assert!(Platform::parse("linux//x").is_err());
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn compression_of_layers() {
        assert_eq!(
            Compression::of_layer(media_type::OCI_LAYER),
            Some(Compression::None)
        );
        assert_eq!(
            Compression::of_layer(media_type::DOCKER_LAYER_GZIP),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::of_layer(media_type::OCI_LAYER_ZSTD),
            Some(Compression::Zstd)
        );
        assert_eq!(Compression::of_layer(media_type::OCI_CONFIG), None);
    }
}
