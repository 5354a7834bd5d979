//! `berth shim …` command line, shared by the shim (parsing) and the daemon (building).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Everything the shim needs to know about its container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShimArgs {
    pub id: String,
    /// OCI bundle directory (holds `config.json`).
    pub bundle: PathBuf,
    /// Exec-root directory of the container: `shim.sock`, `exit.json`, pid files.
    pub state: PathBuf,
    /// json-file log (`<id>-json.log`).
    pub log_path: PathBuf,
    pub log_max_size: Option<u64>,
    pub log_max_file: Option<u32>,
    pub tty: bool,
    /// Keep the container's stdin open for attachers.
    pub stdin: bool,
    /// Close the container's stdin when the first attacher closes its stdin.
    pub stdin_once: bool,
    /// A runc-compatible CLI instead of the built-in libcontainer runtime.
    pub runtime_binary: Option<PathBuf>,
    /// Runtime state root (libcontainer `--root`).
    pub runtime_root: PathBuf,
}

/// `berth shim --spare`: the arguments come later, on stdin (see [`ShimArgs::to_nul_terminated`]).
pub const SPARE_FLAG: &str = "--spare";

impl ShimArgs {
    /// The arguments as a spare shim reads them: each one followed by a NUL byte.
    pub fn to_nul_terminated(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for a in self.to_args() {
            out.extend_from_slice(a.as_bytes());
            out.push(0);
        }
        out
    }

    /// The arguments after `berth shim`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        let mut pair = |flag: &str, value: &OsStr| {
            out.push(flag.into());
            out.push(value.to_owned());
        };
        pair("--id", OsStr::new(&self.id));
        pair("--bundle", self.bundle.as_os_str());
        pair("--state", self.state.as_os_str());
        pair("--log-path", self.log_path.as_os_str());
        if let Some(n) = self.log_max_size {
            pair("--log-max-size", OsStr::new(&n.to_string()));
        }
        if let Some(n) = self.log_max_file {
            pair("--log-max-file", OsStr::new(&n.to_string()));
        }
        if let Some(bin) = &self.runtime_binary {
            pair("--runtime-binary", bin.as_os_str());
        }
        pair("--runtime-root", self.runtime_root.as_os_str());
        for (set, flag) in [
            (self.tty, "--tty"),
            (self.stdin, "--stdin"),
            (self.stdin_once, "--stdin-once"),
        ] {
            if set {
                out.push(flag.into());
            }
        }
        out
    }

    /// The same arguments with every path absolute (the shim changes directory to `/`).
    /// A runtime binary given as a bare name stays one: it is looked up in `$PATH`.
    pub fn absolute(mut self) -> Result<Self> {
        fn fix(p: &mut PathBuf) -> Result<()> {
            if p.is_relative() {
                *p = std::path::absolute(&*p).map_err(|e| Error::path("resolve", &*p, e))?;
            }
            Ok(())
        }
        for p in [
            &mut self.bundle,
            &mut self.state,
            &mut self.log_path,
            &mut self.runtime_root,
        ] {
            fix(p)?;
        }
        if let Some(bin) = &mut self.runtime_binary {
            if bin.components().count() > 1 {
                fix(bin)?;
            }
        }
        Ok(self)
    }

    /// Parses the arguments after `berth shim` (`--flag value` or `--flag=value`).
    pub fn parse(args: &[OsString]) -> Result<Self> {
        let mut a = ShimArgs::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let bytes = arg.as_bytes();
            let (flag, inline) = match bytes.iter().position(|&b| b == b'=') {
                Some(i) => (
                    &bytes[..i],
                    Some(OsStr::from_bytes(&bytes[i + 1..]).to_owned()),
                ),
                None => (bytes, None),
            };
            let flag = String::from_utf8_lossy(flag).into_owned();
            match flag.as_str() {
                "--tty" | "--stdin" | "--stdin-once" => {
                    if inline.is_some() {
                        return Err(Error::Usage(format!("flag {flag} takes no value")));
                    }
                    match flag.as_str() {
                        "--tty" => a.tty = true,
                        "--stdin" => a.stdin = true,
                        _ => a.stdin_once = true,
                    }
                    continue;
                }
                _ => {}
            }
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Error::Usage(format!("flag needs an argument: {flag}")))?,
            };
            match flag.as_str() {
                "--id" => {
                    a.id = value
                        .into_string()
                        .map_err(|v| Error::Usage(format!("invalid --id {v:?}: not UTF-8")))?
                }
                "--bundle" => a.bundle = value.into(),
                "--state" => a.state = value.into(),
                "--log-path" => a.log_path = value.into(),
                "--log-max-size" => a.log_max_size = Some(number(&flag, &value)?),
                "--log-max-file" => a.log_max_file = Some(number(&flag, &value)?),
                "--runtime-binary" => a.runtime_binary = Some(value.into()),
                "--runtime-root" => a.runtime_root = value.into(),
                _ => return Err(Error::Usage(format!("unknown flag: {flag}"))),
            }
        }
        for (missing, flag) in [
            (a.id.is_empty(), "--id"),
            (a.bundle.as_os_str().is_empty(), "--bundle"),
            (a.state.as_os_str().is_empty(), "--state"),
            (a.log_path.as_os_str().is_empty(), "--log-path"),
            (a.runtime_root.as_os_str().is_empty(), "--runtime-root"),
        ] {
            if missing {
                return Err(Error::Usage(format!("missing required flag {flag}")));
            }
        }
        Ok(a)
    }
}

