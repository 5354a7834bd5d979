//! The built-in runtime: youki's libcontainer in this process.

use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::signal::Signal;
use libcontainer::syscall::syscall::SyscallType;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};
use oci_spec::runtime::Spec;

use crate::error::{Error, Result};
use crate::exec::{classify, exec_process, lookup_executable};
use crate::io::{ExecSpec, InitIo, Runtime};
use crate::seccomp_bpf::{self, Filter};
use crate::spec::INIT_ANNOTATION;

/// The bundle libcontainer gets when the seccomp filter is precompiled: a subdirectory
/// of the container's bundle with the spec minus `linux.seccomp`, and the program.
const PRECOMPILED_BUNDLE: &str = "builtin";
const FILTER_FILE: &str = "seccomp.bpf";
/// Compiled programs, by profile; the dot keeps it apart from container ids.
const FILTER_CACHE: &str = ".seccomp-cache";

/// Runs containers with libcontainer; state lives in `<state_root>/<id>/`.
#[derive(Debug, Clone)]
pub struct Builtin {
    root: PathBuf,
}

impl Builtin {
    pub fn new(state_root: impl Into<PathBuf>) -> Self {
        Builtin {
            root: state_root.into(),
        }
    }

    /// With a seccomp profile, the bundle libcontainer is given instead of `bundle` and
    /// the compiled filter the container's process loads itself (see [`Filter`]).
    fn precompile(&self, bundle: &Path, spec: &Spec) -> Result<(PathBuf, Option<Filter>)> {
        let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
            return Ok((bundle.to_path_buf(), None));
        };
        let Some(filter) = Filter::for_profile(&self.root.join(FILTER_CACHE), seccomp)? else {
            return Ok((bundle.to_path_buf(), None));
        };
        let mut value = serde_json::to_value(spec).map_err(|e| Error::Spec(e.to_string()))?;
        if let Some(linux) = value["linux"].as_object_mut() {
            linux.remove("seccomp");
        }
        seccomp_bpf::admit(&mut value["process"]);
        let dir = bundle.join(PRECOMPILED_BUNDLE);
        let io = |e| Error::io(format!("writing {}", dir.display()), e);
        std::fs::create_dir_all(&dir).map_err(io)?;
        let text = serde_json::to_vec(&value).map_err(|e| Error::Spec(e.to_string()))?;
        std::fs::write(dir.join("config.json"), text).map_err(io)?;
        filter.save(&dir.join(FILTER_FILE))?;
        Ok((dir, Some(filter)))
    }

    fn load(&self, id: &str, op: &'static str) -> Result<Container> {
        Container::load(self.root.join(id)).map_err(|e| runtime_error(id, op, e))
    }

    /// A builder with our executor, state root and the process's stdio.
    fn builder(&self, id: &str, io: InitIo, executor: BerthExecutor) -> Result<ContainerBuilder> {
        std::fs::create_dir_all(&self.root)
            .map_err(|e| Error::io(format!("creating {}", self.root.display()), e))?;
        let mut builder = ContainerBuilder::new(id.to_string(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(self.root.clone())
            .map_err(|e| runtime_error(id, "create", e))?;
        match io {
            InitIo::Console { socket } => {
                builder = builder.with_console_socket(Some(socket));
            }
            InitIo::Stdio {
                stdin,
                stdout,
                stderr,
            } => {
                let stdin = match stdin {
                    Some(fd) => fd,
                    None => dev_null()?,
                };
                builder = builder
                    .with_stdin(stdin)
                    .with_stdout(stdout)
                    .with_stderr(stderr);
            }
        }
        Ok(builder)
    }
}

fn dev_null() -> Result<OwnedFd> {
    std::fs::File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Error::io("opening /dev/null", e))
}

/// libcontainer's error with its source chain, mapped to docker's exec texts when it is one.
fn runtime_error(id: &str, op: &'static str, err: LibcontainerError) -> Error {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Runtime {
        id: id.to_string(),
        op,
        message,
    }
}

