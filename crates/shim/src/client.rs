//! The daemon's side: start a shim, talk to its socket, read its exit record.
//!
//! Blocking std I/O on purpose: every call is short (one request, one line back) except
//! `wait`/`exec_wait`, and the daemon runs these on its blocking pool.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::args::{ShimArgs, SPARE_FLAG};
use crate::error::{Error, Result};
use crate::protocol::{
    parse_response, ContainerStats, ExecRequest, ExitStatus, Request, ResponseError,
};

/// File names inside the shim's state directory.
pub const SOCKET: &str = "shim.sock";
pub const EXIT_FILE: &str = "exit.json";
pub const INIT_PID_FILE: &str = "init.pid";
pub const SHIM_PID_FILE: &str = "shim.pid";

/// Timeout for connecting and for the answer to a control request.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `spawn` waits for the shim's `{"pid":N}` line (container creation included).
const SPAWN_TIMEOUT: Duration = Duration::from_secs(60);

/// A handle on one container's shim socket. Each request opens its own connection.
#[derive(Debug, Clone)]
pub struct ShimClient {
    state_dir: PathBuf,
    socket: PathBuf,
}

impl ShimClient {
    /// Checks that a shim answers on `<state_dir>/shim.sock`.
    pub fn connect(state_dir: &Path) -> Result<Self> {
        let client = ShimClient {
            state_dir: state_dir.to_owned(),
            socket: state_dir.join(SOCKET),
        };
        client.dial()?;
        Ok(client)
    }

    /// Releases the init from the start barrier.
    pub fn start(&self) -> Result<()> {
        self.call(&Request::Start, Some(CONTROL_TIMEOUT)).map(drop)
    }

    pub fn kill(&self, signal: i32, all: bool) -> Result<()> {
        self.call(&Request::Kill { signal, all }, Some(CONTROL_TIMEOUT))
            .map(drop)
    }

    /// Blocks until the init has exited and its output is drained. A shim that is
    /// already gone (it exits right after answering its last clients) left `exit.json`.
    pub fn wait(&self) -> Result<ExitStatus> {
        match self.call(&Request::Wait, None) {
            Ok(answer) => body(answer),
            Err(e @ Error::Path { .. }) => read_exit(&self.state_dir).ok_or(e),
            Err(e) => Err(e),
        }
    }

    pub fn pause(&self) -> Result<()> {
        self.call(&Request::Pause, Some(CONTROL_TIMEOUT)).map(drop)
    }

    pub fn resume(&self) -> Result<()> {
        self.call(&Request::Resume, Some(CONTROL_TIMEOUT)).map(drop)
    }

    /// Sets the terminal size of the init, or of the exec `exec_id`.
    pub fn resize(&self, exec_id: Option<&str>, height: u16, width: u16) -> Result<()> {
        let req = Request::Resize {
            exec_id: exec_id.map(str::to_owned),
            height,
            width,
        };
        self.call(&req, Some(CONTROL_TIMEOUT)).map(drop)
    }

