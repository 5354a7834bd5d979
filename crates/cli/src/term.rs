//! Terminal facts the output depends on, as docker checks them.

use std::io::IsTerminal;

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Columns of the terminal on stdout; docker falls back to 200 when unknown.
pub fn width() -> usize {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the pointer we pass.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    if rc == 0 && ws.ws_col > 0 {
        usize::from(ws.ws_col)
    } else {
        200
    }
}

/// `(height, width)` of the terminal on stdout, `None` when it is not one.
pub fn size() -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ only writes a `winsize` into the pointer we pass.
    let rc = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some((ws.ws_row, ws.ws_col))
}

/// Stdin switched to raw mode (as moby/term `MakeRaw`) until dropped or
/// [`RawMode::restore`]d; a no-op when stdin is no terminal or `NORAW` is set,
/// as with docker.
pub struct RawMode {
    saved: Option<libc::termios>,
}

impl RawMode {
    pub fn enable() -> std::io::Result<RawMode> {
        if !stdin_is_terminal() || std::env::var_os("NORAW").is_some() {
            return Ok(RawMode { saved: None });
        }
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 is open; `t` is a valid termios to write into.
        if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let saved = t;
        // SAFETY: cfmakeraw only edits the struct we own.
        unsafe { libc::cfmakeraw(&mut t) };
        t.c_cc[libc::VMIN] = 1;
        t.c_cc[libc::VTIME] = 0;
        // SAFETY: applying a termios derived from the terminal's own.
        if unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawMode { saved: Some(saved) })
    }

    /// Puts the terminal back; later calls do nothing.
    pub fn restore(&mut self) {
        if let Some(t) = self.saved.take() {
            // SAFETY: restoring the attributes read in `enable`.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) };
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Signals `--sig-proxy` forwards, with the names the kill API takes. docker
/// forwards every signal but SIGCHLD, SIGPIPE and the Go runtime's SIGURG;
/// these are the ones a process can catch that make sense to pass on.
const PROXIED: &[(libc::c_int, &str)] = &[
    (libc::SIGHUP, "HUP"),
    (libc::SIGINT, "INT"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
    (libc::SIGSYS, "SYS"),
];

/// Forwards every signal the CLI receives to container `id` with
/// `POST /containers/{id}/kill?signal=NAME` until the task is aborted.
pub fn spawn_signal_proxy(
    client: crate::client::Client,
    id: String,
) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    for &(num, name) in PROXIED {
        let Ok(mut s) = signal(SignalKind::from_raw(num)) else {
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(name).is_err() {
                    break;
                }
            }
        });
    }
    tokio::spawn(async move {
        let path = format!("/containers/{}/kill", crate::client::path_escape(&id));
        while let Some(name) = rx.recv().await {
            if let Err(e) = client
                .post_json(&path, &[("signal", name.to_string())], None)
                .await
            {
                tracing::debug!("error sending signal {name}: {e}");
            }
        }
    })
}

/// Sends the terminal size to `resize_path` (`/containers/{id}/resize` or
/// `/exec/{id}/resize`); nothing is sent when stdout is no terminal.
pub async fn resize(client: &crate::client::Client, resize_path: &str) -> crate::error::Result<()> {
    let Some((h, w)) = size() else {
        return Ok(());
    };
    if h == 0 && w == 0 {
        return Ok(());
    }
    client
        .post_json(
            resize_path,
            &[("h", h.to_string()), ("w", w.to_string())],
            None,
        )
        .await
        .map(|_| ())
}

/// docker's `MonitorTtySize`: the initial resize (retried, as the process may
/// not be ready yet) and one on every SIGWINCH from a background task.
pub async fn monitor_size(
    client: &crate::client::Client,
    resize_path: &str,
    err: &mut dyn std::io::Write,
) -> Option<tokio::task::JoinHandle<()>> {
    let mut ok = resize(client, resize_path).await.is_ok();
    for retry in 1..10 {
        if ok {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10 * retry)).await;
        ok = resize(client, resize_path).await.is_ok();
    }
    if !ok {
        let _ = writeln!(err, "failed to resize tty, using default size");
    }
    let mut winch =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()?;
    let client = client.clone();
    let path = resize_path.to_string();
    Some(tokio::spawn(async move {
        while winch.recv().await.is_some() {
            let _ = resize(&client, &path).await;
        }
    }))
}
