//! Seccomp filters compiled once. libseccomp needs about 10 ms to turn Docker's default
//! profile into BPF for its three architectures (x86_64, x86, x32) — most of a
//! container's start if every init did it, as libcontainer does. Here the shim compiles
//! a profile the first time, keeps the program in a cache keyed by the profile, the
//! libseccomp version and the kernel, and the container's process loads the finished
//! program just before exec (see `Filter::install`).

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One BPF instruction as the kernel reads it (`struct sock_filter`).
const INSN: usize = std::mem::size_of::<libc::sock_filter>();

/// A compiled filter and the flags of `seccomp(2)` it is loaded with.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    flags: libc::c_ulong,
    program: Vec<libc::sock_filter>,
}

impl Filter {
    /// The program for `seccomp`, from the cache under `cache_dir` or compiled now.
    /// `None` when the profile hands syscalls to a listener (`SCMP_ACT_NOTIFY`), which
    /// needs libcontainer's own path.
    pub(crate) fn for_profile(cache_dir: &Path, seccomp: &LinuxSeccomp) -> Result<Option<Filter>> {
        if uses_notify(seccomp) {
            return Ok(None);
        }
        let flags = seccomp
            .flags()
            .iter()
            .flatten()
            .map(|f| match f {
                LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
                LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
                LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                    libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
                }
                LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                    libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
                }
            })
            .fold(0, |a, b| a | b);
        let path = cache_dir.join(cache_key(seccomp)?);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) if !bytes.is_empty() && bytes.len() % INSN == 0 => bytes,
            _ => compile_into_cache(seccomp, cache_dir, &path)?,
        };
        Ok(Some(Filter {
            flags,
            program: decode(&bytes)?,
        }))
    }

    /// Writes the filter next to a bundle, for the container's later `exec`s.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let mut bytes = self.flags.to_le_bytes().to_vec();
        bytes.extend(encode(&self.program));
        std::fs::write(path, bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }

    /// Reads what [`Filter::save`] wrote; `None` when there is no such file.
    pub(crate) fn load(path: &Path) -> Result<Option<Filter>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let n = std::mem::size_of::<libc::c_ulong>();
        if bytes.len() < n {
            return Err(Error::Spec(format!("{}: truncated", path.display())));
        }
        let (flags, program) = bytes.split_at(n);
        Ok(Some(Filter {
            flags: libc::c_ulong::from_le_bytes(flags.try_into().expect("split at its size")),
            program: decode(program)?,
        }))
    }

    /// Loads the filter into this process, in the container right before exec, after
    /// libcontainer dropped the capabilities. Without `no_new_privs` the kernel wants
    /// CAP_SYS_ADMIN in the effective set: the runtime left it in the permitted set
    /// only (see `admit`), so it is raised for the call and then dropped from both sets.
    /// (exec would drop it anyway: it is not in the bounding set.)
    pub(crate) fn install(&self) -> std::result::Result<(), String> {
        use caps::{CapSet, Capability};
        // SAFETY: prctl with no pointers.
        let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) } == 1;
        let raise = !nnp
            && !caps::has_cap(None, CapSet::Effective, Capability::CAP_SYS_ADMIN)
                .map_err(|e| format!("seccomp: reading capabilities: {e}"))?;
        if raise {
            caps::raise(None, CapSet::Effective, Capability::CAP_SYS_ADMIN)
                .map_err(|e| format!("seccomp: raising CAP_SYS_ADMIN to load the filter: {e}"))?;
        }
        let prog = libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            filter: self.program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `self.program`, alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc != 0 {
            return Err(format!(
                "seccomp: loading the filter: {}",
                std::io::Error::last_os_error()
            ));
        }
        if raise {
            for set in [CapSet::Effective, CapSet::Permitted] {
                caps::drop(None, set, Capability::CAP_SYS_ADMIN)
                    .map_err(|e| format!("seccomp: dropping CAP_SYS_ADMIN again: {e}"))?;
            }
        }
        Ok(())
    }
}

