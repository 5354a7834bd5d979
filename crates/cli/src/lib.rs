//! berth-cli: the docker-compatible command-line client of berth.
//!
//! [`run`] parses docker's global flags, finds the command, parses its flags with
//! pflag/cobra semantics and runs it against the daemon's Engine API.

mod args;
mod autostart;
mod client;
mod commands;
mod ctx;
mod error;
mod jsonmsg;
mod opts;
mod progress;
mod registry_auth;
mod render;
mod stream;
mod term;
mod timestamp;
mod typed;
mod util;

use std::ffi::OsString;
use std::io::Write;

/// The socket the daemon listens on unless told otherwise.
pub fn default_host() -> String {
    "unix:///run/berth/berth.sock".to_string()
}

/// Runs the CLI with the full `argv` (program name first) and returns the exit code.
pub fn run(argv: Vec<OsString>) -> i32 {
    let args: Vec<String> = argv
        .into_iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(err, "failed to start the async runtime: {e}");
            return 1;
        }
    };
    let result = runtime.block_on(commands::dispatch(&args, &mut out, &mut err));
    let _ = out.flush();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let text = e.to_string();
            if !text.is_empty() {
                let _ = writeln!(err, "{text}");
            }
            e.exit_code()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_host_is_berth_socket() {
        assert_eq!(super::default_host(), "unix:///run/berth/berth.sock");
    }
}
