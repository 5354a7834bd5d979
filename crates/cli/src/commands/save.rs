//! `save` / `image save`.

use std::io::Write;
use std::path::{Path, PathBuf};

use http_body_util::BodyExt;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{go_errno_text, CliError, Result};

const FLAGS: &[FlagSpec] = &[
        flag("output", Some('o'), Kind::Str, "Write to a file, instead of STDOUT"),
        flag(
            "platform",
            None,
            Kind::Str,
            "Save only the given platform variant. Formatted as \"os[/arch[/variant]]\" (e.g., \"linux/amd64\")",
        ),
    ];

pub const fn spec(path: &'static str) -> CommandSpec {
    CommandSpec {
        path,
        use_args: "[OPTIONS] IMAGE [IMAGE...]",
        short: "Save one or more images to a tar archive (streamed to STDOUT by default)",
        aliases: "berth image save, berth save",
        arity: Arity::Min(1),
        interspersed: true,
        flags: FLAGS,
    }
}

pub fn query(p: &Parsed) -> Vec<(&'static str, String)> {
    let mut q: Vec<(&'static str, String)> = p.args.iter().map(|n| ("names", n.clone())).collect();
    if let Some(plat) = p.str("platform") {
        q.push(("platform", crate::commands::platform_json(plat)));
    }
    q
}

/// A file written beside its target and renamed into place on success,
/// so a failed save never leaves a truncated archive (docker's atomicwriter).
struct AtomicFile {
    tmp: PathBuf,
    target: PathBuf,
    file: std::fs::File,
}

impl AtomicFile {
    fn create(target: &Path) -> Result<AtomicFile> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let fail = |m: String| CliError::msg(format!("failed to save image: {m}"));
        match std::fs::metadata(&dir) {
            Ok(m) if !m.is_dir() => {
                return Err(fail(format!(
                    "invalid output path: {} is not a directory",
                    dir.display()
                )))
            }
            Ok(_) => {}
            Err(e) => {
                return Err(fail(format!(
                    "invalid output path: stat {}: {}",
                    dir.display(),
                    go_errno_text(&e)
                )))
            }
        }
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".tmp-{name}.{}", std::process::id()));
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| fail(format!("open {}: {}", tmp.display(), go_errno_text(&e))))?;
        Ok(AtomicFile {
            tmp,
            target: target.to_path_buf(),
            file,
        })
    }

    fn commit(self) -> Result<()> {
        self.file.sync_all()?;
        std::fs::rename(&self.tmp, &self.target)?;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // After a successful rename the temp path is gone and this is a no-op.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let output = p.str("output").filter(|o| !o.is_empty());
    if output.is_none() && crate::term::stdout_is_terminal() {
        return Err(CliError::msg(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let mut file = match output {
        Some(o) => Some(AtomicFile::create(Path::new(o))?),
        None => None,
    };
    let client = ctx.client().await?;
    let resp = client
        .request(
            hyper::Method::GET,
            "/images/get",
            &query(p),
            &[],
            crate::client::empty_body(),
        )
        .await?;
    let mut body = resp.into_body();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Transport(e.to_string()))?;
        if let Some(data) = frame.data_ref() {
            match file.as_mut() {
                Some(f) => f.file.write_all(data)?,
                None => ctx.out.write_all(data)?,
            }
        }
    }
    match file {
        Some(f) => f.commit(),
        None => Ok(ctx.out.flush()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_mapping() {
        let argv: Vec<String> = ["-o", "x.tar", "a", "b:1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = spec("save").parse(&argv).unwrap();
        assert_eq!(
            query(&p),
            vec![("names", "a".to_string()), ("names", "b:1".to_string())]
        );
        assert_eq!(p.str("output"), Some("x.tar"));
    }

    #[test]
    fn atomic_file_errors_and_commit() {
        let e = AtomicFile::create(Path::new("/nonexist/x")).err().unwrap();
        assert_eq!(
            e.to_string(),
            "failed to save image: invalid output path: stat /nonexist: no such file or directory"
        );
        let dir = std::env::temp_dir().join(format!("berth-cli-save-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.tar");
        let mut f = AtomicFile::create(&target).unwrap();
        f.file.write_all(b"data").unwrap();
        assert!(!target.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"data");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
