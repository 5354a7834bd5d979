//! Docker's seccomp profile format → OCI `linux.seccomp`, applying the profile's
//! `includes`/`excludes` (capabilities, architectures, minimum kernel) as moby's
//! `profiles/seccomp` does.

use std::sync::Mutex;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Docker's default profile (moby `profiles/seccomp/default.json`).
const DEFAULT_PROFILE: &str = include_str!("seccomp-default.json");

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    default_action: String,
    default_errno_ret: Option<u32>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    syscalls: Option<Vec<Syscall>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Syscall {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// Host facts the filters are evaluated against.
struct Host {
    /// Go's GOARCH spelling, which the profiles' `arches` use.
    go_arch: &'static str,
    /// libseccomp's name of the native architecture, the key of `archMap`.
    native: &'static str,
    kernel: Option<(u32, u32)>,
}

impl Host {
    fn current() -> Self {
        let (go_arch, native) = if cfg!(target_arch = "x86_64") {
            ("amd64", "SCMP_ARCH_X86_64")
        } else if cfg!(target_arch = "aarch64") {
            ("arm64", "SCMP_ARCH_AARCH64")
        } else if cfg!(target_arch = "riscv64") {
            ("riscv64", "SCMP_ARCH_RISCV64")
        } else if cfg!(target_arch = "s390x") {
            ("s390x", "SCMP_ARCH_S390X")
        } else if cfg!(target_arch = "powerpc64") {
            ("ppc64le", "SCMP_ARCH_PPC64LE")
        } else if cfg!(target_arch = "x86") {
            ("386", "SCMP_ARCH_X86")
        } else {
            ("arm", "SCMP_ARCH_ARM")
        };
        let kernel = nix::sys::utsname::uname()
            .ok()
            .and_then(|u| parse_kernel(&u.release().to_string_lossy()));
        Host {
            go_arch,
            native,
            kernel,
        }
    }
}

/// "6.1.0-18-amd64" → (6, 1).
fn parse_kernel(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// The default profile for a container whose bounding set is `caps`. Converted once per
/// capability set (parsing the 20 kB profile showed in a profile of every start).
pub(crate) fn default_profile(caps: &[String]) -> Result<Value> {
    /// A few capability sets at most: most containers share the default one.
    const KEEP: usize = 8;
    static CONVERTED: Mutex<Vec<(Vec<String>, Value)>> = Mutex::new(Vec::new());
    let mut cache = CONVERTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, v)) = cache.iter().find(|(c, _)| c.as_slice() == caps) {
        return Ok(v.clone());
    }
    let v = convert(DEFAULT_PROFILE, caps)?;
    if cache.len() == KEEP {
        cache.remove(0);
    }
    cache.push((caps.to_vec(), v.clone()));
    Ok(v)
}

/// Converts a profile in docker's format for a container whose bounding set is `caps`.
pub(crate) fn convert(text: &str, caps: &[String]) -> Result<Value> {
    convert_for(text, caps, &Host::current())
}

