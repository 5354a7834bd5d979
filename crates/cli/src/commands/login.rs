//! `login`: checks credentials through the daemon (`POST /auth`) and keeps
//! them in the CLI's `config.json` (or its credential helper).

use std::io::{BufRead, Read};

use berth_distribution::AuthConfig;
use serde_json::json;

use crate::args::{flag, Arity, CommandSpec, FlagSpec, Kind, Parsed};
use crate::ctx::Ctx;
use crate::error::{CliError, Result};
use crate::registry_auth::{load_config, INDEX_SERVER};

const FLAGS: &[FlagSpec] = &[
    flag(
        "password",
        Some('p'),
        Kind::Str,
        "Password or Personal Access Token (PAT)",
    ),
    flag(
        "password-stdin",
        None,
        Kind::Bool,
        "Take the Password or Personal Access Token (PAT) from stdin",
    ),
    flag("username", Some('u'), Kind::Str, "Username"),
];

pub const SPEC: CommandSpec = CommandSpec {
    path: "login",
    use_args: "[OPTIONS] [SERVER]",
    short: "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
    aliases: "",
    arity: Arity::Max(1),
    interspersed: true,
    flags: FLAGS,
};

/// The flag checks docker makes before anything else (`verifyLoginFlags`).
pub fn verify_flags(p: &Parsed) -> Result<()> {
    if p.bool("password-stdin") {
        if p.str("password").is_some() {
            return Err(CliError::msg(
                "conflicting options: cannot specify both --password and --password-stdin",
            ));
        }
        if p.str("username").is_none() {
            return Err(CliError::msg(
                "the --password-stdin option requires --username to be set",
            ));
        }
    }
    if p.str("username") == Some("") {
        return Err(CliError::msg("username is empty"));
    }
    if p.str("password") == Some("") {
        return Err(CliError::msg("password is empty"));
    }
    Ok(())
}

/// The server credentials are checked against and stored under.
pub fn server_address(arg: Option<&str>) -> String {
    match arg {
        Some(s) if !s.is_empty() && s != "docker.io" => s.to_string(),
        _ => INDEX_SERVER.to_string(),
    }
}

/// A password read from stdin loses one trailing newline (`\n`, then `\r`).
pub fn trim_stdin_password(s: &str) -> String {
    let s = s.strip_suffix('\n').unwrap_or(s);
    s.strip_suffix('\r').unwrap_or(s).to_string()
}

/// Reads one line from the terminal; with `hide`, echo is off meanwhile.
fn prompt(out: &mut dyn std::io::Write, text: &str, hide: bool) -> Result<String> {
    write!(out, "{text}")?;
    out.flush()?;
    // SAFETY: termios is plain data; tcgetattr fills it or fails.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: fd 0 is open and `saved` is a valid termios to write into.
    let hidden = hide && unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut saved) } == 0;
    if hidden {
        let mut t = saved;
        t.c_lflag &= !libc::ECHO;
        // SAFETY: `t` is the terminal's own settings with echo cleared.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) };
    }
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    if hidden {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &saved) };
        writeln!(out)?;
    }
    r?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `POST /auth`; returns docker's status text and the identity token.
async fn authenticate(ctx: &mut Ctx<'_>, a: &AuthConfig) -> Result<(String, String)> {
    let client = ctx.client().await?;
    let body = json!({
        "username": a.username,
        "password": a.password,
        "serveraddress": a.serveraddress,
        "identitytoken": a.identitytoken,
        "registrytoken": a.registrytoken,
    });
    let v = client.post_json("/auth", &[], Some(&body)).await?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
    Ok((s("Status"), s("IdentityToken")))
}

fn store(ctx: &Ctx<'_>, mut a: AuthConfig, token: &str) -> Result<()> {
    if !token.is_empty() {
        a.password.clear();
        a.identitytoken = token.to_string();
    }
    let mut cfg = load_config(&ctx.opts)?;
    let key = a.serveraddress.clone();
    cfg.store(&key, &a)
        .map_err(|e| CliError::msg(format!("Error saving credentials: {e}")))
}

