//! `--user` resolution against the image's `/etc/passwd` and `/etc/group`, with runc's
//! `GetExecUser` rules and docker's error texts.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The identity a container process runs as.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
}

/// Resolves docker's `--user` forms (`""`, `name`, `uid`, `name:group`, `uid:gid`,
/// `name:gid`, `uid:group`) against `rootfs/etc/passwd` and `rootfs/etc/group`.
/// Supplementary groups come from `/etc/group` memberships unless a group is given.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<User> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let passwd = read_in_root(rootfs, "/etc/passwd")?;
    let group = read_in_root(rootfs, "/etc/group")?;

    let uid_arg = parse_id(user_arg, spec)?;
    let mut user = User::default();
    let entry = passwd.as_deref().and_then(|text| {
        parse_passwd(text).find(|p| match (user_arg.is_empty(), uid_arg) {
            (true, _) => p.uid == 0,
            (false, Some(uid)) => p.uid == uid,
            (false, None) => p.name == user_arg,
        })
    });
    let matched_name = match &entry {
        Some(p) => {
            user.uid = p.uid;
            user.gid = p.gid;
            Some(p.name.to_string())
        }
        None => {
            match uid_arg {
                Some(uid) => user.uid = uid,
                None if !user_arg.is_empty() => {
                    return Err(Error::UserNotFound(user_arg.to_string()))
                }
                None => {}
            }
            None
        }
    };

    if !group_arg.is_empty() {
        let gid_arg = parse_id(group_arg, spec)?;
        let found = group.as_deref().and_then(|text| {
            parse_group(text).find(|g| match gid_arg {
                Some(gid) => g.gid == gid,
                None => g.name == group_arg,
            })
        });
        user.gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(gid)) => gid,
            (None, None) => return Err(Error::GroupNotFound(group_arg.to_string())),
        };
    } else if let (Some(name), Some(text)) = (matched_name, group.as_deref()) {
        user.additional_gids = parse_group(text)
            .filter(|g| g.members.split(',').any(|m| m == name))
            .map(|g| g.gid)
            .collect();
    }
    Ok(user)
}

/// A numeric id, `None` for a name; negative or too large numbers are rejected as runc does.
fn parse_id(arg: &str, spec: &str) -> Result<Option<u32>> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Ok(None);
    }
    match arg.parse::<i64>() {
        Ok(n) if (0..=i64::from(i32::MAX)).contains(&n) => Ok(Some(n as u32)),
        Ok(_) => Err(Error::InvalidUser(
            spec.to_string(),
            "uids and gids must be in range 0-2147483647".to_string(),
        )),
        Err(_) => Ok(None),
    }
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: &'a str,
}

fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next();
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some(PasswdEntry { name, uid, gid })
    })
}

fn parse_group(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next();
        let gid = f.next()?.parse().ok()?;
        let members = f.next().unwrap_or("");
        Some(GroupEntry { name, gid, members })
    })
}

/// Reads a file of the image; a missing file is `None` (runc treats it as empty).
fn read_in_root(root: &Path, path: &str) -> Result<Option<String>> {
    let Some(resolved) = resolve_in_root(root, Path::new(path))? else {
        return Ok(None);
    };
    match std::fs::read(&resolved) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", resolved.display()), e)),
    }
}

