//! What both runtimes share about the processes they start: the exec process JSON,
//! the executable lookup with runc's (docker's) error texts, and mapping those texts
//! back to typed errors.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::ExecSpec;
use crate::user::resolve_in_root;

/// Docker's PATH when the image sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The OCI `process` for an exec: the container's own process (rlimits, apparmor,
/// capabilities…) with the exec's command, environment, user and terminal.
pub(crate) fn exec_process(bundle: &Path, spec: &ExecSpec) -> Result<Value> {
    if spec.args.is_empty() {
        return Err(Error::Spec("exec: no command specified".to_string()));
    }
    let path = bundle.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let config: Value =
        serde_json::from_str(&text).map_err(|e| Error::Spec(format!("{}: {e}", path.display())))?;
    let mut process = config.get("process").cloned().unwrap_or_else(|| json!({}));
    process["args"] = json!(spec.args);
    process["env"] = json!(spec.env);
    if !spec.cwd.is_empty() {
        process["cwd"] = json!(spec.cwd);
    }
    let mut user = json!({"uid": spec.user.uid, "gid": spec.user.gid});
    if !spec.user.additional_gids.is_empty() {
        user["additionalGids"] = json!(spec.user.additional_gids);
    }
    process["user"] = user;
    process["terminal"] = json!(spec.tty);
    if let Some(p) = process.as_object_mut() {
        p.remove("consoleSize");
    }
    if spec.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }
    if spec.privileged {
        let all = crate::spec::known_capabilities();
        process["capabilities"] = json!({
            "bounding": all, "effective": all, "permitted": all,
        });
    }
    Ok(process)
}

/// Finds `name` as `execvp` would, with `root` taken as `/` (symlinks never leave it)
/// and `cwd` for relative paths, reporting runc's (and so docker's) texts.
pub(crate) fn lookup_executable(
    root: &Path,
    name: &str,
    env: &[String],
    cwd: &str,
) -> Result<PathBuf> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    let is_executable = |p: &Path| -> Result<Option<bool>> {
        let Some(host) = resolve_in_root(root, p)? else {
            return Ok(None);
        };
        Ok(Some(std::fs::metadata(host).is_ok_and(|m| {
            m.is_file() && m.permissions().mode() & 0o111 != 0
        })))
    };
    if name.contains('/') {
        let path = Path::new(cwd).join(name);
        return match is_executable(&path)? {
            Some(true) => Ok(path),
            Some(false) => Err(Error::PermissionDenied(name.to_string())),
            None => Err(Error::NoSuchFile(name.to_string())),
        };
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path_var.split(':') {
        let candidate = Path::new(cwd)
            .join(if dir.is_empty() { "." } else { dir })
            .join(name);
        if is_executable(&candidate)? == Some(true) {
            return Ok(candidate);
        }
    }
    Err(Error::ExecutableNotFound(name.to_string()))
}

