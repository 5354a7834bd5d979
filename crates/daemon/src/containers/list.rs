//! Read paths: `ps` (with docker's filters), `inspect`, `top`, `stats`. They
//! work on copies of records and never wait on a container's operation lock.

use std::collections::{BTreeMap, HashMap};

use berth_api_types::models::{
    ContainerInspectResponse, ContainerState, ContainerStateStatusEnum, ContainerSummary,
    ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
    ContainerTopResponse, DriverData, EndpointSettings, MountPoint, NetworkSettings, PortBinding,
    PortSummary, PortSummaryTypeEnum,
};

use super::record::{Record, Status};
use super::{run, ZERO_TIME};
use crate::images::filters::{check_filter_keys, label_matches, until_of};
use crate::{Daemon, Error, Result};

pub type ContainerFilters = BTreeMap<String, Vec<String>>;

const PS_FILTERS: &[&str] = &[
    "id",
    "name",
    "label",
    "status",
    "exited",
    "ancestor",
    "before",
    "since",
    "network",
    "volume",
    "publish",
    "expose",
    "health",
    "is-task",
    "isolation",
];

pub trait PruneFilter {
    fn matches_prune(&self, r: &Record) -> bool;
}

impl PruneFilter for ContainerFilters {
    fn matches_prune(&self, r: &Record) -> bool {
        let labels = r.config.labels.clone().unwrap_or_default();
        let labels: BTreeMap<String, String> = labels.into_iter().collect();
        if let Some(ls) = self.get("label") {
            if !ls.iter().all(|l| label_matches(&labels, l)) {
                return false;
            }
        }
        if let Some(ls) = self.get("label!") {
            if ls.iter().any(|l| label_matches(&labels, l)) {
                return false;
            }
        }
        if let Some(u) = self.get("until") {
            let Ok(until) = until_of(u) else { return false };
            if created_unix(r) >= until {
                return false;
            }
        }
        true
    }
}

fn created_unix(r: &Record) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&r.created).map_or(0, |t| t.timestamp())
}

fn time_unix(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    (s != ZERO_TIME)
        .then(|| chrono::DateTime::parse_from_rfc3339(s).ok())
        .flatten()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// docker's STATUS column: `Up 2 seconds (Paused)`, `Exited (0) 3 minutes ago`, …
pub fn status_text(r: &Record) -> String {
    let now = chrono::Utc::now();
    let since = |s: &str| {
        time_unix(s)
            .and_then(|t| now.signed_duration_since(t).to_std().ok())
            .unwrap_or_default()
    };
    let human = berth_format::human_duration;
    match r.state.status {
        Status::Running if r.state.paused => {
            format!("Up {} (Paused)", human(since(&r.state.started_at)))
        }
        Status::Running => format!("Up {}", human(since(&r.state.started_at))),
        Status::Restarting => format!(
            "Restarting ({}) {} ago",
            r.state.exit_code,
            human(since(&r.state.finished_at))
        ),
        Status::Removing => "Removal In Progress".into(),
        Status::Dead => "Dead".into(),
        Status::Created => "Created".into(),
        Status::Exited => {
            if time_unix(&r.state.finished_at).is_none() {
                return "Created".into();
            }
            format!(
                "Exited ({}) {} ago",
                r.state.exit_code,
                human(since(&r.state.finished_at))
            )
        }
    }
}

fn state_enum(r: &Record) -> ContainerSummaryStateEnum {
    match r.state.status {
        Status::Running if r.state.paused => ContainerSummaryStateEnum::PAUSED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    }
}

fn state_word(r: &Record) -> &'static str {
    if r.state.status == Status::Running && r.state.paused {
        "paused"
    } else {
        r.state.status.as_str()
    }
}

fn command_line(r: &Record) -> String {
    let mut parts = vec![r.path.clone()];
    parts.extend(r.args.iter().cloned());
    parts.join(" ")
}

fn network_mode(r: &Record) -> String {
    match r.host_config.network_mode.as_deref() {
        None | Some("") | Some("default") => "bridge".into(),
        Some(m) => m.into(),
    }
}

