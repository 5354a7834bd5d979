//! Progress of pulls and pushes, as events the daemon turns into docker's
//! JSON messages (and the berth CLI into progress bars).

/// What happens to one layer (or the config) during a pull or push; the
/// `status` texts are docker's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerStatus {
    PullingFsLayer,
    Waiting,
    Downloading {
        current: u64,
        total: u64,
    },
    VerifyingChecksum,
    DownloadComplete,
    Extracting {
        current: u64,
        total: u64,
    },
    PullComplete,
    AlreadyExists,
    Preparing,
    Pushing {
        current: u64,
        total: u64,
    },
    Pushed,
    LayerAlreadyExists,
    MountedFrom(String),
    /// A download failed and is tried again after `seconds`.
    Retrying {
        seconds: u64,
    },
}

impl LayerStatus {
    /// docker's status text.
    pub fn status(&self) -> String {
        match self {
            LayerStatus::PullingFsLayer => "Pulling fs layer".into(),
            LayerStatus::Waiting => "Waiting".into(),
            LayerStatus::Downloading { .. } => "Downloading".into(),
            LayerStatus::VerifyingChecksum => "Verifying Checksum".into(),
            LayerStatus::DownloadComplete => "Download complete".into(),
            LayerStatus::Extracting { .. } => "Extracting".into(),
            LayerStatus::PullComplete => "Pull complete".into(),
            LayerStatus::AlreadyExists => "Already exists".into(),
            LayerStatus::Preparing => "Preparing".into(),
            LayerStatus::Pushing { .. } => "Pushing".into(),
            LayerStatus::Pushed => "Pushed".into(),
            LayerStatus::LayerAlreadyExists => "Layer already exists".into(),
            LayerStatus::MountedFrom(from) => format!("Mounted from {from}"),
            LayerStatus::Retrying { seconds } => format!("Retrying in {seconds} seconds"),
        }
    }

    /// (current, total) for the states that carry a byte count.
    pub fn bytes(&self) -> Option<(u64, u64)> {
        match self {
            LayerStatus::Downloading { current, total }
            | LayerStatus::Extracting { current, total }
            | LayerStatus::Pushing { current, total } => Some((*current, *total)),
            _ => None,
        }
    }
}

/// One event of a pull or push.
#[derive(Debug, Clone, PartialEq)]
pub enum Progress {
    /// A line about the whole operation (`Pulling from library/busybox`,
    /// `Digest: …`, `Status: …`), with docker's `id` where it sets one.
    Message { id: Option<String>, status: String },
    /// A layer's state; `id` is its short (12 hex) digest.
    Layer { id: String, status: LayerStatus },
    /// The `aux` object of a push's last message (`Tag`, `Digest`, `Size`).
    Aux(serde_json::Value),
}

/// docker's progress bar as its daemon renders it for clients that do not
/// draw their own (`[=====>        ]  1.2MB/3.4MB`).
pub fn progress_bar(current: u64, total: u64) -> String {
    if total == 0 {
        return if current == 0 {
            String::new()
        } else {
            format!("{:>8}", human_size(current))
        };
    }
    let pct = ((current as f64 / total as f64 * 100.0) as u64 / 2).min(50) as usize;
    format!(
        "[{}>{}] {:>8}/{}",
        "=".repeat(pct),
        " ".repeat(50 - pct),
        human_size(current),
        human_size(total)
    )
}

/// go-units' HumanSize: decimal units, 4 significant digits.
pub fn human_size(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    // %.4g: 4 significant digits, trailing zeros dropped.
    let digits = if v >= 1000.0 {
        0
    } else if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.digits$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", units[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_and_sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1234), "1.234kB");
        assert_eq!(human_size(2_100_000), "2.1MB");
        assert_eq!(human_size(12_345_678), "12.35MB");
        assert_eq!(
            progress_bar(50, 100),
            format!("[{}>{}]      50B/100B", "=".repeat(25), " ".repeat(25))
        );
        assert_eq!(progress_bar(0, 0), "");
        assert_eq!(progress_bar(5, 0), "      5B");
        assert_eq!(
            LayerStatus::MountedFrom("a/b".into()).status(),
            "Mounted from a/b"
        );
        assert_eq!(
            LayerStatus::Downloading {
                current: 1,
                total: 2
            }
            .bytes(),
            Some((1, 2))
        );
    }
}
