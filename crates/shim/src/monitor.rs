//! The shim's single-threaded event loop: one `poll(2)` over the socket listener, the
//! SIGCHLD self-pipe, the container processes' stdio and every client connection.
//!
//! Single-threaded on purpose: the runtime forks (libcontainer clones) from this process,
//! which is only sound without other threads.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_logs::{JsonFileWriter, Stream};
use berth_runtime::{ExecSpec, InitIo, Runtime, User};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::args::ShimArgs;
use crate::client::{EXIT_FILE, INIT_PID_FILE, SHIM_PID_FILE, SOCKET};
use crate::error::{Error, Result};
use crate::protocol::{
    error_line, exit_code, ok_line, ContainerStats, ExecRequest, ExitStatus, Request, MAX_REQUEST,
};
use crate::{netdev, sys};

/// After a process has exited, its output is read until EOF or until nothing arrived for
/// this long (a background child may hold the pipe open forever).
const DRAIN_IDLE: Duration = Duration::from_secs(2);
/// After the init is finished, attachers get this long to take the rest of their output.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// In the state dir: held by a shim until its run's runtime state is deleted.
const CLEANUP_LOCK: &str = "shim.lock";
/// How long a new shim waits for the previous run's cleanup.
const CLEANUP_PATIENCE: Duration = Duration::from_secs(10);
/// Output not yet taken by a slow attacher beyond which the container's output is no
/// longer read (backpressure, as docker's attach copies synchronously).
const OUT_HIGH_WATER: usize = 1 << 20;
/// Stdin bytes waiting for the process beyond which attachers are no longer read.
const STDIN_HIGH_WATER: usize = 256 << 10;
const READ_CHUNK: usize = 32 << 10;
const CONSOLE_SOCKET: &str = "pty.sock";
// Short: the state dir path plus this must fit a socket address (108 bytes).
const EXEC_CONSOLE_SOCKET: &str = "xpty.sock";

/// Whose stdio a token or stream refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Init,
    Exec(String),
}

/// One container process (the init or an exec) and its end of the stdio.
struct Proc {
    pid: i32,
    /// The pty master, kept for resizes (TTY only).
    master: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    /// stdout (the pty master with a TTY) and stderr; `None` once at EOF.
    out: [Option<OwnedFd>; 2],
    stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written.
    close_stdin: bool,
    exit_code: Option<i32>,
    /// Last time output arrived or the process exited (drain deadline).
    last_activity: Instant,
    done: bool,
}

impl Proc {
    fn new(pid: i32, io: ProcIo) -> Self {
        Proc {
            pid,
            master: io.master,
            stdin: io.stdin,
            out: [io.stdout, io.stderr],
            stdin_buf: Vec::new(),
            close_stdin: false,
            exit_code: None,
            last_activity: Instant::now(),
            done: false,
        }
    }

    fn tty(&self) -> bool {
        self.master.is_some()
    }

    fn drained(&self, now: Instant) -> bool {
        self.exit_code.is_some()
            && (self.out.iter().all(Option::is_none) || now >= self.last_activity + DRAIN_IDLE)
    }

    /// Writes as much pending stdin as the process takes; closes stdin when asked to and
    /// everything is written. A process that no longer reads gets its stdin dropped.
    fn flush_stdin(&mut self) {
        if let Some(fd) = &self.stdin {
            while !self.stdin_buf.is_empty() {
                match sys::write(fd.as_fd(), &self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(_) => {
                        self.stdin_buf.clear();
                        self.stdin = None;
                        return;
                    }
                }
            }
        }
        if self.close_stdin && self.stdin_buf.is_empty() && !self.tty() {
            self.stdin = None;
        }
    }

    fn close_all(&mut self) {
        self.out = [None, None];
        self.stdin = None;
        self.master = None;
        self.stdin_buf.clear();
        self.done = true;
    }
}

/// The shim's end of a process's stdio.
struct ProcIo {
    master: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

struct Exec {
    proc: Proc,
}

/// What a client connection is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// The request line has not arrived yet.
    Request,
    /// `wait`: answered when the init is finished.
    Waiter,
    /// `exec_wait`: answered when that exec is finished.
    ExecWaiter(String),
    /// attach or a non-detached exec: output out, stdin in.
    Stream {
        target: Target,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Answered; closed once the answer is written.
    Done,
}

struct Conn {
    sock: UnixStream,
    kind: Kind,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    /// The client half-closed (or closed) its side.
    read_eof: bool,
    close_when_flushed: bool,
}

impl Conn {
    fn pending(&self) -> usize {
        self.out.len() - self.sent
    }

