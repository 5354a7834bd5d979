//! Live progress of pull and push on a terminal: one indicatif bar per layer,
//! the other messages printed above them in arrival order. Without a terminal
//! the plain `jsonmsg::Display` lines are used instead.

use std::collections::HashMap;
use std::io::Write;

use hyper::body::Incoming;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::error::{CliError, Result};
use crate::jsonmsg::{display_stream, progress_string, MessageStream};

/// What one JSON message means for the display.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    /// An `aux` payload for the caller.
    Aux(Value),
    /// The stream's error; display stops.
    Error(String),
    /// A layer's status with its byte counts (`total` 0 when unknown).
    Layer {
        id: String,
        status: String,
        current: u64,
        total: u64,
    },
    /// A line printed once (`id: status`, a `stream` chunk, …).
    Text(String),
}

/// Classifies a message with the rules of docker's `jsonmessage`.
pub fn classify(msg: &Value) -> Line {
    let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or("");
    if let Some(aux) = msg.get("aux") {
        return Line::Aux(aux.clone());
    }
    if let Some(err) = msg.get("errorDetail").filter(|v| !v.is_null()) {
        let m = err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or(s("error"));
        return Line::Error(m.to_string());
    }
    if msg.get("error").and_then(Value::as_str).is_some() {
        return Line::Error(s("error").to_string());
    }
    let progress = msg.get("progressDetail").filter(|v| v.is_object());
    if !s("id").is_empty() && (progress.is_some() || !s("progress").is_empty()) {
        let n = |k: &str| {
            progress
                .and_then(|p| p.get(k))
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .max(0) as u64
        };
        return Line::Layer {
            id: s("id").to_string(),
            status: s("status").to_string(),
            current: n("current"),
            total: n("total"),
        };
    }
    let mut text = String::new();
    if !s("id").is_empty() {
        text.push_str(&format!("{}: ", s("id")));
    }
    if !s("from").is_empty() {
        text.push_str(&format!("(from {}) ", s("from")));
    }
    if !s("stream").is_empty() {
        text.push_str(s("stream").trim_end_matches('\n'));
    } else {
        text.push_str(s("status"));
    }
    Line::Text(text)
}

/// Layer bars under a `MultiProgress`.
pub struct LiveDisplay {
    mp: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    /// Layer ids in the order their bars appeared.
    order: Vec<String>,
}

