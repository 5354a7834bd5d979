//! A runc-compatible runtime binary (runc, crun, youki) driven through its CLI.

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::builtin::tempfile_in;
use crate::error::{Error, Result};
use crate::exec::{classify, exec_process};
use crate::io::{ExecSpec, InitIo, Runtime};
use crate::spec::INIT_ANNOTATION;

/// Runs containers with an external OCI runtime; its state lives under `state_root`.
///
/// The runtime binary forks the container processes and exits, so they are reparented:
/// `create` and `exec` make the caller a child subreaper (`PR_SET_CHILD_SUBREAPER`) so
/// that it can still `waitpid` them, as with the built-in runtime.
#[derive(Debug, Clone)]
pub struct External {
    binary: PathBuf,
    root: PathBuf,
}

impl External {
    pub fn new(binary: impl Into<PathBuf>, state_root: impl Into<PathBuf>) -> Self {
        External {
            binary: binary.into(),
            root: state_root.into(),
        }
    }

    /// Runs `binary --root R --log L --log-format json <args>`; the error text is the
    /// runtime's logged error (its stderr may be the container's).
    fn run(
        &self,
        op: &'static str,
        id: &str,
        args: Vec<OsString>,
        stdio: Option<Stdio3>,
    ) -> Result<Vec<u8>> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| Error::io(format!("creating {}", self.root.display()), e))?;
        let log = tempfile_in(&self.root, id)?;
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log.0)
            .arg("--log-format")
            .arg("json")
            .args(args);
        let captured = stdio.is_none();
        match stdio {
            Some((stdin, stdout, stderr)) => {
                cmd.stdin(Stdio::from(stdin))
                    .stdout(Stdio::from(stdout))
                    .stderr(Stdio::from(stderr));
            }
            None => {
                cmd.stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
            }
        }
        let out = cmd
            .output()
            .map_err(|e| Error::io(format!("running {}", self.binary.display()), e))?;
        if out.status.success() {
            return Ok(out.stdout);
        }
        let logged = std::fs::read_to_string(&log.0).unwrap_or_default();
        let mut message = logged_errors(&logged);
        if message.is_empty() && captured {
            message = String::from_utf8_lossy(&out.stderr).trim().to_string();
        }
        Err(Error::External {
            binary: self.binary.clone(),
            op,
            id: id.to_string(),
            status: out.status.to_string(),
            stderr: message,
        })
    }

    fn pid_file(&self, id: &str, kind: &str) -> PathBuf {
        self.root
            .join(format!(".{id}-{kind}-{}.pid", std::process::id()))
    }
}

/// The `msg` of every error record in a runc JSON log.
fn logged_errors(log: &str) -> String {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| matches!(v["level"].as_str(), Some("error" | "fatal")))
        .filter_map(|v| v["msg"].as_str().map(str::to_string))
        .collect::<Vec<_>>()
        .join("; ")
}

fn become_subreaper() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Error::io(
            "becoming a child subreaper",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn read_pid(path: &Path) -> Result<i32> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading pid file {}", path.display()), e))?;
    let _ = std::fs::remove_file(path);
    text.trim().parse().map_err(|_| {
        Error::io(
            format!("pid file {} holds {text:?}", path.display()),
            std::io::Error::from(std::io::ErrorKind::InvalidData),
        )
    })
}

/// stdin, stdout, stderr of a runtime invocation.
type Stdio3 = (OwnedFd, OwnedFd, OwnedFd);

/// Splits `io` into the process's stdio (or none with a console socket) and extra args.
fn io_args(io: InitIo) -> Result<(Option<Stdio3>, Vec<OsString>)> {
    match io {
        InitIo::Console { socket } => Ok((
            None,
            vec!["--console-socket".into(), socket.into_os_string()],
        )),
        InitIo::Stdio {
            stdin,
            stdout,
            stderr,
        } => {
            let stdin = match stdin {
                Some(fd) => fd,
                None => std::fs::File::open("/dev/null")
                    .map(OwnedFd::from)
                    .map_err(|e| Error::io("opening /dev/null", e))?,
            };
            Ok((Some((stdin, stdout, stderr)), Vec::new()))
        }
    }
}