    /// The cgroup sample plus the network counters of the container's namespace.
    pub fn stats(&self) -> Result<ContainerStats> {
        body(self.call(&Request::Stats, Some(CONTROL_TIMEOUT))?)
    }

    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut body = self.call(&Request::Pids, Some(CONTROL_TIMEOUT))?;
        field(&mut body, "pids")
    }

    /// Applies new cgroup limits (`resources`: a serialized `berth_runtime::Resources`).
    pub fn update<R: serde::Serialize>(&self, resources: &R) -> Result<()> {
        let resources = serde_json::to_value(resources)
            .map_err(|e| Error::Protocol(format!("cannot encode resources: {e}")))?;
        self.call(&Request::Update { resources }, Some(CONTROL_TIMEOUT))
            .map(drop)
    }

    /// Blocks until the exec `exec_id` has ended; its exit code.
    pub fn exec_wait(&self, exec_id: &str) -> Result<i32> {
        let mut body = self.call(
            &Request::ExecWait {
                exec_id: exec_id.to_owned(),
            },
            None,
        )?;
        field(&mut body, "exit_code")
    }

    /// Starts an exec. Returns its pid and, unless `detach`, the connection carrying its
    /// stream (raw bytes with a TTY, else docker's multiplexed frames; write = stdin,
    /// `shutdown(Write)` = stdin EOF).
    pub fn exec(&self, req: &ExecRequest) -> Result<(i32, Option<UnixStream>)> {
        let (mut body, stream) = self.request(&Request::Exec(req.clone()))?;
        let pid = field(&mut body, "pid")?;
        Ok((pid, (!req.detach).then_some(stream)))
    }

    /// Sends a streaming request (attach) and returns the connection once the shim has
    /// accepted it, with no timeouts left on it.
    pub fn open_stream(&self, request: &Request) -> Result<UnixStream> {
        self.request(request).map(|(_, stream)| stream)
    }

    fn request(&self, request: &Request) -> Result<(Map<String, Value>, UnixStream)> {
        let mut stream = self.dial()?;
        let body = self.exchange(&mut stream, request, Some(CONTROL_TIMEOUT))?;
        set_timeouts(&stream, None).map_err(|e| Error::path("configure", &self.socket, e))?;
        Ok((body, stream))
    }

    fn call(&self, request: &Request, timeout: Option<Duration>) -> Result<Map<String, Value>> {
        let mut stream = self.dial()?;
        self.exchange(&mut stream, request, timeout)
    }

    fn dial(&self) -> Result<UnixStream> {
        let stream = UnixStream::connect(&self.socket)
            .map_err(|e| Error::path("connect to shim", &self.socket, e))?;
        set_timeouts(&stream, Some(CONTROL_TIMEOUT))
            .map_err(|e| Error::path("configure", &self.socket, e))?;
        Ok(stream)
    }

    fn exchange(
        &self,
        stream: &mut UnixStream,
        request: &Request,
        timeout: Option<Duration>,
    ) -> Result<Map<String, Value>> {
        let mut line = serde_json::to_vec(request)
            .map_err(|e| Error::Protocol(format!("cannot encode request: {e}")))?;
        line.push(b'\n');
        stream
            .write_all(&line)
            .map_err(|e| Error::path("send request to shim", &self.socket, e))?;
        stream
            .set_read_timeout(timeout)
            .map_err(|e| Error::path("configure", &self.socket, e))?;
        let answer =
            read_line(stream).map_err(|e| Error::path("read shim answer", &self.socket, e))?;
        parse_response(&answer).map_err(|e| match e {
            ResponseError::Shim(msg) => Error::Shim(msg),
            ResponseError::Malformed(msg) => Error::Protocol(msg),
        })
    }
}

fn set_timeouts(stream: &UnixStream, t: Option<Duration>) -> std::io::Result<()> {
    stream.set_read_timeout(t)?;
    stream.set_write_timeout(t)
}

/// Reads one line and nothing after it: whatever follows on a stream connection belongs
/// to the caller. Peeks first, so a line that has arrived whole costs two reads instead
/// of one per byte.
fn read_line(stream: &mut UnixStream) -> std::io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        // SAFETY: recv into a buffer this function owns, with its length.
        let n = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let peeked = &buf[..n as usize];
        if peeked.is_empty() {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "connection closed before a complete answer",
            ));
        }
        let (take, done) = match peeked.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (peeked.len(), false),
        };
        stream.read_exact(&mut buf[..take])?;
        line.extend_from_slice(&buf[..take]);
        if done {
            line.pop();
            return Ok(line);
        }
    }
}

fn body<T: DeserializeOwned>(map: Map<String, Value>) -> Result<T> {
    serde_json::from_value(Value::Object(map))
        .map_err(|e| Error::Protocol(format!("unexpected answer: {e}")))
}

fn field<T: DeserializeOwned>(map: &mut Map<String, Value>, name: &str) -> Result<T> {
    let v = map
        .remove(name)
        .ok_or_else(|| Error::Protocol(format!("answer lacks \"{name}\"")))?;
    serde_json::from_value(v).map_err(|e| Error::Protocol(format!("bad \"{name}\" in answer: {e}")))
}

/// A shim started ahead of need (`berth shim --spare`): its launcher is reaped, its
/// monitor waits for the arguments on stdin. Dropping it ends the monitor (EOF).
#[derive(Debug)]
pub struct Spare {
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    stderr: ChildStderr,
    /// The launcher's exit (shown if the monitor dies without a word).
    launcher: std::process::ExitStatus,
    /// The monitor's pid, as it said when ready.
    pid: i32,
}

