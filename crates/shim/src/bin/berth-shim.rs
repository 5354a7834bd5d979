//! `berth-shim shim …`: the shim alone, with the same command line as `berth shim …`,
//! so the crate's integration tests run the real monitor without building all of berth.

fn main() {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = match args.get(1).and_then(|a| a.to_str()) {
        Some("shim") => berth_shim::main(&args[2..]),
        _ => {
            eprintln!("usage: berth-shim shim --id ID --bundle DIR --state DIR --log-path FILE --runtime-root DIR [options]");
            2
        }
    };
    std::process::exit(code);
}