/// Resolves `path` as if `root` were `/`: symlinks (absolute or with `..`) are followed
/// but never leave `root`. `None` when a component does not exist.
pub(crate) fn resolve_in_root(root: &Path, path: &Path) -> Result<Option<PathBuf>> {
    const MAX_LINKS: usize = 40;
    let mut links = 0;
    // Components still to walk, last at the end so pop() yields the next one.
    let mut todo: Vec<PathBuf> = path
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(PathBuf::from(n)),
            Component::ParentDir => Some(PathBuf::from("..")),
            _ => None,
        })
        .collect();
    let mut done: Vec<PathBuf> = Vec::new();
    while let Some(part) = todo.pop() {
        if part.as_os_str() == OsStr::new("..") {
            done.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(done.iter());
        candidate.push(&part);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("resolving {}", candidate.display()), e)),
        };
        if meta.file_type().is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return Err(Error::io(
                    format!("resolving {} in {}", path.display(), root.display()),
                    std::io::Error::from_raw_os_error(libc::ELOOP),
                ));
            }
            let target = std::fs::read_link(&candidate)
                .map_err(|e| Error::io(format!("reading link {}", candidate.display()), e))?;
            if target.is_absolute() {
                done.clear();
            }
            for c in target.components().rev() {
                match c {
                    Component::Normal(n) => todo.push(PathBuf::from(n)),
                    Component::ParentDir => todo.push(PathBuf::from("..")),
                    _ => {}
                }
            }
        } else {
            done.push(part);
        }
    }
    let mut out = root.to_path_buf();
    out.extend(done.iter());
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn rootfs() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n# comment\nnobody:x:65534:65534::/:/bin/false\n\
             www:x:33:33:www:/var/www:/bin/sh\nbroken line\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:root,www\nwww-data:x:33:\naudio:x:29:www\nnogroup:x:65534:\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn empty_is_root_with_its_groups() {
        let root = rootfs();
        let u = resolve_user(root.path(), "").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (0, 0, vec![10]));
    }

    #[test]
    fn by_name_uid_and_group() {
        let root = rootfs();
        let u = resolve_user(root.path(), "www").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids), (33, 33, vec![10, 29]));
        let u = resolve_user(root.path(), "33").unwrap();
        assert_eq!((u.uid, u.gid, u.additional_gids.len()), (33, 33, 2));
        let u = resolve_user(root.path(), "www:nogroup").unwrap();
        assert_eq!((u.uid, u.gid), (33, 65534));
        assert!(
            u.additional_gids.is_empty(),
            "an explicit group drops memberships"
        );
        let u = resolve_user(root.path(), "1234:5678").unwrap();
        assert_eq!((u.uid, u.gid), (1234, 5678));
        let u = resolve_user(root.path(), "nobody:10").unwrap();
        assert_eq!((u.uid, u.gid), (65534, 10));
    }

    #[test]
    fn missing_entries_have_dockers_texts() {
        let root = rootfs();
        let err = resolve_user(root.path(), "nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user nope: no matching entries in passwd file"
        );
        let err = resolve_user(root.path(), "www:nope").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nope: no matching entries in group file"
        );
        assert!(resolve_user(root.path(), "-5").is_err());
    }

    #[test]
    fn missing_files_allow_numeric_ids_only() {
        let dir = tempfile::tempdir().unwrap();
        let u = resolve_user(dir.path(), "1000:1000").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(resolve_user(dir.path(), "").unwrap(), User::default());
        assert!(matches!(
            resolve_user(dir.path(), "app"),
            Err(Error::UserNotFound(name)) if name == "app"
        ));
    }

    #[test]
    fn symlinks_cannot_escape_the_rootfs() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(
            outside.path().join("passwd"),
            "evil:x:4242:4242::/:/bin/sh\n",
        )
        .unwrap();
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        // An absolute link and a `..` chain both stay inside the rootfs.
        let abs = outside.path().join("passwd");
        std::os::unix::fs::symlink(&abs, root.path().join("etc/passwd")).unwrap();
        assert!(matches!(
            resolve_user(root.path(), "evil"),
            Err(Error::UserNotFound(_))
        ));
        fs::remove_file(root.path().join("etc/passwd")).unwrap();
        let rel = PathBuf::from("../../../../../../..").join(abs.strip_prefix("/").unwrap());
        std::os::unix::fs::symlink(&rel, root.path().join("etc/passwd")).unwrap();
        assert!(matches!(
            resolve_user(root.path(), "evil"),
            Err(Error::UserNotFound(_))
        ));
        // A link that stays inside is followed.
        fs::remove_file(root.path().join("etc/passwd")).unwrap();
        fs::write(root.path().join("etc/real"), "app:x:7:8::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("/etc/real", root.path().join("etc/passwd")).unwrap();
        assert_eq!(resolve_user(root.path(), "app").unwrap().uid, 7);
    }
}