impl Spare {
    /// Runs `berth shim --spare` and reaps its launcher. The spare runs with the calling
    /// thread's policy and priority (a caller starting spares ahead may lower its own
    /// first); [`spawn`] gives it those of the thread that hands it a container.
    pub fn start(berth_exe: &Path) -> std::io::Result<Spare> {
        let mut child = Command::new(berth_exe)
            .arg0("berth")
            .args(["shim", SPARE_FLAG])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let pipes = (child.stdin.take(), child.stdout.take(), child.stderr.take());
        // The first process exits right after forking the monitor.
        let launcher = child.wait()?;
        let (Some(stdin), Some(mut stdout), Some(stderr)) = pipes else {
            return Err(std::io::Error::other("no pipe to the shim"));
        };
        let ready = read_line_timeout(&mut stdout, CONTROL_TIMEOUT)?
            .ok_or_else(|| std::io::Error::other(format!("the shim ended ({launcher})")))?;
        let pid = serde_json::from_slice::<Value>(&ready)
            .ok()
            .and_then(|v| v.get("spare")?.as_i64())
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "unexpected report {:?}",
                    String::from_utf8_lossy(&ready)
                ))
            })?;
        Ok(Spare {
            stdin: Some(stdin),
            stdout,
            stderr,
            launcher,
            pid,
        })
    }

    /// The waiting monitor's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Hands the monitor its container (fails if the monitor is gone), at the calling
    /// thread's priority (the container's processes inherit the monitor's).
    fn give(&mut self, args: &ShimArgs) -> std::io::Result<()> {
        let mut stdin = self
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("arguments already given"))?;
        // SAFETY: plain syscalls on a pid of ours and on this thread. getpriority's -1 is
        // also a valid nice value; a failed call leaves the spare as it is, which the
        // setting calls then report.
        unsafe {
            let policy = libc::sched_getscheduler(0);
            let mut param = libc::sched_param { sched_priority: 0 };
            libc::sched_getparam(0, &mut param);
            if libc::sched_setscheduler(self.pid, policy, &param) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let ours = libc::getpriority(libc::PRIO_PROCESS, 0);
            if libc::setpriority(libc::PRIO_PROCESS, self.pid as libc::id_t, ours) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        stdin.write_all(&args.to_nul_terminated())
        // Dropping stdin is the end of the arguments.
    }

    /// The monitor's `{"pid":N}` once the container is created, or its error.
    fn report(mut self, id: &str) -> Result<i32> {
        let fail = |reason: String| Error::Spawn {
            id: id.to_owned(),
            reason,
        };
        let line = read_line_timeout(&mut self.stdout, SPAWN_TIMEOUT);
        let report = match line {
            Ok(Some(line)) => line,
            Ok(None) | Err(_) => {
                // Nothing on stdout: whatever the shim printed on stderr explains why.
                let mut diag = String::new();
                let _ = set_nonblocking(self.stderr.as_raw_fd());
                let _ = self.stderr.read_to_string(&mut diag);
                let why = match line {
                    Err(e) => e.to_string(),
                    _ => format!("it exited without reporting ({})", self.launcher),
                };
                let diag = diag.trim();
                return Err(fail(if diag.is_empty() {
                    why
                } else {
                    format!("{why}: {diag}")
                }));
            }
        };
        let v: Value = serde_json::from_slice(&report).map_err(|_| {
            fail(format!(
                "unexpected report {:?}",
                String::from_utf8_lossy(&report)
            ))
        })?;
        if let Some(err) = v.get("error").and_then(Value::as_str) {
            return Err(fail(err.to_owned()));
        }
        v.get("pid")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| fail(format!("unexpected report {v}")))
    }
}

/// Starts the shim of `args` in `spare` when one is given and still waiting, else in a
/// new one; returns the container's init pid once the container is created.
pub fn spawn(args: &ShimArgs, berth_exe: &Path, spare: Option<Spare>) -> Result<i32> {
    let fail = |reason: String| Error::Spawn {
        id: args.id.clone(),
        reason,
    };
    // A spare that died meanwhile refuses the arguments (EPIPE): a new one then.
    let spare = spare.and_then(|mut s| s.give(args).is_ok().then_some(s));
    let shim = match spare {
        Some(s) => s,
        None => {
            let mut s = Spare::start(berth_exe)
                .map_err(|e| fail(format!("cannot run {}: {e}", berth_exe.display())))?;
            s.give(args)
                .map_err(|e| fail(format!("cannot pass the shim its arguments: {e}")))?;
            s
        }
    };
    shim.report(&args.id)
}

