//! `logout`: forgets the credentials `login` stored.

use crate::args::{Arity, CommandSpec, Parsed};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::registry_auth::{load_config, INDEX_SERVER};

pub const SPEC: CommandSpec = CommandSpec {
    path: "logout",
    use_args: "[SERVER]",
    short:
        "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
    aliases: "",
    arity: Arity::Max(1),
    interspersed: true,
    flags: &[],
};

/// docker's `ConvertToHostname`: the host of a server URL.
pub fn convert_to_hostname(server: &str) -> String {
    let s = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"))
        .unwrap_or(server);
    s.split('/').next().unwrap_or(s).to_string()
}

/// The name shown and every key the credentials may be stored under (older
/// clients stored URLs with a scheme).
pub fn keys(server: Option<&str>) -> (String, Vec<String>) {
    match server.filter(|s| !s.is_empty()) {
        None => (INDEX_SERVER.to_string(), vec![INDEX_SERVER.to_string()]),
        Some(s) => {
            let host = convert_to_hostname(s);
            let keys = vec![
                s.to_string(),
                host.clone(),
                format!("http://{host}"),
                format!("https://{host}"),
            ];
            (host, keys)
        }
    }
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    let (shown, keys) = keys(p.args.first().map(String::as_str));
    writeln!(ctx.out, "Removing login credentials for {shown}")?;
    let mut cfg = load_config(&ctx.opts)?;
    let mut errors = Vec::new();
    for k in &keys {
        if let Err(e) = cfg.erase(k) {
            errors.push(format!("{k}: {e}"));
        }
    }
    // Only when every key failed is that worth a warning, as with docker.
    if errors.len() == keys.len() {
        writeln!(ctx.err, "WARNING: could not erase credentials:")?;
        for e in errors {
            writeln!(ctx.err, "{e}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logout_keys() {
        assert_eq!(
            keys(None),
            (INDEX_SERVER.to_string(), vec![INDEX_SERVER.to_string()])
        );
        let (shown, k) = keys(Some("https://reg.example.com:5000/v2/"));
        assert_eq!(shown, "reg.example.com:5000");
        assert_eq!(
            k,
            vec![
                "https://reg.example.com:5000/v2/",
                "reg.example.com:5000",
                "http://reg.example.com:5000",
                "https://reg.example.com:5000"
            ]
        );
    }
}