fn with_exec_texts(err: Error, args0: Option<&str>) -> Error {
    match (&err, args0) {
        (Error::Runtime { message, .. }, Some(a)) => classify(message, a).unwrap_or(err),
        _ => err,
    }
}

impl Runtime for Builtin {
    fn create(&self, id: &str, bundle: &Path, io: InitIo) -> Result<i32> {
        let config = bundle.join("config.json");
        // Read whole, then parsed: oci-spec's `Spec::load` parses from a reader, which
        // serde_json reads a byte per call (it shows in a profile of container creation).
        let spec: Spec = std::fs::read(&config)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| Error::Spec(format!("{}: {e}", config.display())))?;
        let init = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(INIT_ANNOTATION))
            .is_some_and(|v| v == "true");
        let args0 = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().as_ref())
            .and_then(|a| a.first().cloned());
        let (bundle, filter) = self.precompile(bundle, &spec)?;
        let container = self
            .builder(
                id,
                io,
                BerthExecutor {
                    reaper: init,
                    filter,
                },
            )?
            .validate_id()
            .map_err(|e| runtime_error(id, "create", e))?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(|e| with_exec_texts(runtime_error(id, "create", e), args0.as_deref()))?;
        container
            .pid()
            .map(|p| p.as_raw())
            .ok_or_else(|| Error::Runtime {
                id: id.to_string(),
                op: "create",
                message: "the container has no init process".to_string(),
            })
    }

    fn start(&self, id: &str) -> Result<()> {
        self.load(id, "start")?
            .start()
            .map_err(|e| runtime_error(id, "start", e))
    }

    fn kill(&self, id: &str, signal: i32, all: bool) -> Result<()> {
        let sig = Signal::try_from(signal).map_err(|_| Error::Runtime {
            id: id.to_string(),
            op: "kill",
            message: format!("invalid signal {signal}"),
        })?;
        self.load(id, "kill")?
            .kill(sig, all)
            .map_err(|e| runtime_error(id, "kill", e))
    }

    fn delete(&self, id: &str, force: bool) -> Result<()> {
        if !self.root.join(id).exists() {
            // Already gone: deleting twice is not an error for the shim's cleanup paths.
            return Ok(());
        }
        self.load(id, "delete")?
            .delete(force)
            .map_err(|e| runtime_error(id, "delete", e))
    }

    fn exec(&self, id: &str, spec: &ExecSpec, io: InitIo) -> Result<i32> {
        let container = self.load(id, "exec")?;
        let process = exec_process(container.bundle(), spec)?;
        // Check the command from outside first: a failure inside libcontainer's tenant
        // leaves its forked helpers unreaped in the caller.
        if let Some(init) = container.pid() {
            let cwd = process["cwd"].as_str().unwrap_or("/");
            let root = PathBuf::from(format!("/proc/{}/root", init.as_raw()));
            lookup_executable(&root, &spec.args[0], &spec.env, cwd)?;
        }
        // libcontainer reads the process from a file, as `runc exec --process`.
        let file = tempfile_in(&self.root, id)?;
        std::fs::write(&file.0, process.to_string())
            .map_err(|e| Error::io(format!("writing {}", file.0.display()), e))?;
        let filter = Filter::load(&container.bundle().join(FILTER_FILE))?;
        let pid = self
            .builder(
                id,
                io,
                BerthExecutor {
                    reaper: false,
                    filter,
                },
            )?
            .as_tenant()
            .with_process(Some(file.0.clone()))
            .with_detach(true)
            .build()
            .map_err(|e| {
                with_exec_texts(
                    runtime_error(id, "exec", e),
                    spec.args.first().map(|s| s.as_str()),
                )
            })?;
        Ok(pid.as_raw())
    }

    fn pause(&self, id: &str) -> Result<()> {
        self.load(id, "pause")?
            .pause()
            .map_err(|e| runtime_error(id, "pause", e))
    }

    fn resume(&self, id: &str) -> Result<()> {
        self.load(id, "resume")?
            .resume()
            .map_err(|e| runtime_error(id, "resume", e))
    }
}