    /// Writes what the socket takes; how many bytes that was. Err: the client is gone.
    fn flush(&mut self) -> io::Result<usize> {
        let before = self.sent;
        while self.sent < self.out.len() {
            match self.sock.write(&self.out[self.sent..]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let written = self.sent - before;
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        } else if self.sent > self.out.len() / 2 {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
        Ok(written)
    }

    /// Queues a final answer and stops reading.
    fn answer(&mut self, line: Vec<u8>) {
        self.out.extend_from_slice(&line);
        self.kind = Kind::Done;
        self.close_when_flushed = true;
    }
}

/// What the bundle's `config.json` says that the shim needs.
#[derive(Debug, Default)]
struct BundleInfo {
    cgroups_path: String,
    user: User,
    env: Vec<String>,
    no_new_privileges: bool,
}

impl BundleInfo {
    /// Only these fields are taken from the bundle; the rest (Docker's seccomp profile
    /// makes up most of it) is skipped over, not built into values.
    fn read(bundle: &Path) -> Result<Self> {
        #[derive(serde::Deserialize, Default)]
        #[serde(default)]
        struct Bundle {
            process: Process,
            linux: Linux,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Process {
            user: SpecUser,
            env: Vec<String>,
            no_new_privileges: bool,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct SpecUser {
            uid: u32,
            gid: u32,
            additional_gids: Vec<u32>,
        }
        #[derive(serde::Deserialize, Default)]
        #[serde(default, rename_all = "camelCase")]
        struct Linux {
            cgroups_path: String,
        }
        let path = bundle.join("config.json");
        let bytes = fs::read(&path).map_err(|e| Error::path("read", &path, e))?;
        let b: Bundle = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Protocol(format!("{}: {e}", path.display())))?;
        Ok(BundleInfo {
            cgroups_path: b.linux.cgroups_path,
            user: User {
                uid: b.process.user.uid,
                gid: b.process.user.gid,
                additional_gids: b.process.user.additional_gids,
            },
            env: b.process.env,
            no_new_privileges: b.process.no_new_privileges,
        })
    }
}

/// Parses the daemon's resolved `uid:gid[:extra,…]`.
fn parse_user(s: &str) -> Result<User> {
    let bad = || Error::Protocol(format!("invalid exec user {s:?}: want uid:gid[:gid,…]"));
    let mut parts = s.splitn(3, ':');
    let uid = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let gid = match parts.next() {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => 0,
    };
    let additional_gids = match parts.next() {
        Some(p) if !p.is_empty() => p
            .split(',')
            .map(|g| g.parse().map_err(|_| bad()))
            .collect::<Result<_>>()?,
        _ => Vec::new(),
    };
    Ok(User {
        uid,
        gid,
        additional_gids,
    })
}

#[derive(Clone)]
enum Token {
    Signal,
    Listener,
    Out(Target, usize),
    In(Target),
    Conn(u64),
}

pub(crate) struct Monitor {
    id: String,
    state: PathBuf,
    runtime: Box<dyn Runtime>,
    bundle: BundleInfo,
    stdin_once: bool,
    listener: UnixListener,
    sigchld: OwnedFd,
    log: JsonFileWriter,
    init: Proc,
    started: bool,
    execs: BTreeMap<String, Exec>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    exited_at: Option<DateTime<Utc>>,
    status: Option<ExitStatus>,
    shutdown_at: Option<Instant>,
    /// Held until the runtime's state of this run is deleted: the next run of the same
    /// container (a restart) waits for it, as the exit is answered before the delete.
    cleanup_lock: Option<fs::File>,
    /// The init's mount namespace, held until its exit is answered: the last process of
    /// a mount namespace tears its mounts down (and waits out an RCU grace period)
    /// before its parent hears of the exit; with this held, the shim does it afterwards.
    init_mnt_ns: Option<fs::File>,
}

impl Monitor {
    /// Everything up to a created container: socket, log, stdio, runtime `create`, pid
    /// files. On error whatever was made is undone.
    pub(crate) fn setup(args: &ShimArgs) -> Result<Self> {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
            return Err(Error::sys(
                "prctl(PR_SET_CHILD_SUBREAPER)",
                io::Error::last_os_error(),
            ));
        }
        let sigchld =
            sys::install_signal_handlers().map_err(|e| Error::sys("install signal handlers", e))?;
        fs::create_dir_all(&args.state).map_err(|e| Error::path("create", &args.state, e))?;
        // A record from an earlier run of this container would answer for this one.
        let exit_file = args.state.join(EXIT_FILE);
        match fs::remove_file(&exit_file) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                return Err(Error::path("remove", &exit_file, e))
            }
            _ => {}
        }
        let bundle = BundleInfo::read(&args.bundle)?;
        let log = JsonFileWriter::open(&args.log_path, args.log_max_size, log_max_file(args))?;
        let lock_path = args.state.join(CLEANUP_LOCK);
        let cleanup_lock = sys::lock_file(&lock_path, CLEANUP_PATIENCE)
            .map_err(|e| Error::path("lock", &lock_path, e))?;
        let sock_path = args.state.join(SOCKET);
        let listener = bind(&sock_path)?;
        let runtime: Box<dyn Runtime> = match &args.runtime_binary {
            Some(bin) => Box::new(berth_runtime::External::new(bin, &args.runtime_root)),
            None => Box::new(berth_runtime::Builtin::new(&args.runtime_root)),
        };
        let created = create_init(&*runtime, args);
        let (pid, io) = match created {
            Ok(x) => x,
            Err(e) => {
                let _ = runtime.delete(&args.id, true);
                let _ = fs::remove_file(&sock_path);
                return Err(e);
            }
        };
        let monitor = Monitor {
            id: args.id.clone(),
            state: args.state.clone(),
            runtime,
            bundle,
            stdin_once: args.stdin_once,
            listener,
            sigchld,
            log,
            init: Proc::new(pid, io),
            started: false,
            execs: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            exited_at: None,
            status: None,
            shutdown_at: None,
            cleanup_lock: Some(cleanup_lock),
            // None only if the init is already gone, which then has nothing to tear down.
            init_mnt_ns: fs::File::open(format!("/proc/{pid}/ns/mnt")).ok(),
        };
        let pids = [
            (INIT_PID_FILE, pid),
            (SHIM_PID_FILE, std::process::id() as i32),
        ];
        for (name, p) in pids {
            let path = args.state.join(name);
            if let Err(e) = sys::write_atomic(&path, p.to_string().as_bytes()) {
                monitor.abandon();
                return Err(Error::path("write", &path, e));
            }
        }
        Ok(monitor)
    }

