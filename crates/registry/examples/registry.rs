//! The registry alone, without the rest of berth: `registry serve|gc [flags]`, the same
//! as `berth registry …` (handy for measuring and for testing with other clients).

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    std::process::exit(berth_registry::main(&args));
}
