//! The shim socket protocol: one newline-terminated JSON request per connection, one
//! JSON response line (`{"ok":true,…}` or `{"error":"…"}`); attach and exec then keep
//! the connection as a byte stream.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest request line the shim reads (an `exec` with a large environment fits easily).
pub const MAX_REQUEST: usize = 1 << 20;

/// A request to the shim, tagged by `"op"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Release the init from the start barrier.
    Start,
    /// Stream the init's output (and feed its stdin).
    Attach {
        #[serde(default)]
        stdin: bool,
        #[serde(default)]
        stdout: bool,
        #[serde(default)]
        stderr: bool,
    },
    /// Set the terminal size of the init (or of an exec when `exec_id` is set).
    Resize {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exec_id: Option<String>,
        height: u16,
        width: u16,
    },
    /// Run a process inside the container.
    Exec(ExecRequest),
    /// Answer with the exit code of an exec once it has ended.
    ExecWait {
        exec_id: String,
    },
    /// Answer with the init's exit status once it has ended.
    Wait,
    /// Send a signal to the init (`all`: to every process of the container).
    Kill {
        signal: i32,
        #[serde(default)]
        all: bool,
    },
    Pause,
    Resume,
    /// Change the container's cgroup limits; `resources` is `berth_runtime::Resources`.
    Update {
        resources: Value,
    },
    /// cgroup statistics plus the network counters of the container's namespace.
    Stats,
    /// Pids of every process in the container's cgroup.
    Pids,
}

/// `{"op":"exec",…}`: what to run and how to wire its stdio.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecRequest {
    pub exec_id: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Empty: the container's working directory.
    pub cwd: String,
    /// `uid:gid[:extra,…]` already resolved by the daemon; empty: the container's user.
    pub user: String,
    pub tty: bool,
    pub stdin: bool,
    pub privileged: bool,
    /// No stream: the response is the last thing on the connection.
    pub detach: bool,
}

/// How the init ended, as docker reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    pub exit_code: i32,
    pub oom_killed: bool,
    #[serde(with = "rfc3339_nano")]
    pub finished_at: DateTime<Utc>,
}

/// Docker's exit code for a raw `waitpid` status: the exit status, or 128 + the signal
/// that killed the process.
pub fn exit_code(wait_status: i32) -> i32 {
    if libc::WIFEXITED(wait_status) {
        libc::WEXITSTATUS(wait_status)
    } else if libc::WIFSIGNALED(wait_status) {
        128 + libc::WTERMSIG(wait_status)
    } else {
        // Stopped/continued statuses are never asked for (no WUNTRACED); keep docker's
        // "unknown" code rather than inventing one.
        255
    }
}