/// Lets the container's process load its own filter: keeps CAP_SYS_ADMIN in the
/// permitted set when it is not effective and `no_new_privs` is off.
pub(crate) fn admit(process: &mut serde_json::Value) {
    const ADMIN: &str = "CAP_SYS_ADMIN";
    if process["noNewPrivileges"] == true {
        return;
    }
    let caps = &mut process["capabilities"];
    let has =
        |set: &serde_json::Value| set.as_array().is_some_and(|a| a.iter().any(|c| c == ADMIN));
    if has(&caps["effective"]) || has(&caps["permitted"]) {
        return;
    }
    match caps["permitted"].as_array_mut() {
        Some(list) => list.push(ADMIN.into()),
        None => caps["permitted"] = serde_json::json!([ADMIN]),
    }
}

fn uses_notify(seccomp: &LinuxSeccomp) -> bool {
    seccomp.default_action() == LinuxSeccompAction::ScmpActNotify
        || seccomp
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// libseccomp's `SCMP_FLTATR_CTL_OPTIMIZE`: 2 is the binary tree.
const OPTIMIZE: u32 = 2;

/// The profile, the optimization level, libseccomp's version and the kernel: all that
/// decide the program.
fn cache_key(seccomp: &LinuxSeccomp) -> Result<String> {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(seccomp).map_err(|e| Error::Spec(e.to_string()))?);
    h.update(format!("\0optimize {OPTIMIZE}"));
    if let Ok(v) = ScmpVersion::current() {
        h.update(format!("\0{}.{}.{}", v.major, v.minor, v.micro));
    }
    if let Ok(u) = nix::sys::utsname::uname() {
        h.update(b"\0");
        h.update(u.release().as_encoded_bytes());
    }
    Ok(format!("{}.bpf", hex::encode(h.finalize())))
}