/// The inverse of [`ShimArgs::to_nul_terminated`].
pub(crate) fn from_nul_terminated(bytes: &[u8]) -> Vec<OsString> {
    let body = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    body.split(|&b| b == 0)
        .map(|a| OsStr::from_bytes(a).to_owned())
        .collect()
}

fn number<T: std::str::FromStr>(flag: &str, value: &OsStr) -> Result<T> {
    value
        .to_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::Usage(format!("invalid value {value:?} for {flag}: not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn round_trips_through_the_command_line() {
        let a = ShimArgs {
            id: "abc".into(),
            bundle: "/run/b".into(),
            state: "/run/s".into(),
            log_path: "/var/l.log".into(),
            log_max_size: Some(1024),
            log_max_file: Some(3),
            tty: true,
            stdin: true,
            stdin_once: false,
            runtime_binary: Some("/usr/bin/runc".into()),
            runtime_root: "/run/rt".into(),
        };
        assert_eq!(ShimArgs::parse(&a.to_args()).unwrap(), a);
        let spare = from_nul_terminated(&a.to_nul_terminated());
        assert_eq!(ShimArgs::parse(&spare).unwrap(), a);
    }

    #[test]
    fn accepts_inline_values_and_rejects_bad_input() {
        let a = ShimArgs::parse(&os(&[
            "--id=x",
            "--bundle=/b",
            "--state",
            "/s",
            "--log-path=/l",
            "--runtime-root=/r",
            "--stdin-once",
        ]))
        .unwrap();
        assert_eq!((a.id.as_str(), a.stdin_once, a.tty), ("x", true, false));
        assert_eq!(a.runtime_binary, None);

        let err = ShimArgs::parse(&os(&["--id", "x"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing required flag --bundle"), "{err}");
        let err = ShimArgs::parse(&os(&["--bogus", "1"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown flag: --bogus"), "{err}");
        let err = ShimArgs::parse(&os(&["--log-max-size", "lots"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--log-max-size"), "{err}");
        let err = ShimArgs::parse(&os(&["--id"])).unwrap_err().to_string();
        assert!(err.contains("flag needs an argument: --id"), "{err}");
    }

    #[test]
    fn absolute_resolves_relative_paths_but_not_bare_binaries() {
        let cwd = std::env::current_dir().unwrap();
        let a = ShimArgs {
            bundle: "b".into(),
            state: "/s".into(),
            log_path: "l".into(),
            runtime_root: "/r".into(),
            runtime_binary: Some("runc".into()),
            ..ShimArgs::default()
        }
        .absolute()
        .unwrap();
        assert_eq!(a.bundle, cwd.join("b"));
        assert_eq!(a.state, PathBuf::from("/s"));
        assert_eq!(a.runtime_binary, Some(PathBuf::from("runc")));
        assert_eq!(a.log_path, cwd.join("l"));
        let a = ShimArgs {
            runtime_binary: Some("bin/runc".into()),
            ..a
        };
        assert_eq!(
            a.absolute().unwrap().runtime_binary,
            Some(cwd.join("bin/runc"))
        );
    }
}