fn set_nonblocking(fd: i32) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, no pointers involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One line from a pipe within `timeout`; `None` at EOF. Does not wait for EOF: a
/// container process may have inherited the pipe's write end.
fn read_line_timeout(
    pipe: &mut impl AsRawFdRead,
    timeout: Duration,
) -> std::io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                ErrorKind::TimedOut,
                "no answer from the shim in time",
            ));
        }
        let mut pfd = libc::pollfd {
            fd: pipe.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1);
        // SAFETY: one valid pollfd for the duration of the call.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            continue;
        }
        // The shim writes its report with a single write, so reading in chunks does not
        // run into anything that belongs to someone else.
        match pipe.read(&mut buf) {
            Ok(0) => return Ok(if line.is_empty() { None } else { Some(line) }),
            Ok(k) => {
                line.extend_from_slice(&buf[..k]);
                if let Some(i) = line.iter().position(|&b| b == b'\n') {
                    line.truncate(i);
                    return Ok(Some(line));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A readable pipe end with its descriptor (ChildStdout and friends).
trait AsRawFdRead: Read + AsRawFd {}
impl<T: Read + AsRawFd> AsRawFdRead for T {}

/// The exit record a finished shim left behind, if any.
pub fn read_exit(state_dir: &Path) -> Option<ExitStatus> {
    let bytes = fs::read(state_dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn read_exit_parses_the_record_and_ignores_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_exit(dir.path()), None);
        fs::write(
            dir.path().join(EXIT_FILE),
            r#"{"exit_code":3,"oom_killed":false,"finished_at":"2026-11-23T12:00:00.5Z"}"#,
        )
        .unwrap();
        let st = read_exit(dir.path()).unwrap();
        assert_eq!((st.exit_code, st.oom_killed), (3, false));
        fs::write(dir.path().join(EXIT_FILE), "{").unwrap();
        assert_eq!(read_exit(dir.path()), None);
    }

    #[test]
    fn read_line_takes_the_line_and_leaves_the_stream() {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let writer = std::thread::spawn(move || {
            b.write_all(b"{\"ok\":").unwrap();
            std::thread::sleep(Duration::from_millis(20));
            b.write_all(b"true}\nraw stream bytes").unwrap();
        });
        assert_eq!(read_line(&mut a).unwrap(), b"{\"ok\":true}");
        writer.join().unwrap();
        let mut rest = Vec::new();
        a.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"raw stream bytes");
        let (mut c, d) = UnixStream::pair().unwrap();
        drop(d);
        assert_eq!(
            read_line(&mut c).unwrap_err().kind(),
            ErrorKind::UnexpectedEof
        );
    }

    /// A fake shim answering one connection with `answer`, returning what it was sent.
    fn fake_shim(dir: &Path, answer: &'static str) -> std::thread::JoinHandle<Vec<u8>> {
        let listener = UnixListener::bind(dir.join(SOCKET)).unwrap();
        std::thread::spawn(move || {
            // connect() probes once; the second connection carries the request.
            drop(listener.accept().unwrap());
            let (mut conn, _) = listener.accept().unwrap();
            let got = read_line(&mut conn).unwrap();
            conn.write_all(answer.as_bytes()).unwrap();
            got
        })
    }

    #[test]
    fn client_sends_one_line_and_decodes_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let shim = fake_shim(dir.path(), "{\"ok\":true,\"pids\":[4,5]}\n");
        let client = ShimClient::connect(dir.path()).unwrap();
        assert_eq!(client.pids().unwrap(), [4, 5]);
        assert_eq!(shim.join().unwrap(), br#"{"op":"pids"}"#);
    }

    #[test]
    fn shim_errors_come_back_verbatim() {
        let dir = tempfile::tempdir().unwrap();
        let shim = fake_shim(dir.path(), "{\"error\":\"container abc is not running\"}\n");
        let client = ShimClient::connect(dir.path()).unwrap();
        let err = client.kill(9, false).unwrap_err();
        assert!(
            matches!(&err, Error::Shim(m) if m == "container abc is not running"),
            "{err}"
        );
        assert_eq!(
            shim.join().unwrap(),
            br#"{"op":"kill","signal":9,"all":false}"#
        );
    }

    #[test]
    fn stream_keeps_bytes_after_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let shim = fake_shim(dir.path(), "{\"ok\":true}\n\x01\0\0\0\0\0\0\x02hi");
        let client = ShimClient::connect(dir.path()).unwrap();
        let req = Request::Attach {
            stdin: false,
            stdout: true,
            stderr: true,
        };
        let mut s = client.open_stream(&req).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"\x01\0\0\0\0\0\0\x02hi");
        shim.join().unwrap();
    }

    #[test]
    fn connect_names_the_socket_when_nothing_listens() {
        let dir = tempfile::tempdir().unwrap();
        let err = ShimClient::connect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("shim.sock"), "{err}");
    }

    #[test]
    fn spawn_reports_a_missing_binary() {
        let dir = tempfile::tempdir().unwrap();
        let args = ShimArgs {
            id: "c1".into(),
            ..ShimArgs::default()
        };
        let err = spawn(&args, &dir.path().join("nope"), None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("container c1") && err.contains("nope"),
            "{err}"
        );
    }
}