/// Go's `time.RFC3339Nano` as docker prints times: UTC, fraction without trailing zeros.
pub fn format_rfc3339_nano(t: &DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    // A leap second shows up as nanos >= 1e9; Go has no leap seconds, clamp.
    let nanos = t.timestamp_subsec_nanos().min(999_999_999);
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

mod rfc3339_nano {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339_nano(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// One response line: `{"ok":true}` followed by the fields of `body` (an object or null).
pub fn ok_line(body: Value) -> Vec<u8> {
    let mut map = Map::new();
    map.insert("ok".into(), Value::Bool(true));
    if let Value::Object(fields) = body {
        map.extend(fields);
    }
    line(Value::Object(map))
}

/// One error response line: `{"error":"…"}`.
pub fn error_line(message: &str) -> Vec<u8> {
    let mut map = Map::new();
    map.insert("error".into(), Value::String(message.to_owned()));
    line(Value::Object(map))
}

fn line(v: Value) -> Vec<u8> {
    let mut out = v.to_string().into_bytes();
    out.push(b'\n');
    out
}

/// Splits a response line into its body (without `ok`) or the shim's error text.
pub fn parse_response(line: &[u8]) -> Result<Map<String, Value>, ResponseError> {
    let v: Value =
        serde_json::from_slice(line).map_err(|e| ResponseError::Malformed(e.to_string()))?;
    let Value::Object(mut map) = v else {
        return Err(ResponseError::Malformed(
            "response is not a JSON object".into(),
        ));
    };
    if let Some(err) = map.remove("error") {
        return Err(ResponseError::Shim(match err {
            Value::String(s) => s,
            other => other.to_string(),
        }));
    }
    if map.remove("ok") != Some(Value::Bool(true)) {
        return Err(ResponseError::Malformed(
            "response has neither \"ok\" nor \"error\"".into(),
        ));
    }
    Ok(map)
}

/// Why a response line is not a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// The shim answered `{"error":…}`.
    Shim(String),
    /// The line is not a protocol response.
    Malformed(String),
}

/// The answer to `{"op":"stats"}`: the cgroup sample with the network counters of the
/// container's namespace beside it (one flat JSON object).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    #[serde(flatten)]
    pub cgroup: berth_runtime::Stats,
    /// Per interface, loopback left out.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, crate::netdev::NetworkStats>,
}

/// Docker's 8-byte multiplexing header stream ids.
pub const STREAM_STDOUT: u8 = 1;
pub const STREAM_STDERR: u8 = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[test]
    fn requests_encode_with_op_tags() {
        let cases = [
            (Request::Start, json!({"op":"start"})),
            (Request::Wait, json!({"op":"wait"})),
            (
                Request::Attach {
                    stdin: true,
                    stdout: true,
                    stderr: false,
                },
                json!({"op":"attach","stdin":true,"stdout":true,"stderr":false}),
            ),
            (
                Request::Resize {
                    exec_id: None,
                    height: 24,
                    width: 80,
                },
                json!({"op":"resize","height":24,"width":80}),
            ),
            (
                Request::Resize {
                    exec_id: Some("e1".into()),
                    height: 1,
                    width: 2,
                },
                json!({"op":"resize","exec_id":"e1","height":1,"width":2}),
            ),
            (
                Request::Kill {
                    signal: 9,
                    all: true,
                },
                json!({"op":"kill","signal":9,"all":true}),
            ),
            (
                Request::ExecWait {
                    exec_id: "x".into(),
                },
                json!({"op":"exec_wait","exec_id":"x"}),
            ),
            (Request::Pids, json!({"op":"pids"})),
        ];
        for (req, want) in cases {
            assert_eq!(serde_json::to_value(&req).unwrap(), want);
            assert_eq!(serde_json::from_value::<Request>(want).unwrap(), req);
        }
    }

    #[test]
    fn exec_request_is_flat_and_defaults_missing_fields() {
        let req: Request =
            serde_json::from_str(r#"{"op":"exec","exec_id":"e","args":["echo","hi"],"tty":true}"#)
                .unwrap();
        let Request::Exec(e) = req else {
            panic!("not an exec: {req:?}")
        };
        assert_eq!(e.exec_id, "e");
        assert_eq!(e.args, ["echo", "hi"]);
        assert!(e.tty && !e.stdin && !e.detach && e.user.is_empty());
        let v = serde_json::to_value(Request::Exec(e)).unwrap();
        assert_eq!(v["op"], "exec");
        assert_eq!(v["args"][1], "hi");
    }

    #[test]
    fn kill_all_defaults_to_false_and_unknown_ops_fail() {
        let r: Request = serde_json::from_str(r#"{"op":"kill","signal":15}"#).unwrap();
        assert_eq!(
            r,
            Request::Kill {
                signal: 15,
                all: false
            }
        );
        assert!(serde_json::from_str::<Request>(r#"{"op":"explode"}"#).is_err());
    }

    #[test]
    fn exit_codes_follow_docker() {
        // Raw wait statuses: exited N is N<<8, killed by S is S.
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(255 << 8), 255);
        assert_eq!(exit_code(libc::SIGKILL), 137);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        // Killed with a core dump (0x80 flag) still maps to 128+signal.
        assert_eq!(exit_code(libc::SIGSEGV | 0x80), 139);
    }

    #[test]
    fn times_print_like_go_rfc3339_nano() {
        let t = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        assert_eq!(format_rfc3339_nano(&t), "2026-11-23T12:00:00Z");
        let t = t + chrono::Duration::nanoseconds(123_450_000);
        assert_eq!(format_rfc3339_nano(&t), "2026-11-23T12:00:00.12345Z");
        let t = t + chrono::Duration::nanoseconds(9);
        assert_eq!(format_rfc3339_nano(&t), "2026-11-23T12:00:00.123450009Z");
    }

    #[test]
    fn exit_status_round_trips() {
        let st = ExitStatus {
            exit_code: 137,
            oom_killed: true,
            finished_at: Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
                + chrono::Duration::nanoseconds(500_000_000),
        };
        let s = serde_json::to_string(&st).unwrap();
        assert_eq!(
            s,
            r#"{"exit_code":137,"oom_killed":true,"finished_at":"2026-01-02T03:04:05.5Z"}"#
        );
        assert_eq!(serde_json::from_str::<ExitStatus>(&s).unwrap(), st);
    }

    #[test]
    fn stats_answer_is_one_flat_object() {
        let mut st = ContainerStats::default();
        st.cgroup.cpu_total_ns = 5;
        st.networks.insert(
            "eth0".into(),
            crate::netdev::NetworkStats {
                rx_bytes: 7,
                ..Default::default()
            },
        );
        let v = serde_json::to_value(&st).unwrap();
        assert_eq!(v["cpu_total_ns"], 5);
        assert_eq!(v["networks"]["eth0"]["rx_bytes"], 7);
        assert_eq!(serde_json::from_value::<ContainerStats>(v).unwrap(), st);
    }

    #[test]
    fn response_lines() {
        assert_eq!(ok_line(Value::Null), b"{\"ok\":true}\n");
        assert_eq!(ok_line(json!({"pid": 7})), b"{\"ok\":true,\"pid\":7}\n");
        assert_eq!(error_line("no \"x\""), b"{\"error\":\"no \\\"x\\\"\"}\n");
        let body = parse_response(b"{\"ok\":true,\"pid\":7}").unwrap();
        assert_eq!(body.get("pid"), Some(&json!(7)));
        assert!(!body.contains_key("ok"));
        assert_eq!(
            parse_response(b"{\"error\":\"container not running\"}"),
            Err(ResponseError::Shim("container not running".into()))
        );
        assert!(matches!(
            parse_response(b"{}"),
            Err(ResponseError::Malformed(_))
        ));
        assert!(matches!(
            parse_response(b"nope"),
            Err(ResponseError::Malformed(_))
        ));
    }
}