fn port_summaries(r: &Record) -> Vec<PortSummary> {
    let mut out = Vec::new();
    let proto = |p: &str| match p {
        "udp" => PortSummaryTypeEnum::UDP,
        "sctp" => PortSummaryTypeEnum::SCTP,
        _ => PortSummaryTypeEnum::TCP,
    };
    let bound = r
        .endpoint
        .as_ref()
        .map(|e| e.ports.clone())
        .unwrap_or_default();
    for p in &bound {
        let (port, pr) = p.container.split_once('/').unwrap_or((&p.container, "tcp"));
        out.push(PortSummary {
            ip: Some(p.host_ip.clone()),
            private_port: port.parse().unwrap_or(0),
            public_port: Some(p.host_port),
            typ: Some(proto(pr)),
        });
    }
    for e in r.config.exposed_ports.iter().flatten() {
        if bound.iter().any(|b| &b.container == e) {
            continue;
        }
        let (port, pr) = e.split_once('/').unwrap_or((e, "tcp"));
        out.push(PortSummary {
            ip: None,
            private_port: port.parse().unwrap_or(0),
            public_port: None,
            typ: Some(proto(pr)),
        });
    }
    out
}

fn endpoint_settings(r: &Record) -> HashMap<String, EndpointSettings> {
    let mode = network_mode(r);
    let e = r.endpoint.clone().unwrap_or_default();
    let settings = EndpointSettings {
        mac_address: Some(e.mac.clone()),
        network_id: Some(String::new()),
        endpoint_id: Some(String::new()),
        gateway: Some(e.gateway.clone()),
        ip_address: Some(e.ip.clone()),
        ip_prefix_len: Some(e.prefix_len as i64),
        ipv6_gateway: Some(String::new()),
        global_ipv6_address: Some(String::new()),
        global_ipv6_prefix_len: Some(0),
        ..Default::default()
    };
    HashMap::from([(mode, settings)])
}

fn mounts(r: &Record) -> Vec<MountPoint> {
    let mut out = Vec::new();
    for b in r.host_config.binds.iter().flatten() {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 {
            continue;
        }
        let mode = parts.get(2).copied().unwrap_or("");
        out.push(MountPoint {
            typ: Some("bind".to_string()),
            source: Some(parts[0].into()),
            destination: Some(parts[1].into()),
            mode: Some(mode.into()),
            rw: Some(!mode.split(',').any(|m| m == "ro")),
            propagation: Some("rprivate".into()),
            ..Default::default()
        });
    }
    out
}

