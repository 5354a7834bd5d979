//! berth: one binary, several faces. `berth daemon` runs the engine; everything
//! else is the docker-compatible CLI.

mod daemon;
mod memory;

use std::ffi::OsString;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some("daemon") => {
            memory::tune_for_transfers();
            daemon::main(&args[2..])
        }
        Some("registry") => berth_registry::main(&args[2..]),
        Some("shim") => berth_shim::main(&args[2..]),
        _ => berth_cli::run(args),
    };
    std::process::exit(code);
}