fn text_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}{msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:50}] {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl LiveDisplay {
    pub fn new(target: ProgressDrawTarget) -> Self {
        LiveDisplay {
            mp: MultiProgress::with_draw_target(target),
            bars: HashMap::new(),
            order: Vec::new(),
        }
    }

    /// The bar of a layer, if it is on screen.
    #[cfg(test)]
    pub fn bar(&self, id: &str) -> Option<&ProgressBar> {
        self.bars.get(id)
    }

    /// Applies one message; returns `aux` payloads, errors end the display.
    pub fn show(&mut self, msg: &Value) -> Result<Option<Value>> {
        match classify(msg) {
            Line::Aux(v) => return Ok(Some(v)),
            Line::Error(e) => {
                self.freeze();
                return Err(CliError::msg(e));
            }
            Line::Layer {
                id,
                status,
                current,
                total,
            } => {
                let bar = match self.bars.get(&id) {
                    Some(b) => b.clone(),
                    None => {
                        let b = self.mp.add(ProgressBar::new(0).with_style(text_style()));
                        self.bars.insert(id.clone(), b.clone());
                        self.order.push(id.clone());
                        b
                    }
                };
                if total > 0 && current <= total {
                    bar.set_style(bar_style());
                    bar.set_length(total);
                    bar.set_position(current);
                    bar.set_prefix(format!("{id}: {status}"));
                    let detail = serde_json::json!({"current": current, "total": total});
                    bar.set_message(progress_string(&detail, 0).trim_start().to_string());
                } else {
                    bar.set_style(text_style());
                    bar.set_prefix(format!("{id}: {status}"));
                    let detail = serde_json::json!({"current": current});
                    let size = progress_string(&detail, 0);
                    bar.set_message(if size.is_empty() {
                        size
                    } else {
                        format!(" {}", size.trim_start())
                    });
                }
            }
            Line::Text(t) => {
                // A message that is no layer ends the current group of bars, as
                // docker starts new lines then: keep them above, in order.
                self.freeze();
                self.mp.println(t)?;
            }
        }
        Ok(None)
    }

    /// Replaces the live bars by their last text, printed above what follows.
    pub fn freeze(&mut self) {
        for id in self.order.drain(..) {
            if let Some(bar) = self.bars.remove(&id) {
                let line = format!("{}{}", bar.prefix(), bar.message());
                bar.finish_and_clear();
                self.mp.remove(&bar);
                let _ = self.mp.println(line);
            }
        }
    }
}

/// Renders a pull/push stream: live bars on a terminal (drawn on stdout),
/// docker's plain lines into `out` otherwise. Returns the `aux` payloads.
pub async fn render_stream(
    body: Incoming,
    out: &mut dyn Write,
    terminal: bool,
) -> Result<Vec<Value>> {
    if !terminal {
        return display_stream(body, out, false).await;
    }
    let mut stream = MessageStream::new(body);
    let mut aux = Vec::new();
    out.flush()?;
    let mut live = LiveDisplay::new(ProgressDrawTarget::stdout());
    while let Some(msg) = stream.next().await? {
        if let Some(a) = live.show(&msg)? {
            aux.push(a);
        }
    }
    live.freeze();
    Ok(aux)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classification_follows_jsonmessage() {
        assert_eq!(
            classify(&json!({"status":"Pulling from library/busybox","id":"latest"})),
            Line::Text("latest: Pulling from library/busybox".into())
        );
        assert_eq!(
            classify(
                &json!({"status":"Downloading","progressDetail":{"current":10,"total":100},"progress":"[=> ]","id":"abc"})
            ),
            Line::Layer {
                id: "abc".into(),
                status: "Downloading".into(),
                current: 10,
                total: 100
            }
        );
        assert_eq!(
            classify(&json!({"status":"Pull complete","progressDetail":{},"id":"abc"})),
            Line::Layer {
                id: "abc".into(),
                status: "Pull complete".into(),
                current: 0,
                total: 0
            }
        );
        assert_eq!(
            classify(&json!({"status":"Digest: sha256:1"})),
            Line::Text("Digest: sha256:1".into())
        );
        assert_eq!(
            classify(&json!({"stream":"hello\n"})),
            Line::Text("hello".into())
        );
        assert_eq!(
            classify(&json!({"errorDetail":{"message":"denied"},"error":"denied"})),
            Line::Error("denied".into())
        );
        assert_eq!(
            classify(&json!({"aux":{"Tag":"latest"}})),
            Line::Aux(json!({"Tag":"latest"}))
        );
    }

    #[test]
    fn live_bars_track_layers() {
        let mut d = LiveDisplay::new(ProgressDrawTarget::hidden());
        d.show(&json!({"status":"Pulling fs layer","progressDetail":{},"id":"l1"}))
            .unwrap();
        d.show(&json!({"status":"Downloading","progressDetail":{"current":500,"total":1000},"id":"l1"}))
            .unwrap();
        let b = d.bar("l1").unwrap();
        assert_eq!(b.prefix(), "l1: Downloading");
        assert_eq!(b.length(), Some(1000));
        assert_eq!(b.position(), 500);
        assert_eq!(b.message(), "500B/1kB");
        d.show(&json!({"status":"Pull complete","progressDetail":{},"id":"l1"}))
            .unwrap();
        assert_eq!(d.bar("l1").unwrap().prefix(), "l1: Pull complete");
        assert_eq!(d.bar("l1").unwrap().message(), "");
        // A plain line closes the group of bars.
        d.show(&json!({"status":"Digest: sha256:1"})).unwrap();
        assert!(d.bar("l1").is_none());
        let aux = d.show(&json!({"aux":{"Size":3}})).unwrap();
        assert_eq!(aux, Some(json!({"Size":3})));
        let e = d
            .show(&json!({"errorDetail":{"message":"boom"},"error":"boom"}))
            .unwrap_err();
        assert_eq!(e.to_string(), "boom");
    }
}
