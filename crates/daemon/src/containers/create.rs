//! `POST /containers/create`: the request merged with the image's config the
//! way dockerd does it, checked before anything is written.

use berth_api_types::models::{
    ContainerConfig, ContainerCreateBody, HostConfig, RestartPolicyNameEnum,
};
use berth_image::config::ImageConfig;

use crate::{Error, Result};

/// Checks a requested name: docker's rule and text.
pub fn validate_name(name: &str) -> Result<String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = bare.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(Error::InvalidParameter(format!(
            "Invalid container name ({bare}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    Ok(format!("/{bare}"))
}

/// The container's config: the request over the image's defaults. Returns the
/// config to store and the process (path, args) it runs.
pub fn merge_config(
    body: &ContainerCreateBody,
    image: &ImageConfig,
) -> Result<(ContainerConfig, String, Vec<String>)> {
    let img = image.config.clone().unwrap_or_default();
    let mut c = ContainerConfig {
        hostname: body.hostname.clone(),
        domainname: body.domainname.clone(),
        user: body.user.clone(),
        attach_stdin: body.attach_stdin,
        attach_stdout: body.attach_stdout,
        attach_stderr: body.attach_stderr,
        exposed_ports: body.exposed_ports.clone(),
        tty: body.tty,
        open_stdin: body.open_stdin,
        stdin_once: body.stdin_once,
        env: body.env.clone(),
        cmd: body.cmd.clone(),
        healthcheck: body.healthcheck.clone(),
        args_escaped: body.args_escaped,
        image: body.image.clone(),
        volumes: body.volumes.clone(),
        working_dir: body.working_dir.clone(),
        entrypoint: body.entrypoint.clone(),
        network_disabled: body.network_disabled,
        on_build: body.on_build.clone(),
        labels: body.labels.clone(),
        stop_signal: body.stop_signal.clone(),
        stop_timeout: body.stop_timeout,
        shell: body.shell.clone(),
    };
    // dockerd's merge: a user entrypoint drops the image's Cmd; empty values fall back.
    let user_entrypoint = c.entrypoint.as_ref().is_some_and(|e| !e.is_empty());
    if !user_entrypoint {
        if c.entrypoint.is_none() || c.entrypoint.as_ref().is_some_and(|e| e.is_empty()) {
            c.entrypoint = img.entrypoint.clone().filter(|e| !e.is_empty());
        }
        if c.cmd.as_ref().is_none_or(|v| v.is_empty()) {
            c.cmd = img.cmd.clone();
        }
    }
    if c.user.as_deref().is_none_or(str::is_empty) {
        c.user = img.user.clone();
    }
    if c.working_dir.as_deref().is_none_or(str::is_empty) {
        c.working_dir = img.working_dir.clone();
    }
    if c.stop_signal.as_deref().is_none_or(str::is_empty) {
        c.stop_signal = img.stop_signal.clone();
    }
    let mut env = img.env.clone().unwrap_or_default();
    for e in c.env.take().unwrap_or_default() {
        let key = e.split('=').next().unwrap_or_default().to_string();
        env.retain(|old| old.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    c.env = Some(env);
    let mut ports: Vec<String> = img
        .exposed_ports
        .as_ref()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for p in c.exposed_ports.take().unwrap_or_default() {
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    ports.sort();
    c.exposed_ports = Some(ports);
    if let Some(img_labels) = &img.labels {
        let labels = c.labels.get_or_insert_with(Default::default);
        for (k, v) in img_labels {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    if c.volumes.is_none() {
        c.volumes = img.volumes.as_ref().map(|m| m.keys().cloned().collect());
    }
    let mut argv: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    argv.extend(c.cmd.clone().unwrap_or_default());
    if argv.is_empty() {
        return Err(Error::InvalidParameter("no command specified".into()));
    }
    let path = argv.remove(0);
    Ok((c, path, argv))
}

/// dockerd's host-config checks, with its texts.
pub fn validate_host_config(hc: &HostConfig, ncpu: usize) -> Result<()> {
    let bad = |m: String| Err(Error::InvalidParameter(m));
    let memory = hc.memory.unwrap_or(0);
    if memory != 0 && memory < 6 * 1024 * 1024 {
        return bad("Minimum memory limit allowed is 6MB".into());
    }
    let swap = hc.memory_swap.unwrap_or(0);
    if memory > 0 && swap > 0 && swap < memory {
        return bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        );
    }
    if swap > 0 && memory == 0 {
        return bad(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        );
    }
    let nano = hc.nano_cpus.unwrap_or(0);
    if nano < 0 || nano > ncpu as i64 * 1_000_000_000 {
        return bad(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        ));
    }
    if nano > 0 && (hc.cpu_quota.unwrap_or(0) > 0 || hc.cpu_period.unwrap_or(0) > 0) {
        return bad("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if hc.cpu_shares.unwrap_or(0) < 0 {
        return bad("invalid CPU shares: must be positive".into());
    }
    if let Some(p) = &hc.restart_policy {
        let retries = p.maximum_retry_count.unwrap_or(0);
        match p.name {
            Some(RestartPolicyNameEnum::ON_FAILURE) if retries < 0 => {
                return bad(
                    "invalid restart policy: maximum retry count cannot be negative".into(),
                );
            }
            Some(RestartPolicyNameEnum::ALWAYS) | Some(RestartPolicyNameEnum::UNLESS_STOPPED)
                if retries != 0 =>
            {
                return bad(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'"
                        .into(),
                );
            }
            _ => {}
        }
        let has_policy = matches!(
            p.name,
            Some(RestartPolicyNameEnum::ALWAYS)
                | Some(RestartPolicyNameEnum::UNLESS_STOPPED)
                | Some(RestartPolicyNameEnum::ON_FAILURE)
        );
        if has_policy && hc.auto_remove == Some(true) {
            return bad("conflicting options: cannot specify both --restart and --rm".into());
        }
    }
    for (port, bindings) in hc.port_bindings.iter().flatten() {
        parse_port_proto(port)?;
        for b in bindings.iter().flatten() {
            if let Some(hp) = b.host_port.as_deref().filter(|s| !s.is_empty()) {
                parse_host_port(hp)?;
            }
        }
    }
    match hc.network_mode.as_deref() {
        None | Some("") | Some("default") | Some("bridge") | Some("none") | Some("host") => {}
        Some(other) if other.starts_with("container:") => {
            return bad(format!("network mode {other} is not supported"))
        }
        Some(other) => return Err(Error::NotFound(format!("network {other} not found"))),
    }
    Ok(())
}

/// `80/tcp` → (80, "tcp"); docker's texts on error.
pub fn parse_port_proto(s: &str) -> Result<(u16, String)> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let port: u16 =
        port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
            Error::InvalidParameter(format!("invalid port specification: \"{s}\""))
        })?;
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(Error::InvalidParameter(format!("invalid proto: {proto}")));
    }
    Ok((port, proto.to_string()))
}

pub fn parse_host_port(s: &str) -> Result<u16> {
    s.parse::<u16>()
        .map_err(|_| Error::InvalidParameter(format!("invalid port specification: \"{s}\"")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let mut cfg: ImageConfig = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
                "config":{"Env":["PATH=/bin","A=1"],"WorkingDir":"/w","ExposedPorts":{"80/tcp":{}}}}"#,
        )
        .unwrap();
        let c = cfg.config.as_mut().unwrap();
        c.entrypoint = entrypoint.map(v);
        c.cmd = cmd.map(v);
        cfg
    }

    #[test]
    fn names_follow_dockers_rule() {
        assert_eq!(validate_name("web-1").unwrap(), "/web-1");
        assert_eq!(validate_name("/a.b").unwrap(), "/a.b");
        let e = validate_name("-x").unwrap_err().to_string();
        assert_eq!(
            e,
            "Invalid container name (-x), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        );
        assert!(validate_name("a").is_err());
    }

    #[test]
    fn cmd_and_entrypoint_merge_as_dockerd() {
        let img = image(Some(&["/ep"]), Some(&["dflt"]));
        let body = ContainerCreateBody::default();
        let (_, path, args) = merge_config(&body, &img).unwrap();
        assert_eq!((path.as_str(), args), ("/ep", vec!["dflt".to_string()]));

        let body = ContainerCreateBody {
            cmd: Some(vec!["x".into()]),
            ..Default::default()
        };
        let (_, path, args) = merge_config(&body, &img).unwrap();
        assert_eq!((path.as_str(), args), ("/ep", vec!["x".to_string()]));

        // A user entrypoint drops the image's Cmd.
        let body = ContainerCreateBody {
            entrypoint: Some(vec!["/other".into()]),
            ..Default::default()
        };
        let (_, path, args) = merge_config(&body, &img).unwrap();
        assert_eq!(path, "/other");
        assert!(args.is_empty());

        let empty = image(None, None);
        let err = merge_config(&ContainerCreateBody::default(), &empty).unwrap_err();
        assert_eq!(err.to_string(), "no command specified");
    }

    #[test]
    fn env_ports_and_workdir_come_from_the_image_unless_set() {
        let img = image(None, Some(&["sh"]));
        let body = ContainerCreateBody {
            env: Some(vec!["A=2".into(), "B=3".into()]),
            exposed_ports: Some(vec!["53/udp".into()]),
            ..Default::default()
        };
        let (c, _, _) = merge_config(&body, &img).unwrap();
        assert_eq!(c.env.unwrap(), vec!["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(c.exposed_ports.unwrap(), vec!["53/udp", "80/tcp"]);
        assert_eq!(c.working_dir.as_deref(), Some("/w"));
    }

    #[test]
    fn host_config_limits_are_checked_with_dockers_texts() {
        let hc = HostConfig {
            memory: Some(1024),
            ..Default::default()
        };
        assert_eq!(
            validate_host_config(&hc, 2).unwrap_err().to_string(),
            "Minimum memory limit allowed is 6MB"
        );
        let hc = HostConfig {
            nano_cpus: Some(-1),
            ..Default::default()
        };
        assert_eq!(
            validate_host_config(&hc, 2).unwrap_err().to_string(),
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"
        );
        assert!(validate_host_config(&HostConfig::default(), 2).is_ok());
        assert!(parse_port_proto("80/tcp").is_ok());
        assert!(parse_port_proto("99999/tcp").is_err());
    }
}