fn with_exec_texts(err: Error, args0: Option<&str>) -> Error {
    match (&err, args0) {
        (Error::External { stderr, .. }, Some(a)) => classify(stderr, a).unwrap_or(err),
        _ => err,
    }
}

fn read_config(bundle: &Path) -> Result<serde_json::Value> {
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    serde_json::from_str(&text).map_err(|e| Error::Spec(format!("{}: {e}", path.display())))
}

impl Runtime for External {
    fn create(&self, id: &str, bundle: &Path, io: InitIo) -> Result<i32> {
        let config = read_config(bundle)?;
        if config["annotations"][INIT_ANNOTATION] == "true" {
            return Err(Error::Spec(format!(
                "--init is provided by the built-in runtime only, not by {}",
                self.binary.display()
            )));
        }
        let args0 = config["process"]["args"][0].as_str().map(str::to_string);
        become_subreaper()?;
        let pid_file = self.pid_file(id, "init");
        let (stdio, mut args) = io_args(io)?;
        let mut all: Vec<OsString> = vec![
            "create".into(),
            "--bundle".into(),
            bundle.into(),
            "--pid-file".into(),
            pid_file.clone().into(),
        ];
        all.append(&mut args);
        all.push(id.into());
        self.run("create", id, all, stdio)
            .map_err(|e| with_exec_texts(e, args0.as_deref()))?;
        read_pid(&pid_file)
    }

    fn start(&self, id: &str) -> Result<()> {
        self.run("start", id, vec!["start".into(), id.into()], None)
            .map(drop)
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let mut args: Vec<OsString> = vec!["kill".into()];
        if all {
            args.push("--all".into());
        }
        args.push(id.into());
        args.push(signal.to_string().into());
        self.run("kill", id, args, None).map(drop)
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        if !self.root.join(id).exists() {
            return Ok(());
        }
        let mut args: Vec<OsString> = vec!["delete".into()];
        if force {
            args.push("--force".into());
        }
        args.push(id.into());
        self.run("delete", id, args, None).map(drop)
    }

    fn exec(&self, id: &str, spec: &ExecSpec, io: InitIo) -> Result<i32> {
        become_subreaper()?;
        let state = self.run("state", id, vec!["state".into(), id.into()], None)?;
        let state: serde_json::Value =
            serde_json::from_slice(&state).map_err(|e| Error::Runtime {
                id: id.to_string(),
                op: "exec",
                message: format!("unreadable state from {}: {e}", self.binary.display()),
            })?;
        let bundle = state["bundle"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| Error::Runtime {
                id: id.to_string(),
                op: "exec",
                message: format!("{} state has no bundle", self.binary.display()),
            })?;
        let process = exec_process(&bundle, spec)?;
        let file = tempfile_in(&self.root, id)?;
        std::fs::write(&file.0, process.to_string())
            .map_err(|e| Error::io(format!("writing {}", file.0.display()), e))?;
        let pid_file = self.pid_file(id, "exec");
        let (stdio, mut args) = io_args(io)?;
        let mut all: Vec<OsString> = vec![
            "exec".into(),
            "--detach".into(),
            "--pid-file".into(),
            pid_file.clone().into(),
            "--process".into(),
            file.0.clone().into(),
        ];
        all.append(&mut args);
        all.push(id.into());
        self.run("exec", id, all, stdio)
            .map_err(|e| with_exec_texts(e, spec.args.first().map(|s| s.as_str())))?;
        read_pid(&pid_file)
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.run("pause", id, vec!["pause".into(), id.into()], None)
            .map(drop)
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.run("resume", id, vec!["resume".into(), id.into()], None)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_errors_pick_error_records() {
        let log = "{\"level\":\"info\",\"msg\":\"hi\"}\nnot json\n\
                   {\"level\":\"error\",\"msg\":\"exec: \\\"nope\\\": executable file not found in $PATH\"}\n";
        assert_eq!(
            logged_errors(log),
            "exec: \"nope\": executable file not found in $PATH"
        );
    }
}