/// Compiles `seccomp` into a temp file of the cache (libseccomp exports to a file
/// descriptor), reads the program back and renames the file into place. Two shims
/// compiling the same profile at once both succeed; the last rename wins.
fn compile_into_cache(seccomp: &LinuxSeccomp, dir: &Path, path: &Path) -> Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let io = |what: &str, e: std::io::Error| Error::io(format!("{what} {}", dir.display()), e);
    std::fs::create_dir_all(dir).map_err(|e| io("creating", e))?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("writing in", e))?;
        compile(seccomp)?
            .export_bpf(&f)
            .map_err(|e| seccomp_error("export", e))?;
        let mut bytes = Vec::new();
        f.rewind()
            .and_then(|_| f.read_to_end(&mut bytes))
            .map_err(|e| io("reading in", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("renaming in", e))?;
        Ok(bytes)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn encode(program: &[libc::sock_filter]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * INSN);
    for i in program {
        out.extend(i.code.to_ne_bytes());
        out.push(i.jt);
        out.push(i.jf);
        out.extend(i.k.to_ne_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Vec<libc::sock_filter>> {
    if bytes.is_empty() || bytes.len() % INSN != 0 || bytes.len() / INSN > u16::MAX as usize {
        return Err(Error::Spec(format!(
            "a seccomp program of {} bytes is not a whole number of instructions",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

fn seccomp_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Spec(format!("seccomp: {what}: {e}"))
}

/// The program libseccomp makes of `seccomp`, by the rules of libcontainer's
/// `initialize_seccomp` (which the runtime used before, and still uses with notify).
fn compile(seccomp: &LinuxSeccomp) -> Result<ScmpFilterContext> {
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| seccomp_error("new filter", e))?;
    // A binary search on the syscall number instead of a test per rule in turn: the
    // kernel runs the program for every syscall number of each architecture when it
    // is loaded (to build its cache of always-allowed calls), and for each call whose
    // arguments the profile checks.
    ctx.set_ctl_optimize(OPTIMIZE)
        .map_err(|e| seccomp_error("setting the optimization level", e))?;
    for &arch in seccomp.architectures().iter().flatten() {
        ctx.add_arch(arch_of(arch))
            .map_err(|e| seccomp_error(&format!("adding {arch:?}"), e))?;
    }
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        for name in rule.names() {
            // A name this libseccomp does not know is a syscall the kernel lacks too.
            let Ok(sc) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let args = rule.args().as_deref().unwrap_or_default();
            let cmps: Vec<ScmpArgCompare> = args
                .iter()
                .map(|a| {
                    ScmpArgCompare::new(a.index() as u32, op(a.op(), a.value_two()), a.value())
                })
                .collect();
            let add = |ctx: &mut ScmpFilterContext, c: &[ScmpArgCompare]| {
                ctx.add_rule_conditional(act, sc, c)
                    .map(|_| ())
                    .map_err(|e| seccomp_error(&format!("rule for {name}"), e))
            };
            let mut seen = std::collections::HashSet::new();
            if args.iter().all(|a| seen.insert(a.index())) {
                add(&mut ctx, &cmps)?;
            } else {
                // One comparison per argument and rule: as runc, one rule per comparison.
                for c in &cmps {
                    add(&mut ctx, std::slice::from_ref(c))?;
                }
            }
        }
    }
    Ok(ctx)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => {
            ScmpAction::Trace(u16::try_from(errno).map_err(|e| seccomp_error("trace errno", e))?)
        }
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
    })
}

fn op(o: LinuxSeccompOperator, mask: Option<u64>) -> ScmpCompareOp {
    match o {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(mask.unwrap_or(0)),
    }
}

fn arch_of(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_profile() -> LinuxSeccomp {
        let caps: Vec<String> = crate::DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect();
        serde_json::from_value(crate::seccomp::default_profile(&caps).unwrap()).unwrap()
    }

    #[test]
    fn compiles_once_then_reads_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let profile = default_profile();
        let first = Filter::for_profile(dir.path(), &profile).unwrap().unwrap();
        let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(cached.len(), 1, "one program in the cache");
        let second = Filter::for_profile(dir.path(), &profile).unwrap().unwrap();
        assert_eq!(first, second);
        // Three architectures of Docker's profile: hundreds of instructions.
        assert!(first.program.len() > 500, "{}", first.program.len());
    }

    #[test]
    fn a_torn_cache_file_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let profile = default_profile();
        let good = Filter::for_profile(dir.path(), &profile).unwrap().unwrap();
        let path = dir.path().join(cache_key(&profile).unwrap());
        std::fs::write(&path, b"123").unwrap();
        let again = Filter::for_profile(dir.path(), &profile).unwrap().unwrap();
        assert_eq!(good, again);
    }

    #[test]
    fn save_and_load_round_trip_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = Filter::for_profile(dir.path(), &default_profile())
            .unwrap()
            .unwrap();
        let path = dir.path().join("seccomp.bpf");
        assert_eq!(Filter::load(&path).unwrap(), None);
        f.save(&path).unwrap();
        assert_eq!(Filter::load(&path).unwrap(), Some(f));
    }

    #[test]
    fn notify_profiles_are_left_to_libcontainer() {
        let dir = tempfile::tempdir().unwrap();
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]
        }))
        .unwrap();
        assert_eq!(Filter::for_profile(dir.path(), &p).unwrap(), None);
    }

    #[test]
    fn admit_adds_sys_admin_to_permitted_only_when_needed() {
        let mut p = serde_json::json!({"capabilities": {"effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}});
        admit(&mut p);
        assert_eq!(
            p["capabilities"]["permitted"],
            serde_json::json!(["CAP_KILL", "CAP_SYS_ADMIN"])
        );
        assert_eq!(
            p["capabilities"]["effective"],
            serde_json::json!(["CAP_KILL"])
        );
        let mut nnp =
            serde_json::json!({"noNewPrivileges": true, "capabilities": {"permitted": []}});
        admit(&mut nnp);
        assert_eq!(nnp["capabilities"]["permitted"], serde_json::json!([]));
        let mut admin = serde_json::json!({"capabilities": {"effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]}});
        admit(&mut admin);
        assert_eq!(
            admin["capabilities"]["permitted"],
            serde_json::json!(["CAP_SYS_ADMIN"])
        );
    }
}