/// A file removed when dropped.
pub(crate) struct TempFile(pub(crate) PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn tempfile_in(dir: &Path, id: &str) -> Result<TempFile> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(TempFile(dir.join(format!(
        ".{id}-exec-{}-{n}.json",
        std::process::id()
    ))))
}

/// Runs the container's command at the end of libcontainer's init: checks it with
/// docker's error texts, loads the precompiled seccomp filter, then execs the command —
/// directly, or under a reaping PID 1 (`--init`).
#[derive(Clone)]
struct BerthExecutor {
    reaper: bool,
    filter: Option<Filter>,
}

fn process_args(spec: &Spec) -> Option<&Vec<String>> {
    spec.process().as_ref().and_then(|p| p.args().as_ref())
}

impl Executor for BerthExecutor {
    fn exec(&self, spec: &Spec) -> std::result::Result<(), ExecutorError> {
        let args = process_args(spec)
            .filter(|a| !a.is_empty())
            .ok_or(ExecutorError::InvalidArg)?;
        let cargs = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| ExecutorError::InvalidArg))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        if let Some(filter) = &self.filter {
            filter.install().map_err(ExecutorError::Other)?;
        }
        if self.reaper {
            reaper::run(&cargs);
        }
        let err = nix::unistd::execvp(&cargs[0], &cargs).unwrap_err();
        Err(ExecutorError::Other(format!(
            "exec: {:?}: {}",
            args[0],
            err.desc()
        )))
    }

    fn validate(&self, spec: &Spec) -> std::result::Result<(), ExecutorValidationError> {
        let args = process_args(spec)
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                ExecutorValidationError::ArgValidationError("no command specified".into())
            })?;
        let env = spec
            .process()
            .as_ref()
            .and_then(|p| p.env().clone())
            .unwrap_or_default();
        let cwd = spec
            .process()
            .as_ref()
            .map(|p| p.cwd().to_string_lossy().into_owned())
            .unwrap_or_default();
        // Runs inside the container after pivot_root: "/" is the container's root.
        lookup_executable(Path::new("/"), &args[0], &env, &cwd)
            .map(|_| ())
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string()))
    }
}

/// A minimal tini: PID 1 forks the command, forwards signals to it, reaps every zombie
/// and exits with the command's status (128+signal when it was killed).
mod reaper {
    use std::ffi::CString;

    use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    use nix::unistd::{execvp, fork, ForkResult, Pid};

    /// Tells the container's stderr why the init gave up (it is the only channel left).
    fn report(message: &str) {
        let line = format!("berth-init: {message}\n");
        // SAFETY: writing a valid buffer to fd 2.
        unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    }

    pub(super) fn run(args: &[CString]) -> ! {
        let all = SigSet::all();
        let _ = sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None);
        // SAFETY: single-threaded init; the child only execs or exits.
        let child = match unsafe { fork() } {
            Ok(ForkResult::Child) => {
                let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
                let err = execvp(&args[0], args).unwrap_err();
                report(&format!("exec {:?} failed: {}", args[0], err.desc()));
                // SAFETY: exiting the forked child without running parent destructors.
                unsafe { libc::_exit(127) }
            }
            Ok(ForkResult::Parent { child }) => child,
            Err(e) => {
                report(&format!("fork failed: {}", e.desc()));
                // SAFETY: plain process exit.
                unsafe { libc::_exit(1) }
            }
        };
        loop {
            let sig = match all.wait() {
                Ok(s) => s,
                Err(_) => continue,
            };
            if sig != Signal::SIGCHLD {
                let _ = kill(child, sig);
                continue;
            }
            while let Ok(status) = waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                let code = match status {
                    WaitStatus::StillAlive => break,
                    WaitStatus::Exited(pid, code) if pid == child => code,
                    WaitStatus::Signaled(pid, s, _) if pid == child => 128 + s as i32,
                    _ => continue,
                };
                // SAFETY: plain process exit of PID 1.
                unsafe { libc::_exit(code) }
            }
        }
    }
}