impl Daemon {
    /// `GET /containers/json`.
    pub fn list_containers(
        &self,
        all: bool,
        limit: Option<usize>,
        size: bool,
        filters: &ContainerFilters,
    ) -> Result<Vec<ContainerSummary>> {
        check_filter_keys(filters, PS_FILTERS)?;
        let mut recs: Vec<Record> = self
            .containers
            .all()
            .iter()
            .map(|c| c.record().clone())
            .collect();
        // Newest first, as docker lists them.
        recs.sort_by(|a, b| b.created.cmp(&a.created));
        let by_name = |v: &str| -> Result<Record> {
            let c = self.containers.get(v)?;
            let r = c.record().clone();
            Ok(r)
        };
        let before = filters
            .get("before")
            .and_then(|v| v.first())
            .map(|v| by_name(v))
            .transpose()?;
        let since = filters
            .get("since")
            .and_then(|v| v.first())
            .map(|v| by_name(v))
            .transpose()?;
        let ancestors: Option<Vec<String>> = filters.get("ancestor").map(|names| {
            names
                .iter()
                .filter_map(|n| self.read().resolve(n).ok().map(|i| i.id().to_string()))
                .collect()
        });
        if let Some(st) = filters.get("status") {
            for s in st {
                if ![
                    "created",
                    "restarting",
                    "running",
                    "removing",
                    "paused",
                    "exited",
                    "dead",
                ]
                .contains(&s.as_str())
                {
                    return Err(Error::InvalidParameter(format!(
                        "invalid filter 'status={s}'"
                    )));
                }
            }
        }
        let mut out = Vec::new();
        let explicit_all = all
            || filters.contains_key("status")
            || filters.contains_key("exited")
            || limit.is_some();
        for r in recs {
            if let Some(b) = &before {
                if r.created >= b.created {
                    continue;
                }
            }
            if let Some(s) = &since {
                if r.created <= s.created {
                    continue;
                }
            }
            if !explicit_all && !r.running() {
                continue;
            }
            if let Some(ids) = filters.get("id") {
                if !ids.iter().any(|i| r.id.starts_with(i.as_str())) {
                    continue;
                }
            }
            if let Some(names) = filters.get("name") {
                let n = r.short_name();
                let hit = names.iter().any(|pat| {
                    regex::Regex::new(pat.trim_start_matches('/'))
                        .map(|re| re.is_match(n))
                        .unwrap_or(false)
                });
                if !hit {
                    continue;
                }
            }
            if let Some(ls) = filters.get("label") {
                let labels: BTreeMap<String, String> = r
                    .config
                    .labels
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .collect();
                if !ls.iter().all(|l| label_matches(&labels, l)) {
                    continue;
                }
            }
            if let Some(st) = filters.get("status") {
                if !st.iter().any(|s| s == state_word(&r)) {
                    continue;
                }
            }
            if let Some(codes) = filters.get("exited") {
                let exited = r.state.status == Status::Exited
                    && codes
                        .iter()
                        .any(|c| c.parse::<i64>().ok() == Some(r.state.exit_code));
                if !exited {
                    continue;
                }
            }
            if let Some(a) = &ancestors {
                if !a.contains(&r.image) {
                    continue;
                }
            }
            if let Some(nets) = filters.get("network") {
                if !nets.contains(&network_mode(&r)) {
                    continue;
                }
            }
            if let Some(ports) = filters.get("publish") {
                let bound = r
                    .endpoint
                    .as_ref()
                    .map(|e| e.ports.clone())
                    .unwrap_or_default();
                let hit = ports.iter().any(|p| {
                    let p = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    bound.iter().any(|b| {
                        format!(
                            "{}/{}",
                            b.host_port,
                            b.container.split('/').nth(1).unwrap_or("tcp")
                        ) == p
                    })
                });
                if !hit {
                    continue;
                }
            }
            if let Some(ports) = filters.get("expose") {
                let exposed = r.config.exposed_ports.clone().unwrap_or_default();
                let hit = ports.iter().any(|p| {
                    let p = if p.contains('/') {
                        p.clone()
                    } else {
                        format!("{p}/tcp")
                    };
                    exposed.contains(&p)
                });
                if !hit {
                    continue;
                }
            }
            out.push(self.container_summary(&r, size));
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }

    fn container_summary(&self, r: &Record, size: bool) -> ContainerSummary {
        let (size_rw, size_root) = if size {
            let rw = run::rw_size(&self.containers.dir(&r.id)) as i64;
            let img = self
                .read()
                .resolve(&r.image)
                .map(|i| i.size() as i64)
                .unwrap_or(0);
            (Some(rw), Some(rw + img))
        } else {
            (None, None)
        };
        ContainerSummary {
            id: Some(r.id.clone()),
            names: Some(vec![r.name.clone()]),
            image: r.config.image.clone(),
            image_id: Some(r.image.clone()),
            command: Some(command_line(r)),
            created: Some(created_unix(r)),
            ports: Some(port_summaries(r)),
            size_rw,
            size_root_fs: size_root,
            labels: Some(r.config.labels.clone().unwrap_or_default()),
            state: Some(state_enum(r)),
            status: Some(status_text(r)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some(network_mode(r)),
                annotations: None,
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: Some(endpoint_settings(r)),
            }),
            mounts: Some(mounts(r)),
            ..Default::default()
        }
    }

