//! `exec`: extra processes in a running container, run by its shim. Exec
//! instances live in memory, as in dockerd.

use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use berth_api_types::models::{ExecConfig, ExecInspectResponse, ProcessConfig};
use berth_shim::ExecRequest;

use super::record::Status;
use super::run;
use crate::{Daemon, Error, Result};

pub struct Exec {
    pub id: String,
    pub container_id: String,
    config: ExecConfig,
    state: Mutex<ExecState>,
}

#[derive(Default)]
struct ExecState {
    started: bool,
    running: bool,
    exit_code: Option<i64>,
    pid: i64,
}

/// What `exec start` gives the API: a stream unless detached.
pub struct ExecStart {
    pub tty: bool,
    pub stream: Option<ExecStream>,
}

/// The exec's byte stream; hand it back to [`Daemon::exec_finished`] when it ends.
pub struct ExecStream {
    pub stream: UnixStream,
    pub exec_id: String,
}

fn no_such_exec(id: &str) -> Error {
    Error::NotFound(format!("No such exec instance: {id}"))
}

impl Daemon {
    fn exec(&self, id: &str) -> Result<Arc<Exec>> {
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| no_such_exec(id))
    }

    pub(crate) fn exec_ids_of(&self, container_id: &str) -> Vec<String> {
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|e| e.container_id == container_id)
            .map(|e| e.id.clone())
            .collect()
    }

    /// `POST /containers/{id}/exec`.
    pub fn create_exec(&self, name: &str, config: ExecConfig) -> Result<String> {
        let c = self.containers.get(name)?;
        // The exec's process joins the container's cgroup when it starts, a moment later.
        berth_runtime::cgroups::warm_attach_lock();
        let r = c.record();
        if r.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                r.id
            )));
        }
        if r.state.paused {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                r.id
            )));
        }
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::InvalidParameter("No exec command specified".into()));
        }
        let id = format!(
            "{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        let exec = Arc::new(Exec {
            id: id.clone(),
            container_id: r.id.clone(),
            config,
            state: Mutex::new(ExecState::default()),
        });
        let cmd = exec.config.cmd.clone().unwrap_or_default().join(" ");
        self.container_event(
            &format!("exec_create: {cmd}"),
            &r,
            &[("execID", id.clone())],
        );
        drop(r);
        self.containers
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.clone(), exec);
        Ok(id)
    }

    /// `POST /exec/{id}/start`.
    pub fn start_exec(&self, id: &str, detach: bool) -> Result<ExecStart> {
        let exec = self.exec(id)?;
        let c = self.containers.get(&exec.container_id)?;
        let rec = c.record().clone();
        if rec.state.status != Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                rec.id
            )));
        }
        {
            let mut st = exec.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.running {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {id} is already running"
                )));
            }
            if st.started {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {id} has already run"
                )));
            }
            st.started = true;
            st.running = true;
        }
        let cfg = &exec.config;
        let rootfs = self.containers.dir(&rec.id).join("rw/merged");
        let user_spec = cfg
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .or_else(|| rec.config.user.clone())
            .unwrap_or_default();
        let fail = |e: Error| {
            let mut st = exec.state.lock().unwrap_or_else(|e| e.into_inner());
            st.running = false;
            st.exit_code = Some(126);
            e
        };
        let user = berth_runtime::resolve_user(&rootfs, &user_spec)
            .map_err(|e| fail(Error::InvalidParameter(e.to_string())))?;
        let mut user_str = format!("{}:{}", user.uid, user.gid);
        if !user.additional_gids.is_empty() {
            let extra: Vec<String> = user.additional_gids.iter().map(u32::to_string).collect();
            user_str.push(':');
            user_str.push_str(&extra.join(","));
        }
        let mut env = rec.config.env.clone().unwrap_or_default();
        for e in cfg.env.iter().flatten() {
            let key = e.split('=').next().unwrap_or_default();
            env.retain(|old| old.split('=').next() != Some(key));
            env.push(e.clone());
        }
        let tty = cfg.tty.unwrap_or(false);
        if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let req = ExecRequest {
            exec_id: id.to_string(),
            args: cfg.cmd.clone().unwrap_or_default(),
            env,
            cwd: cfg
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .or_else(|| rec.config.working_dir.clone().filter(|w| !w.is_empty()))
                .unwrap_or_else(|| "/".into()),
            user: user_str,
            tty,
            stdin: cfg.attach_stdin.unwrap_or(false),
            privileged: cfg.privileged.unwrap_or(false),
            detach,
        };
        let run_dir = self.containers.run_dir(&rec.id);
        let (pid, stream) = run::client(&run_dir)?.exec(&req).map_err(|e| {
            fail(Error::Internal(format!(
                "OCI runtime exec failed: exec failed: {}: unknown",
                e.to_string().trim_start_matches("shim: ")
            )))
        })?;
        exec.state.lock().unwrap_or_else(|e| e.into_inner()).pid = pid as i64;
        let cmd = cfg.cmd.clone().unwrap_or_default().join(" ");
        self.container_event(
            &format!("exec_start: {cmd}"),
            &rec,
            &[("execID", id.to_string())],
        );
        if detach {
            if let Some(me) = self.me.upgrade() {
                let id = id.to_string();
                let _ = std::thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn(move || me.exec_finished(&id));
            }
            return Ok(ExecStart { tty, stream: None });
        }
        Ok(ExecStart {
            tty,
            stream: stream.map(|stream| ExecStream {
                stream,
                exec_id: id.to_string(),
            }),
        })
    }

    /// Records an exec's exit code (blocks until the shim reports it). The API
    /// calls this before closing the client's stream so `exec inspect` is right.
    pub fn exec_finished(&self, id: &str) {
        let Ok(exec) = self.exec(id) else { return };
        let run_dir = self.containers.run_dir(&exec.container_id);
        let code = run::client(&run_dir)
            .and_then(|c| c.exec_wait(id).map_err(|e| Error::Internal(e.to_string())))
            .map(i64::from)
            .unwrap_or(126);
        let mut st = exec.state.lock().unwrap_or_else(|e| e.into_inner());
        st.running = false;
        st.exit_code = Some(code);
        drop(st);
        if let Ok(c) = self.containers.get(&exec.container_id) {
            let r = c.record();
            self.container_event(
                "exec_die",
                &r,
                &[("execID", id.to_string()), ("exitCode", code.to_string())],
            );
        }
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect_exec(&self, id: &str) -> Result<ExecInspectResponse> {
        let exec = self.exec(id)?;
        let st = exec.state.lock().unwrap_or_else(|e| e.into_inner());
        let cfg = &exec.config;
        let mut args = cfg.cmd.clone().unwrap_or_default();
        let entrypoint = if args.is_empty() {
            String::new()
        } else {
            args.remove(0)
        };
        Ok(ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(cfg.detach_keys.clone().unwrap_or_default()),
            id: Some(exec.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(ProcessConfig {
                privileged: Some(cfg.privileged.unwrap_or(false)),
                user: Some(cfg.user.clone().unwrap_or_default()),
                tty: Some(cfg.tty.unwrap_or(false)),
                entrypoint: Some(entrypoint),
                arguments: Some(args),
            }),
            open_stdin: Some(cfg.attach_stdin.unwrap_or(false)),
            open_stderr: Some(cfg.attach_stderr.unwrap_or(false)),
            open_stdout: Some(cfg.attach_stdout.unwrap_or(false)),
            container_id: Some(exec.container_id.clone()),
            pid: Some(st.pid),
        })
    }

    /// `POST /exec/{id}/resize`.
    pub fn resize_exec(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let exec = self.exec(id)?;
        run::resize(&self.containers.run_dir(&exec.container_id), Some(id), h, w)
    }
}