    pub(crate) fn init_pid(&self) -> i32 {
        self.init.pid
    }

    /// Undoes a created container when the shim cannot go on.
    fn abandon(&self) {
        let _ = self.runtime.delete(&self.id, true);
        let _ = fs::remove_file(self.state.join(SOCKET));
    }

    /// Serves until the init has ended and every client got what it was owed.
    pub(crate) fn run(mut self) {
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let now = Instant::now();
            self.progress(now);
            if let Some(at) = self.shutdown_at {
                if self.conns.is_empty() || now >= at {
                    break;
                }
            }
            let (mut fds, tokens) = self.poll_set();
            let timeout = self.timeout(now);
            match sys::poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // poll fails only on bad arguments; nothing sensible is left to do but
                // to stop serving and tear the container down.
                Err(_) => break,
            }
            for (pfd, token) in fds.iter().zip(tokens) {
                if pfd.revents != 0 {
                    self.handle(token, pfd.revents, &mut buf);
                }
            }
        }
        if self.status.is_none() {
            self.abandon();
        }
        let _ = fs::remove_file(self.state.join(SOCKET));
        self.answer_latecomers();
    }

    /// Clients that connected while the shim was leaving: with the socket unlinked no
    /// more can come, so the backlog is final. Each gets a real answer (the exit status
    /// for `wait`) instead of a reset connection.
    fn answer_latecomers(&mut self) {
        let status = self.status.clone();
        while let Ok((mut sock, _)) = self.listener.accept() {
            // Blocking with a short timeout: the request is normally already there.
            if sock.set_nonblocking(false).is_err()
                || sock
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .is_err()
            {
                continue;
            }
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while line.len() < MAX_REQUEST
                && matches!(sock.read(&mut byte), Ok(1))
                && byte[0] != b'\n'
            {
                line.push(byte[0]);
            }
            let answer = match (serde_json::from_slice::<Request>(&line), &status) {
                (Ok(Request::Wait), Some(st)) => ok_line(status_json(st)),
                (Ok(Request::Attach { .. }), Some(_)) => ok_line(Value::Null),
                _ => error_line(&format!("container {} is not running", self.id)),
            };
            let _ = sock.write_all(&answer);
        }
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Token>) {
        let mut fds = Vec::new();
        let mut tokens = Vec::new();
        let mut add = |fd: BorrowedFd<'_>, events: i16, t: Token| {
            fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events,
                revents: 0,
            });
            tokens.push(t);
        };
        add(self.sigchld.as_fd(), libc::POLLIN, Token::Signal);
        add(self.listener.as_fd(), libc::POLLIN, Token::Listener);
        let procs = std::iter::once((Target::Init, &self.init)).chain(
            self.execs
                .iter()
                .map(|(id, e)| (Target::Exec(id.clone()), &e.proc)),
        );
        for (target, p) in procs {
            if p.done {
                continue;
            }
            // Once the process has exited what is left is bounded (the pipe's contents):
            // read it all, so the log is complete however slow an attacher is.
            let blocked = p.exit_code.is_none()
                && self.conns.values().any(|c| {
                    matches!(&c.kind, Kind::Stream { target: t, .. } if *t == target)
                        && c.pending() > OUT_HIGH_WATER
                });
            if !blocked {
                for (i, fd) in p.out.iter().enumerate() {
                    if let Some(fd) = fd {
                        add(fd.as_fd(), libc::POLLIN, Token::Out(target.clone(), i));
                    }
                }
            }
            if let (Some(fd), false) = (&p.stdin, p.stdin_buf.is_empty()) {
                add(fd.as_fd(), libc::POLLOUT, Token::In(target.clone()));
            }
        }
        for (&cid, c) in &self.conns {
            let mut events = 0;
            let wants_input = match &c.kind {
                Kind::Request => true,
                Kind::Stream { target, .. } => {
                    !c.read_eof
                        && self
                            .proc(target)
                            .is_some_and(|p| p.stdin_buf.len() < STDIN_HIGH_WATER)
                }
                // POLLHUP (reported even with no events asked) tells a gone client.
                Kind::Waiter | Kind::ExecWaiter(_) | Kind::Done => false,
            };
            if wants_input {
                events |= libc::POLLIN;
            }
            if c.pending() > 0 {
                events |= libc::POLLOUT;
            }
            add(c.sock.as_fd(), events, Token::Conn(cid));
        }
        (fds, tokens)
    }

    fn timeout(&self, now: Instant) -> i32 {
        let mut next: Option<Instant> = self.shutdown_at;
        let procs = std::iter::once(&self.init).chain(self.execs.values().map(|e| &e.proc));
        for p in procs {
            if p.exit_code.is_some() && !p.done {
                let at = p.last_activity + DRAIN_IDLE;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
        match next {
            None => -1,
            Some(at) => {
                let ms = at.saturating_duration_since(now).as_millis() + 1;
                i32::try_from(ms).unwrap_or(i32::MAX)
            }
        }
    }

    fn proc(&self, t: &Target) -> Option<&Proc> {
        match t {
            Target::Init => Some(&self.init),
            Target::Exec(id) => self.execs.get(id).map(|e| &e.proc),
        }
    }

    fn proc_mut(&mut self, t: &Target) -> Option<&mut Proc> {
        match t {
            Target::Init => Some(&mut self.init),
            Target::Exec(id) => self.execs.get_mut(id).map(|e| &mut e.proc),
        }
    }

    fn handle(&mut self, token: Token, revents: i16, buf: &mut [u8]) {
        match token {
            Token::Signal => {
                sys::drain(self.sigchld.as_fd());
                self.reap();
            }
            Token::Listener => self.accept(),
            Token::Out(target, idx) => self.read_output(&target, idx, buf),
            Token::In(target) => {
                if let Some(p) = self.proc_mut(&target) {
                    p.flush_stdin();
                }
            }
            Token::Conn(cid) => self.conn_event(cid, revents, buf),
        }
    }

    fn reap(&mut self) {
        for (pid, status) in sys::reap_children() {
            let code = exit_code(status);
            let now = Instant::now();
            if pid == self.init.pid && self.init.exit_code.is_none() {
                self.init.exit_code = Some(code);
                self.init.last_activity = now;
                self.exited_at = Some(Utc::now());
            } else if let Some(e) = self.execs.values_mut().find(|e| e.proc.pid == pid) {
                if e.proc.exit_code.is_none() {
                    e.proc.exit_code = Some(code);
                    e.proc.last_activity = now;
                }
            }
            // Anything else is an orphan re-parented to us (subreaper): reaped, forgotten.
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let id = self.next_conn;
                    self.next_conn += 1;
                    let conn = Conn {
                        sock,
                        kind: Kind::Request,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        sent: 0,
                        read_eof: false,
                        close_when_flushed: false,
                    };
                    self.conns.insert(id, conn);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: all taken; anything else (EMFILE…): retry on the next wakeup.
                Err(_) => return,
            }
        }
    }

    fn read_output(&mut self, target: &Target, idx: usize, buf: &mut [u8]) {
        let Some(p) = self.proc_mut(target) else {
            return;
        };
        let Some(fd) = &p.out[idx] else { return };
        let n = match sys::read(fd.as_fd(), buf) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return,
            // EIO: the pty's last slave is closed, the TTY equivalent of EOF.
            Err(_) => 0,
        };
        p.last_activity = Instant::now();
        if n == 0 {
            p.out[idx] = None;
            return;
        }
        let tty = p.tty();
        let data = &buf[..n];
        let stream = if idx == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        if *target == Target::Init {
            // A full disk must not stop the container or its attachers; docker also
            // carries on (and logs the error, which has nowhere to go here).
            let _ = self.log.write(stream, data, Utc::now());
        }
        for c in self.conns.values_mut() {
            let Kind::Stream {
                target: t,
                stdout,
                stderr,
                ..
            } = &c.kind
            else {
                continue;
            };
            let wanted = if idx == 0 { *stdout } else { *stderr };
            if t != target || !wanted {
                continue;
            }
            if tty {
                c.out.extend_from_slice(data);
            } else {
                berth_logs::frame_into(&mut c.out, stream.frame_byte(), data);
            }
        }
        self.flush_conns();
    }

    /// Writes queued output to every client right away (lower latency than waiting for
    /// the next POLLOUT round) and drops clients that are gone.
    fn flush_conns(&mut self) {
        let pending: Vec<u64> = self
            .conns
            .iter()
            .filter_map(|(&id, c)| (c.pending() > 0).then_some(id))
            .collect();
        for id in pending {
            self.flush_conn(id);
        }
        self.close_flushed();
    }

    /// Flushes one client. A client taking output counts as activity of the process it
    /// streams (a slow attacher holds the drain back rather than losing output) and of
    /// the shutdown grace. False when the client is gone.
    fn flush_conn(&mut self, cid: u64) -> bool {
        let Some(c) = self.conns.get_mut(&cid) else {
            return false;
        };
        match c.flush() {
            Err(_) => {
                self.drop_conn(cid);
                false
            }
            Ok(0) => true,
            Ok(_) => {
                let now = Instant::now();
                if let Kind::Stream { target, .. } = c.kind.clone() {
                    if let Some(p) = self.proc_mut(&target) {
                        p.last_activity = now;
                    }
                }
                if let Some(at) = &mut self.shutdown_at {
                    *at = (*at).max(now + SHUTDOWN_GRACE);
                }
                true
            }
        }
    }

    fn close_flushed(&mut self) {
        let done: Vec<u64> = self
            .conns
            .iter()
            .filter_map(|(&id, c)| (c.close_when_flushed && c.pending() == 0).then_some(id))
            .collect();
        for id in done {
            self.drop_conn(id);
        }
    }

    fn drop_conn(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            let _ = c.sock.shutdown(std::net::Shutdown::Both);
        }
    }

    fn conn_event(&mut self, cid: u64, revents: i16, buf: &mut [u8]) {
        if revents & libc::POLLOUT != 0 && !self.flush_conn(cid) {
            return;
        }
        let Some(c) = self.conns.get(&cid) else {
            return;
        };
        let readable = revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
        match c.kind.clone() {
            Kind::Request if readable => self.read_request(cid, buf),
            Kind::Stream { target, stdin, .. } if readable && !c.read_eof => {
                self.read_stdin(cid, &target, stdin, buf)
            }
            _ if revents & (libc::POLLHUP | libc::POLLERR) != 0 => self.drop_conn(cid),
            _ => {}
        }
        self.close_flushed();
    }

    fn read_request(&mut self, cid: u64, buf: &mut [u8]) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let mut eof = false;
        loop {
            match c.sock.read(buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    c.inbuf.extend_from_slice(&buf[..n]);
                    if c.inbuf.contains(&b'\n') || c.inbuf.len() > MAX_REQUEST {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.drop_conn(cid);
                    return;
                }
            }
        }
        let Some(nl) = c.inbuf.iter().position(|&b| b == b'\n') else {
            if c.inbuf.len() > MAX_REQUEST {
                c.answer(error_line(&format!(
                    "request longer than {MAX_REQUEST} bytes"
                )));
                let _ = c.flush();
            } else if eof {
                // A probe (ShimClient::connect) or a client that gave up.
                self.drop_conn(cid);
            }
            return;
        };
        let rest = c.inbuf.split_off(nl + 1);
        let line = std::mem::replace(&mut c.inbuf, rest);
        c.read_eof = eof;
        let answer = match serde_json::from_slice::<Request>(&line[..nl]) {
            Ok(req) => self.serve(cid, req),
            Err(e) => Some(error_line(&format!("invalid request: {e}"))),
        };
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        if let Some(line) = answer {
            c.answer(line);
        }
        if c.flush().is_err() {
            self.drop_conn(cid);
            return;
        }
        // Bytes that came right after an attach/exec request are already stdin.
        if let Kind::Stream { target, stdin, .. } = c.kind.clone() {
            let early = std::mem::take(&mut c.inbuf);
            self.feed_stdin(cid, &target, stdin, &early, eof);
        }
    }

    fn read_stdin(&mut self, cid: u64, target: &Target, stdin: bool, buf: &mut [u8]) {
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        let (data, eof) = match c.sock.read(buf) {
            Ok(0) => (&buf[..0], true),
            Ok(n) => (&buf[..n], false),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return,
            Err(_) => {
                self.drop_conn(cid);
                return;
            }
        };
        let data = data.to_vec();
        self.feed_stdin(cid, target, stdin, &data, eof);
    }

    /// Passes a client's bytes to the process's stdin; the client's EOF closes the stdin
    /// of an exec, and of the init when it was created with `--stdin-once`.
    fn feed_stdin(&mut self, cid: u64, target: &Target, stdin: bool, data: &[u8], eof: bool) {
        let stdin_once = self.stdin_once;
        if stdin {
            if let Some(p) = self.proc_mut(target) {
                if p.stdin.is_some() {
                    p.stdin_buf.extend_from_slice(data);
                    if eof && (stdin_once || *target != Target::Init) {
                        p.close_stdin = true;
                    }
                    p.flush_stdin();
                }
            }
        }
        if !eof {
            return;
        }
        let Some(c) = self.conns.get_mut(&cid) else {
            return;
        };
        c.read_eof = true;
        if let Kind::Stream {
            stdout: false,
            stderr: false,
            ..
        } = c.kind
        {
            // Nothing will ever be sent on a stdin-only connection: done.
            c.kind = Kind::Done;
            c.close_when_flushed = true;
        }
    }

    /// Carries out one request; `Some(line)` is the final answer, `None` means the
    /// connection stays open (a stream, or a waiter answered later).
    fn serve(&mut self, cid: u64, req: Request) -> Option<Vec<u8>> {
        let result = match req {
            Request::Start => self.start(),
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                let c = self.conns.get_mut(&cid)?;
                if self.status.is_some() {
                    // Finished already: nothing more will ever come.
                    return Some(ok_line(Value::Null));
                }
                c.out.extend_from_slice(&ok_line(Value::Null));
                c.kind = Kind::Stream {
                    target: Target::Init,
                    stdin,
                    stdout,
                    stderr,
                };
                return None;
            }
            Request::Resize {
                exec_id,
                height,
                width,
            } => self.resize(exec_id, height, width),
            Request::Exec(e) => return self.exec(cid, e),
            Request::ExecWait { exec_id } => match self.execs.get(&exec_id) {
                None => Err(format!("No such exec instance: {exec_id}")),
                Some(e) if e.proc.done => Ok(json!({ "exit_code": e.proc.exit_code })),
                Some(_) => {
                    if let Some(c) = self.conns.get_mut(&cid) {
                        c.kind = Kind::ExecWaiter(exec_id);
                    }
                    return None;
                }
            },
            Request::Wait => match &self.status {
                Some(st) => Ok(status_json(st)),
                None => {
                    if let Some(c) = self.conns.get_mut(&cid) {
                        c.kind = Kind::Waiter;
                    }
                    return None;
                }
            },
            Request::Kill { signal, all } => self
                .running()
                .and_then(|()| {
                    self.runtime
                        .kill(&self.id, signal, all)
                        .map_err(|e| e.to_string())
                })
                .map(|()| Value::Null),
            Request::Pause => self
                .running()
                .and_then(|()| self.runtime.pause(&self.id).map_err(|e| e.to_string()))
                .map(|()| Value::Null),
            Request::Resume => self
                .running()
                .and_then(|()| self.runtime.resume(&self.id).map_err(|e| e.to_string()))
                .map(|()| Value::Null),
            Request::Update { resources } => self.update(resources),
            Request::Stats => self.stats(),
            Request::Pids => self.running().and_then(|()| {
                berth_runtime::pids(&self.bundle.cgroups_path)
                    .map(|pids| json!({ "pids": pids }))
                    .map_err(|e| e.to_string())
            }),
        };
        Some(match result {
            Ok(body) => ok_line(body),
            Err(msg) => error_line(&msg),
        })
    }

    fn running(&self) -> Result<(), String> {
        if self.init.exit_code.is_some() {
            Err(format!("container {} is not running", self.id))
        } else {
            Ok(())
        }
    }

    fn start(&mut self) -> Result<Value, String> {
        self.running()?;
        if self.started {
            return Err(format!("container {} is already started", self.id));
        }
        self.runtime.start(&self.id).map_err(|e| e.to_string())?;
        self.started = true;
        Ok(Value::Null)
    }

    fn resize(
        &mut self,
        exec_id: Option<String>,
        height: u16,
        width: u16,
    ) -> Result<Value, String> {
        let target = match exec_id {
            Some(id) if !self.execs.contains_key(&id) => {
                return Err(format!("No such exec instance: {id}"))
            }
            Some(id) => Target::Exec(id),
            None => Target::Init,
        };
        let master = self.proc(&target).and_then(|p| p.master.as_ref());
        let Some(master) = master else {
            return Err(match target {
                Target::Init => format!("container {} has no TTY to resize", self.id),
                Target::Exec(id) => format!("exec {id} has no TTY to resize"),
            });
        };
        sys::set_winsize(master.as_fd(), height, width)
            .map_err(|e| format!("resizing the TTY: {e}"))?;
        Ok(Value::Null)
    }

    fn update(&mut self, resources: Value) -> Result<Value, String> {
        self.running()?;
        let resources: berth_runtime::Resources =
            serde_json::from_value(resources).map_err(|e| format!("invalid resources: {e}"))?;
        berth_runtime::update(&self.bundle.cgroups_path, &resources).map_err(|e| e.to_string())?;
        Ok(Value::Null)
    }

    fn stats(&self) -> Result<Value, String> {
        self.running()?;
        let cgroup = berth_runtime::stats(&self.bundle.cgroups_path).map_err(|e| e.to_string())?;
        // The network namespace is the init's: /proc/<pid>/net is per namespace.
        let netdev_path = format!("/proc/{}/net/dev", self.init.pid);
        let networks = fs::read_to_string(netdev_path)
            .map(|t| netdev::parse(&t))
            .unwrap_or_default();
        serde_json::to_value(ContainerStats { cgroup, networks }).map_err(|e| e.to_string())
    }

    fn exec(&mut self, cid: u64, req: ExecRequest) -> Option<Vec<u8>> {
        let result = self.spawn_exec(&req);
        let c = self.conns.get_mut(&cid)?;
        match result {
            Err(msg) => Some(error_line(&msg)),
            Ok(pid) if req.detach => Some(ok_line(json!({ "pid": pid }))),
            Ok(pid) => {
                c.out.extend_from_slice(&ok_line(json!({ "pid": pid })));
                c.kind = Kind::Stream {
                    target: Target::Exec(req.exec_id),
                    stdin: req.stdin,
                    stdout: true,
                    stderr: true,
                };
                None
            }
        }
    }

    fn spawn_exec(&mut self, req: &ExecRequest) -> Result<i32, String> {
        if !self.started {
            return Err(format!("container {} is not running", self.id));
        }
        self.running()?;
        if req.exec_id.is_empty() || self.execs.contains_key(&req.exec_id) {
            return Err(format!(
                "exec id {:?} is empty or already in use",
                req.exec_id
            ));
        }
        let user = if req.user.is_empty() {
            self.bundle.user.clone()
        } else {
            parse_user(&req.user).map_err(|e| e.to_string())?
        };
        let spec = ExecSpec {
            args: req.args.clone(),
            env: if req.env.is_empty() {
                self.bundle.env.clone()
            } else {
                req.env.clone()
            },
            cwd: req.cwd.clone(),
            user,
            tty: req.tty,
            privileged: req.privileged,
            no_new_privileges: self.bundle.no_new_privileges,
        };
        let (pid, io) = if req.tty {
            let sock = self.state.join(EXEC_CONSOLE_SOCKET);
            with_console(
                &sock,
                |io| self.runtime.exec(&self.id, &spec, io),
                req.stdin,
            )
        } else if req.detach {
            // Nobody will read: the output goes nowhere and no pipe needs draining.
            let null = |w: bool| {
                fs::OpenOptions::new()
                    .read(!w)
                    .write(w)
                    .open("/dev/null")
                    .map(OwnedFd::from)
                    .map_err(|e| Error::path("open", "/dev/null", e))
            };
            let io = (|| {
                Ok(InitIo::Stdio {
                    stdin: None,
                    stdout: null(true)?,
                    stderr: null(true)?,
                })
            })()
            .map_err(|e: Error| e.to_string())?;
            let pid = self
                .runtime
                .exec(&self.id, &spec, io)
                .map_err(|e| e.to_string())?;
            Ok((
                pid,
                ProcIo {
                    master: None,
                    stdin: None,
                    stdout: None,
                    stderr: None,
                },
            ))
        } else {
            with_pipes(req.stdin, |io| self.runtime.exec(&self.id, &spec, io))
        }
        .map_err(|e| e.to_string())?;
        self.execs.insert(
            req.exec_id.clone(),
            Exec {
                proc: Proc::new(pid, io),
            },
        );
        Ok(pid)
    }

    /// Completes processes whose exit is known and output drained; finishes the shim
    /// when the init is done.
    fn progress(&mut self, now: Instant) {
        let ready: Vec<String> = self
            .execs
            .iter()
            .filter(|(_, e)| !e.proc.done && e.proc.drained(now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in ready {
            self.complete_exec(&id, None);
        }
        if self.status.is_none() && self.init.drained(now) {
            self.finish();
        }
        self.flush_conns();
    }

    fn complete_exec(&mut self, id: &str, fallback_code: Option<i32>) {
        let Some(e) = self.execs.get_mut(id) else {
            return;
        };
        e.proc.close_all();
        if e.proc.exit_code.is_none() {
            e.proc.exit_code = fallback_code;
        }
        let code = e.proc.exit_code;
        let target = Target::Exec(id.to_owned());
        for c in self.conns.values_mut() {
            match &c.kind {
                Kind::ExecWaiter(x) if x == id => c.answer(ok_line(json!({ "exit_code": code }))),
                Kind::Stream { target: t, .. } if *t == target => {
                    c.kind = Kind::Done;
                    c.close_when_flushed = true;
                }
                _ => {}
            }
        }
    }

    /// The init is gone and its output drained: record, answer, then clean up (the
    /// runtime's delete takes ~2 ms that no waiter needs to sit through).
    fn finish(&mut self) {
        let finished_at = self.exited_at.unwrap_or_else(Utc::now);
        let _ = self.log.finish(Utc::now());
        self.init.close_all();
        // Before delete: the OOM flag lives in the cgroup that delete removes.
        let oom_killed = berth_runtime::oom_killed(&self.bundle.cgroups_path);
        let status = ExitStatus {
            exit_code: self.init.exit_code.unwrap_or(255),
            oom_killed,
            finished_at,
        };
        let record = serde_json::to_vec(&status).unwrap_or_default();
        let _ = sys::write_atomic(&self.state.join(EXIT_FILE), &record);
        // The pid namespace is gone, so every exec died with it (SIGKILL: 137).
        let open: Vec<String> = self
            .execs
            .iter()
            .filter(|(_, e)| !e.proc.done)
            .map(|(id, _)| id.clone())
            .collect();
        for id in open {
            self.complete_exec(&id, Some(128 + libc::SIGKILL));
        }
        let answer = ok_line(status_json(&status));
        for c in self.conns.values_mut() {
            match &c.kind {
                Kind::Waiter => c.answer(answer.clone()),
                Kind::Stream {
                    target: Target::Init,
                    ..
                } => {
                    c.kind = Kind::Done;
                    c.close_when_flushed = true;
                }
                _ => {}
            }
        }
        self.status = Some(status);
        self.shutdown_at = Some(Instant::now() + SHUTDOWN_GRACE);
        self.flush_conns();
        self.init_mnt_ns = None;
        let _ = self.runtime.delete(&self.id, true);
        self.cleanup_lock = None;
    }
}

fn status_json(st: &ExitStatus) -> Value {
    serde_json::to_value(st).unwrap_or(Value::Null)
}

/// docker's json-file keeps one file unless max-file is set; with neither option berth
/// applies the logs crate's default cap (several files of its default size).
fn log_max_file(args: &ShimArgs) -> u32 {
    match (args.log_max_file, args.log_max_size) {
        (Some(n), _) => n,
        (None, Some(_)) => 1,
        (None, None) => berth_logs::DEFAULT_MAX_FILE,
    }
}

/// Binds the shim socket, readable by root only (it controls the container).
fn bind(path: &Path) -> Result<UnixListener> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(Error::path("remove", path, e)),
        _ => {}
    }
    let listener = UnixListener::bind(path).map_err(|e| Error::path("listen on", path, e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::path("chmod", path, e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::path("configure", path, e))?;
    Ok(listener)
}

fn create_init(runtime: &dyn Runtime, args: &ShimArgs) -> Result<(i32, ProcIo)> {
    if args.tty {
        let sock = args.state.join(CONSOLE_SOCKET);
        with_console(
            &sock,
            |io| runtime.create(&args.id, &args.bundle, io),
            args.stdin,
        )
    } else {
        with_pipes(args.stdin, |io| runtime.create(&args.id, &args.bundle, io))
    }
}

/// Runs `start` with pipes for the process's stdio; returns the shim's ends.
fn with_pipes(
    stdin: bool,
    start: impl FnOnce(InitIo) -> berth_runtime::Result<i32>,
) -> Result<(i32, ProcIo)> {
    let pipe = || sys::pipe().map_err(|e| Error::sys("pipe", e));
    let (in_r, in_w) = if stdin {
        pipe().map(|(r, w)| (Some(r), Some(w)))?
    } else {
        (None, None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let pid = start(InitIo::Stdio {
        stdin: in_r,
        stdout: out_w,
        stderr: err_w,
    })?;
    for fd in [in_w.as_ref(), Some(&out_r), Some(&err_r)]
        .into_iter()
        .flatten()
    {
        sys::set_nonblocking(fd.as_fd()).map_err(|e| Error::sys("fcntl(O_NONBLOCK)", e))?;
    }
    Ok((
        pid,
        ProcIo {
            master: None,
            stdin: in_w,
            stdout: Some(out_r),
            stderr: Some(err_r),
        },
    ))
}

/// Runs `start` with a console socket and takes the pty master the runtime sends.
fn with_console(
    sock: &Path,
    start: impl FnOnce(InitIo) -> berth_runtime::Result<i32>,
    stdin: bool,
) -> Result<(i32, ProcIo)> {
    let listener = bind(sock)?;
    let result = (|| {
        let pid = start(InitIo::Console {
            socket: sock.to_owned(),
        })?;
        // The runtime has sent the master before create/exec returned; a nonblocking
        // listener turns "it never did" into an error instead of a hang.
        let master = berth_runtime::receive_pty_master(&listener)?;
        sys::set_nonblocking(master.as_fd()).map_err(|e| Error::sys("fcntl(O_NONBLOCK)", e))?;
        let dup = |fd: &OwnedFd| sys::dup(fd.as_fd()).map_err(|e| Error::sys("dup", e));
        let stdout = Some(dup(&master)?);
        let stdin = if stdin { Some(dup(&master)?) } else { None };
        Ok((
            pid,
            ProcIo {
                master: Some(master),
                stdin,
                stdout,
                stderr: None,
            },
        ))
    })();
    let _ = fs::remove_file(sock);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_count_follows_docker_and_the_default_cap() {
        let mut a = ShimArgs::default();
        assert_eq!(log_max_file(&a), berth_logs::DEFAULT_MAX_FILE);
        a.log_max_size = Some(1 << 20);
        assert_eq!(log_max_file(&a), 1);
        a.log_max_file = Some(4);
        assert_eq!(log_max_file(&a), 4);
    }

    #[test]
    fn exec_users_parse_like_the_daemon_writes_them() {
        let u = parse_user("1000:100:4,27").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (1000, 100, vec![4, 27]));
        let u = parse_user("5").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.len()), (5, 0, 0));
        assert_eq!(
            parse_user("0:0:").unwrap().additional_gids,
            Vec::<u32>::new()
        );
        let err = parse_user("root").unwrap_err().to_string();
        assert!(err.contains("invalid exec user \"root\""), "{err}");
        assert!(parse_user("1:x").is_err());
        assert!(parse_user("1:2:a").is_err());
    }

    #[test]
    fn bundle_info_reads_what_exec_needs() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("config.json"),
            r#"{"process":{"user":{"uid":7,"gid":8,"additionalGids":[9]},"env":["PATH=/bin"],
                "noNewPrivileges":true},"linux":{"cgroupsPath":"/berth/abc"}}"#,
        )
        .unwrap();
        let b = BundleInfo::read(dir.path()).unwrap();
        assert_eq!(b.cgroups_path, "/berth/abc");
        assert_eq!(
            (b.user.uid, b.user.gid, b.user.additional_gids),
            (7, 8, vec![9])
        );
        assert_eq!(b.env, ["PATH=/bin"]);
        assert!(b.no_new_privileges);
        let err = BundleInfo::read(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope/config.json"), "{err}");
    }
}