/// Recognises the exec texts in a runtime's error message for `args0`.
pub(crate) fn classify(message: &str, args0: &str) -> Option<Error> {
    let candidates = [
        Error::ExecutableNotFound(args0.to_string()),
        Error::NoSuchFile(args0.to_string()),
        Error::PermissionDenied(args0.to_string()),
    ];
    let prefix = format!("exec: {args0:?}: ");
    if !message.contains(&prefix) {
        return None;
    }
    candidates
        .into_iter()
        .find(|e| message.contains(&e.to_string()[prefix.len()..]))
        .or_else(|| {
            // runc words a missing absolute path as "stat X: no such file or directory".
            message
                .contains("no such file or directory")
                .then(|| Error::NoSuchFile(args0.to_string()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn lookup_follows_path_and_reports_dockers_texts() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("tool");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        std::fs::write(&data, "x").unwrap();
        let env = vec![format!("PATH=/nonexistent:{}", dir.path().display())];
        assert_eq!(
            lookup_executable(Path::new("/"), "tool", &env, "/").unwrap(),
            bin
        );
        assert_eq!(
            lookup_executable(Path::new("/"), "nope", &env, "/")
                .unwrap_err()
                .to_string(),
            r#"exec: "nope": executable file not found in $PATH"#
        );
        // Not executable files in PATH are skipped like execvp does.
        assert!(matches!(
            lookup_executable(Path::new("/"), "data", &env, "/"),
            Err(Error::ExecutableNotFound(_))
        ));
        let data = data.to_string_lossy().into_owned();
        assert_eq!(
            lookup_executable(Path::new("/"), &data, &env, "/")
                .unwrap_err()
                .to_string(),
            format!("exec: {data:?}: permission denied")
        );
        let dir_name = dir.path().to_string_lossy().into_owned();
        assert!(matches!(
            lookup_executable(Path::new("/"), &dir_name, &env, "/"),
            Err(Error::PermissionDenied(_))
        ));
        assert_eq!(
            lookup_executable(Path::new("/"), "/no/such", &env, "/")
                .unwrap_err()
                .to_string(),
            r#"exec: "/no/such": stat /no/such: no such file or directory"#
        );
    }

    #[test]
    fn lookup_inside_a_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::create_dir_all(root.path().join("app")).unwrap();
        let tool = root.path().join("bin/tool");
        std::fs::write(&tool, "").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        // An absolute link resolves inside the root, not on the host.
        std::os::unix::fs::symlink("/bin/tool", root.path().join("app/run")).unwrap();
        std::os::unix::fs::symlink("/bin/sh", root.path().join("bin/hostsh")).unwrap();
        let env = vec!["PATH=/bin".to_string()];
        assert_eq!(
            lookup_executable(root.path(), "tool", &env, "/").unwrap(),
            Path::new("/bin/tool")
        );
        assert!(lookup_executable(root.path(), "./run", &env, "/app").is_ok());
        assert!(lookup_executable(root.path(), "/app/run", &env, "/").is_ok());
        assert!(matches!(
            lookup_executable(root.path(), "hostsh", &env, "/"),
            Err(Error::ExecutableNotFound(_))
        ));
        assert!(matches!(
            lookup_executable(root.path(), "/bin", &env, "/"),
            Err(Error::PermissionDenied(_))
        ));
    }

    #[test]
    fn classify_finds_texts_inside_longer_messages() {
        let msg = r#"failed to create container: exec: "nope": executable file not found in $PATH"#;
        assert!(matches!(
            classify(msg, "nope"),
            Some(Error::ExecutableNotFound(n)) if n == "nope"
        ));
        let runc = r#"runc create failed: unable to start container process: exec: "/x": stat /x: no such file or directory"#;
        assert!(matches!(classify(runc, "/x"), Some(Error::NoSuchFile(_))));
        let perm = r#"exec: "/etc": permission denied"#;
        assert!(matches!(
            classify(perm, "/etc"),
            Some(Error::PermissionDenied(_))
        ));
        assert!(classify("cgroup: no such file or directory", "sh").is_none());
    }

    #[test]
    fn exec_process_keeps_the_containers_settings() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::write(
            bundle.path().join("config.json"),
            r#"{"process":{"args":["sleep"],"cwd":"/srv","env":["A=1"],"user":{"uid":0,"gid":0},
                "rlimits":[{"type":"RLIMIT_NOFILE","soft":10,"hard":10}],
                "capabilities":{"bounding":["CAP_KILL"]},"consoleSize":{"height":1,"width":1}}}"#,
        )
        .unwrap();
        let spec = ExecSpec {
            args: vec!["id".into()],
            env: vec!["B=2".into()],
            user: crate::User {
                uid: 5,
                gid: 6,
                additional_gids: vec![7],
            },
            tty: true,
            ..Default::default()
        };
        let p = exec_process(bundle.path(), &spec).unwrap();
        assert_eq!(p["args"], json!(["id"]));
        assert_eq!(p["env"], json!(["B=2"]));
        assert_eq!(p["cwd"], "/srv");
        assert_eq!(
            p["user"],
            json!({"uid": 5, "gid": 6, "additionalGids": [7]})
        );
        assert_eq!(p["terminal"], true);
        assert_eq!(p["rlimits"][0]["soft"], 10);
        assert_eq!(p["capabilities"]["bounding"], json!(["CAP_KILL"]));
        assert!(p.get("consoleSize").is_none());
        let privileged = ExecSpec {
            privileged: true,
            ..spec
        };
        let p = exec_process(bundle.path(), &privileged).unwrap();
        assert!(p["capabilities"]["effective"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_SYS_ADMIN")));
    }
}