fn convert_for(text: &str, caps: &[String], host: &Host) -> Result<Value> {
    let profile: Profile =
        serde_json::from_str(text).map_err(|e| Error::SeccompProfile(e.to_string()))?;
    let arch_map = profile.arch_map.unwrap_or_default();
    let legacy_arches = profile.architectures.unwrap_or_default();
    if !arch_map.is_empty() && !legacy_arches.is_empty() {
        return Err(Error::SeccompProfile(
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".to_string(),
        ));
    }
    let mut architectures = legacy_arches;
    for a in arch_map.iter().filter(|a| a.architecture == host.native) {
        architectures.push(a.architecture.clone());
        architectures.extend(a.sub_architectures.iter().flatten().cloned());
    }

    let kernel_at_least = |min: &str| -> Result<bool> {
        let want = parse_kernel(min).ok_or_else(|| {
            Error::SeccompProfile(format!("invalid minKernel {min:?}: expected \"x.y\""))
        })?;
        Ok(host.kernel.is_some_and(|k| k >= want))
    };

    let mut syscalls = Vec::new();
    'calls: for call in profile.syscalls.unwrap_or_default() {
        let names = match (call.name, call.names) {
            (Some(name), Some(names)) if !name.is_empty() && !names.is_empty() => {
                return Err(Error::SeccompProfile(format!(
                    "use either 'name' or 'names', not both ({name})"
                )))
            }
            (Some(name), _) if !name.is_empty() => vec![name],
            (_, Some(names)) => names,
            _ => continue,
        };
        if let Some(ex) = &call.excludes {
            if ex.arches.iter().flatten().any(|a| a == host.go_arch) {
                continue;
            }
            // Excluded as soon as the container holds any of the listed capabilities.
            if ex.caps.iter().flatten().any(|c| caps.contains(c)) {
                continue;
            }
            if let Some(min) = &ex.min_kernel {
                if kernel_at_least(min)? {
                    continue;
                }
            }
        }
        if let Some(inc) = &call.includes {
            let arches = inc.arches.as_deref().unwrap_or_default();
            if !arches.is_empty() && !arches.iter().any(|a| a == host.go_arch) {
                continue;
            }
            // Included only when the container holds all of the listed capabilities.
            for c in inc.caps.iter().flatten() {
                if !caps.contains(c) {
                    continue 'calls;
                }
            }
            if let Some(min) = &inc.min_kernel {
                if !kernel_at_least(min)? {
                    continue;
                }
            }
        }
        let mut rule = json!({"names": names, "action": call.action});
        if let Some(errno) = call.errno_ret {
            rule["errnoRet"] = json!(errno);
        }
        if let Some(args) = call.args.filter(|a| !a.is_empty()) {
            rule["args"] = Value::Array(args);
        }
        syscalls.push(rule);
    }

    let mut out = json!({
        "defaultAction": profile.default_action,
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(errno) = profile.default_errno_ret {
        out["defaultErrnoRet"] = json!(errno);
    }
    if let Some(flags) = profile.flags.filter(|f| !f.is_empty()) {
        out["flags"] = json!(flags);
    }
    if let Some(path) = profile.listener_path.filter(|p| !p.is_empty()) {
        out["listenerPath"] = json!(path);
    }
    if let Some(meta) = profile.listener_metadata.filter(|m| !m.is_empty()) {
        out["listenerMetadata"] = json!(meta);
    }
    // Validate against the OCI types here so a bad profile names itself, not the spec.
    serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(out.clone())
        .map_err(|e| Error::SeccompProfile(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn amd64(kernel: (u32, u32)) -> Host {
        Host {
            go_arch: "amd64",
            native: "SCMP_ARCH_X86_64",
            kernel: Some(kernel),
        }
    }

    fn allowed(profile: &Value) -> Vec<String> {
        profile["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
            .flat_map(|r| r["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_profile_for_default_caps() {
        let default_caps = caps(crate::spec::DEFAULT_CAPABILITIES);
        let p = convert_for(DEFAULT_PROFILE, &default_caps, &amd64((6, 1))).unwrap();
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let allow = allowed(&p);
        for name in ["read", "arch_prctl", "modify_ldt", "chroot", "ptrace"] {
            assert!(allow.iter().any(|n| n == name), "{name} allowed");
        }
        // Needs CAP_SYS_ADMIN / another arch / CAP_SYS_BOOT.
        for name in [
            "mount",
            "unshare",
            "setns",
            "riscv_flush_icache",
            "reboot",
            "bpf",
        ] {
            assert!(!allow.iter().any(|n| n == name), "{name} not allowed");
        }
        // clone with the namespace-flags mask applies (SYS_ADMIN absent, not s390).
        let rules = p["syscalls"].as_array().unwrap();
        let clone_masked = rules
            .iter()
            .filter(|r| r["names"] == json!(["clone"]))
            .collect::<Vec<_>>();
        assert_eq!(clone_masked.len(), 1);
        assert_eq!(clone_masked[0]["args"][0]["index"], 0);
        assert!(rules
            .iter()
            .any(|r| r["names"] == json!(["clone3"]) && r["errnoRet"] == 38));
        // The result is a valid OCI seccomp section.
        serde_json::from_value::<oci_spec::runtime::LinuxSeccomp>(p).unwrap();
    }

    #[test]
    fn sys_admin_unlocks_and_excludes() {
        let p = convert_for(
            DEFAULT_PROFILE,
            &caps(&["CAP_SYS_ADMIN", "CAP_SYS_BOOT"]),
            &amd64((6, 1)),
        )
        .unwrap();
        let allow = allowed(&p);
        for name in ["mount", "unshare", "setns", "clone", "clone3", "reboot"] {
            assert!(allow.iter().any(|n| n == name), "{name} allowed");
        }
        let rules = p["syscalls"].as_array().unwrap();
        assert!(!rules
            .iter()
            .any(|r| r["names"] == json!(["clone3"]) && r["action"] == "SCMP_ACT_ERRNO"));
    }

    #[test]
    fn min_kernel_and_arches() {
        let old = convert_for(DEFAULT_PROFILE, &[], &amd64((4, 4))).unwrap();
        assert!(!allowed(&old).iter().any(|n| n == "ptrace"));
        let arm = Host {
            go_arch: "arm64",
            native: "SCMP_ARCH_AARCH64",
            kernel: Some((6, 1)),
        };
        let p = convert_for(DEFAULT_PROFILE, &[], &arm).unwrap();
        assert_eq!(
            p["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        let allow = allowed(&p);
        assert!(allow.iter().any(|n| n == "arm_fadvise64_64"));
        assert!(!allow.iter().any(|n| n == "arch_prctl"));
    }

    #[test]
    fn custom_profiles_are_checked() {
        let err = convert("{not json", &[]).unwrap_err();
        assert!(err.to_string().starts_with("invalid seccomp profile"));
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
            "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#;
        assert!(convert(both, &[])
            .unwrap_err()
            .to_string()
            .contains("archMap"));
        let ok = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#;
        let p = convert(ok, &[]).unwrap();
        assert_eq!(p["syscalls"][0]["names"], json!(["mkdir"]));
        let bad_action = r#"{"defaultAction":"SCMP_ACT_NOPE"}"#;
        assert!(convert(bad_action, &[]).is_err());
    }
}