    /// `GET /containers/{id}/json`.
    pub fn inspect_container(&self, name: &str, size: bool) -> Result<ContainerInspectResponse> {
        let c = self.containers.get(name)?;
        let r = c.record().clone();
        let dir = self.containers.dir(&r.id);
        let status = match state_enum(&r) {
            ContainerSummaryStateEnum::PAUSED => ContainerStateStatusEnum::PAUSED,
            ContainerSummaryStateEnum::RUNNING => ContainerStateStatusEnum::RUNNING,
            ContainerSummaryStateEnum::CREATED => ContainerStateStatusEnum::CREATED,
            ContainerSummaryStateEnum::RESTARTING => ContainerStateStatusEnum::RESTARTING,
            ContainerSummaryStateEnum::REMOVING => ContainerStateStatusEnum::REMOVING,
            ContainerSummaryStateEnum::DEAD => ContainerStateStatusEnum::DEAD,
            _ => ContainerStateStatusEnum::EXITED,
        };
        let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for e in r.config.exposed_ports.iter().flatten() {
            ports.insert(e.clone(), None);
        }
        for b in r.endpoint.iter().flat_map(|e| e.ports.iter()) {
            ports
                .entry(b.container.clone())
                .or_insert(None)
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(b.host_ip.clone()),
                    host_port: Some(b.host_port.to_string()),
                });
        }
        let upper = dir.join("rw/upper");
        let lower = r
            .lower_dirs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(":");
        let (size_rw, size_root) = if size {
            let s = self.container_summary(&r, true);
            (s.size_rw, s.size_root_fs)
        } else {
            (None, None)
        };
        let path_str = |f: &str| Some(dir.join(f).display().to_string());
        Ok(ContainerInspectResponse {
            id: Some(r.id.clone()),
            created: Some(r.created.clone()),
            path: Some(r.path.clone()),
            args: Some(r.args.clone()),
            state: Some(ContainerState {
                status: Some(status),
                running: Some(r.running()),
                paused: Some(r.state.paused),
                restarting: Some(r.state.status == Status::Restarting),
                oom_killed: Some(r.state.oom_killed),
                dead: Some(r.state.status == Status::Dead),
                pid: Some(r.state.pid),
                exit_code: Some(r.state.exit_code),
                error: Some(r.state.error.clone()),
                started_at: Some(r.state.started_at.clone()),
                finished_at: Some(r.state.finished_at.clone()),
                health: None,
            }),
            image: Some(r.image.clone()),
            resolv_conf_path: path_str("resolv.conf"),
            hostname_path: path_str("hostname"),
            hosts_path: path_str("hosts"),
            log_path: Some(run::log_path(&dir, &r.id).display().to_string()),
            name: Some(r.name.clone()),
            restart_count: Some(r.restart_count),
            driver: Some("overlay2".into()),
            platform: Some("linux".into()),
            mount_label: Some(String::new()),
            process_label: Some(String::new()),
            app_armor_profile: Some(String::new()),
            exec_ids: {
                let ids = self.exec_ids_of(&r.id);
                (!ids.is_empty()).then_some(ids)
            },
            host_config: Some(r.host_config.clone()),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data: HashMap::from([
                    ("LowerDir".to_string(), lower),
                    (
                        "MergedDir".to_string(),
                        dir.join("rw/merged").display().to_string(),
                    ),
                    ("UpperDir".to_string(), upper.display().to_string()),
                    (
                        "WorkDir".to_string(),
                        dir.join("rw/work").display().to_string(),
                    ),
                ]),
            }),
            size_rw,
            size_root_fs: size_root,
            mounts: Some(mounts(&r)),
            config: Some(r.config.clone()),
            network_settings: Some(NetworkSettings {
                sandbox_id: Some(String::new()),
                sandbox_key: Some(if r.state.pid > 0 {
                    format!("/proc/{}/ns/net", r.state.pid)
                } else {
                    String::new()
                }),
                ports: Some(ports),
                networks: Some(endpoint_settings(&r)),
            }),
            ..Default::default()
        })
    }

    /// `GET /containers/{id}/top?ps_args=`: `ps` run on the host, limited to the container's pids.
    pub fn top_container(&self, name: &str, ps_args: Option<&str>) -> Result<ContainerTopResponse> {
        let c = self.containers.get(name)?;
        let r = c.record().clone();
        if r.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                r.id
            )));
        }
        let pids = run::pids(&self.containers.run_dir(&r.id))?;
        let args = ps_args.filter(|a| !a.is_empty()).unwrap_or("-ef");
        let out = std::process::Command::new("ps")
            .args(args.split_whitespace())
            .output()
            .map_err(|e| Error::Internal(format!("error running ps: {e}")))?;
        if !out.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
    }
}

/// dockerd's parsePSOutput: keep the header and the lines whose PID column is one of ours.
fn parse_ps(output: &str, pids: &[i32]) -> Result<ContainerTopResponse> {
    let mut lines = output.lines();
    let header = lines.next().unwrap_or_default();
    let titles: Vec<String> = header.split_whitespace().map(str::to_string).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::Internal("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_col].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|s| s.to_string())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_output_is_cut_to_the_containers_pids() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 12:00 ? 00:00:00 sleep 30\nroot 11 1 0 12:00 ? 00:00:00 other thing\n";
        let top = parse_ps(out, &[10]).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        let procs = top.processes.unwrap();
        assert_eq!(procs.len(), 1);
        assert_eq!(procs[0].last().unwrap(), "sleep 30");
    }
}