pub async fn run(ctx: &mut Ctx<'_>, p: &Parsed) -> Result<()> {
    verify_flags(p)?;
    let mut user = p.str("username").unwrap_or("").to_string();
    let mut password = p.str("password").unwrap_or("").to_string();
    if !password.is_empty() {
        writeln!(
            ctx.err,
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
        )?;
    }
    if p.bool("password-stdin") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        password = trim_stdin_password(&s);
    }
    let server = server_address(p.args.first().map(String::as_str));

    // Without -u/-p, stored credentials are tried first.
    let mut default_user = String::new();
    if user.is_empty() && password.is_empty() {
        let stored = load_config(&ctx.opts)?.get(&server).unwrap_or_default();
        default_user = stored.username.clone();
        if !stored.username.is_empty() && !stored.password.is_empty() {
            writeln!(
                ctx.err,
                "Authenticating with existing credentials... [Username: {}]\n",
                stored.username
            )?;
            let mut a = stored;
            a.serveraddress = server.clone();
            match authenticate(ctx, &a).await {
                Ok((status, token)) => {
                    store(ctx, a, &token)?;
                    writeln!(ctx.out, "{status}")?;
                    return Ok(());
                }
                Err(CliError::Daemon { status: 401, .. }) => {
                    writeln!(ctx.err, "Stored credentials invalid or expired")?;
                }
                Err(e) => writeln!(ctx.err, "Login did not succeed, error: {e}")?,
            }
        }
    }
    if (user.is_empty() || password.is_empty()) && !crate::term::stdin_is_terminal() {
        return Err(CliError::msg(
            "Error: Cannot perform an interactive login from a non TTY device",
        ));
    }
    if user.is_empty() {
        let text = if default_user.is_empty() {
            "Username: ".to_string()
        } else {
            format!("Username ({default_user}): ")
        };
        user = prompt(ctx.out, &text, false)?;
        if user.is_empty() {
            user = default_user;
        }
        if user.is_empty() {
            return Err(CliError::msg("Error: Non-null Username Required"));
        }
    }
    if password.is_empty() {
        password = prompt(ctx.out, "Password: ", true)?;
        if password.is_empty() {
            return Err(CliError::msg("Error: Password Required"));
        }
    }
    let a = AuthConfig {
        username: user,
        password,
        serveraddress: server,
        ..AuthConfig::default()
    };
    let (status, token) = authenticate(ctx, &a).await?;
    store(ctx, a, &token)?;
    if !status.is_empty() {
        writeln!(ctx.out, "{status}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Parsed {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        SPEC.parse(&v).unwrap()
    }

    #[test]
    fn flag_checks_match_docker() {
        let e = |a: &[&str]| verify_flags(&parse(a)).unwrap_err().to_string();
        assert_eq!(
            e(&["-p", "x", "--password-stdin"]),
            "conflicting options: cannot specify both --password and --password-stdin"
        );
        assert_eq!(
            e(&["--password-stdin"]),
            "the --password-stdin option requires --username to be set"
        );
        assert_eq!(e(&["-u", ""]), "username is empty");
        assert_eq!(e(&["-u", "a", "-p", ""]), "password is empty");
        assert!(verify_flags(&parse(&["-u", "a", "--password-stdin", "h"])).is_ok());
    }

    #[test]
    fn servers_and_passwords() {
        assert_eq!(server_address(None), INDEX_SERVER);
        assert_eq!(server_address(Some("docker.io")), INDEX_SERVER);
        assert_eq!(server_address(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(trim_stdin_password("pw\r\n"), "pw");
        assert_eq!(trim_stdin_password("pw\n\n"), "pw\n");
        assert_eq!(trim_stdin_password("pw"), "pw");
    }
}
