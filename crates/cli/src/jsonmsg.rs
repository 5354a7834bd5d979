//! Docker's JSON message streams (load, import, pull, push, build): a decoder for
//! concatenated JSON objects arriving in arbitrary chunks, and the display rules
//! of docker's `jsonmessage` package.

use std::collections::HashMap;
use std::io::Write;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use crate::error::{CliError, Result};

/// Splits a byte stream into JSON values as they complete.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete value, `None` if more input is needed.
    pub fn next_value(&mut self) -> Result<Option<Value>> {
        let mut it = serde_json::Deserializer::from_slice(&self.buf).into_iter::<Value>();
        match it.next() {
            Some(Ok(v)) => {
                let used = it.byte_offset();
                self.buf.drain(..used);
                Ok(Some(v))
            }
            Some(Err(e)) if e.is_eof() => Ok(None),
            Some(Err(e)) => Err(CliError::msg(format!("error decoding daemon message: {e}"))),
            None => {
                self.buf.clear();
                Ok(None)
            }
        }
    }
}

/// Reads JSON messages from a response body, one at a time.
pub struct MessageStream {
    body: Incoming,
    decoder: Decoder,
    done: bool,
}

impl MessageStream {
    pub fn new(body: Incoming) -> Self {
        MessageStream {
            body,
            decoder: Decoder::default(),
            done: false,
        }
    }

    pub async fn next(&mut self) -> Result<Option<Value>> {
        loop {
            if let Some(v) = self.decoder.next_value()? {
                return Ok(Some(v));
            }
            if self.done {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(d) = frame.data_ref() {
                        self.decoder.push(d);
                    }
                }
                Some(Err(e)) => return Err(CliError::Transport(e.to_string())),
                None => self.done = true,
            }
        }
    }
}

/// Docker's progress bar text for `progressDetail` (`jsonmessage.JSONProgress.String`).
pub fn progress_string(detail: &Value, width: usize) -> String {
    let current = detail.get("current").and_then(Value::as_i64).unwrap_or(0);
    let total = detail.get("total").and_then(Value::as_i64).unwrap_or(0);
    let units = detail.get("units").and_then(Value::as_str).unwrap_or("");
    if current <= 0 && total <= 0 {
        return String::new();
    }
    if total <= 0 {
        return if units.is_empty() {
            format!("{:>8}", berth_format::human_size(current as f64))
        } else {
            format!("{current} {units}")
        };
    }
    let pct = (((current as f64 / total as f64) * 100.0) as i64 / 2).clamp(0, 50) as usize;
    let mut s = String::new();
    if width > 110 {
        s.push_str(&format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct)));
    }
    if units.is_empty() {
        if current <= total {
            s.push_str(&format!(
                "{:>8}/{}",
                berth_format::human_size(current as f64),
                berth_format::human_size(total as f64)
            ));
        }
    } else {
        s.push_str(&format!("{current}/{total} {units}"));
    }
    s
}

/// Renders a message stream the way `jsonmessage.DisplayJSONMessagesStream` does.
pub struct Display {
    terminal: bool,
    width: usize,
    ids: HashMap<String, usize>,
}

impl Display {
    pub fn new(terminal: bool, width: usize) -> Self {
        Display {
            terminal,
            width,
            ids: HashMap::new(),
        }
    }

    /// Shows one message; an `error` message becomes the returned error.
    /// `aux` payloads are returned for the caller (e.g. build's image ID).
    pub fn show(&mut self, out: &mut dyn Write, msg: &Value) -> Result<Option<Value>> {
        if let Some(aux) = msg.get("aux") {
            return Ok(Some(aux.clone()));
        }
        let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or("");
        let id = s("id");
        let progress = msg.get("progressDetail").filter(|v| v.is_object());
        let progress_msg = s("progress");
        let mut diff = 0;
        if !id.is_empty() && (progress.is_some() || !progress_msg.is_empty()) {
            let n = self.ids.len();
            let line = *self.ids.entry(id.to_string()).or_insert_with(|| {
                if self.terminal {
                    let _ = writeln!(out);
                }
                n
            });
            diff = self.ids.len() - line;
            if self.terminal && diff > 0 {
                write!(out, "\x1b[{diff}A")?;
            }
        } else {
            self.ids.clear();
        }
        let res = self.display_one(out, msg, progress);
        if !id.is_empty() && self.terminal && diff > 0 {
            write!(out, "\x1b[{diff}B")?;
        }
        res.map(|_| None)
    }

    fn display_one(
        &self,
        out: &mut dyn Write,
        msg: &Value,
        progress: Option<&Value>,
    ) -> Result<()> {
        if let Some(err) = msg.get("errorDetail").filter(|v| !v.is_null()) {
            let m = err
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| msg.get("error").and_then(Value::as_str))
                .unwrap_or("");
            return Err(CliError::msg(m));
        }
        if let Some(e) = msg.get("error").and_then(Value::as_str) {
            return Err(CliError::msg(e));
        }
        let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or("");
        let bar = progress
            .map(|p| progress_string(p, self.width))
            .unwrap_or_default();
        let mut endl = "";
        if self.terminal && s("stream").is_empty() && progress.is_some() {
            write!(out, "\x1b[2K\r")?;
            endl = "\r";
        } else if !bar.is_empty() {
            // Progress bars are not shown when the output is not a terminal.
            return Ok(());
        }
        if !s("id").is_empty() {
            write!(out, "{}: ", s("id"))?;
        }
        if !s("from").is_empty() {
            write!(out, "(from {}) ", s("from"))?;
        }
        if progress.is_some() && self.terminal {
            write!(out, "{} {}{}", s("status"), bar, endl)?;
        } else if !s("progress").is_empty() {
            write!(out, "{} {}{}", s("status"), s("progress"), endl)?;
        } else if !s("stream").is_empty() {
            write!(out, "{}{}", s("stream"), endl)?;
        } else {
            writeln!(out, "{}{}", s("status"), endl)?;
        }
        Ok(())
    }
}

/// Reads a whole stream from the daemon and displays it.
pub async fn display_stream(
    body: Incoming,
    out: &mut dyn Write,
    terminal: bool,
) -> Result<Vec<Value>> {
    let mut stream = MessageStream::new(body);
    let mut display = Display::new(terminal, crate::term::width());
    let mut aux = Vec::new();
    while let Some(msg) = stream.next().await? {
        if let Some(a) = display.show(out, &msg)? {
            aux.push(a);
        }
        out.flush()?;
    }
    Ok(aux)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decoder_handles_split_and_concatenated_objects() {
        let mut d = Decoder::default();
        d.push(br#"{"stream":"Loaded image: a:latest\n"}{"str"#);
        assert_eq!(
            d.next_value().unwrap().unwrap()["stream"],
            "Loaded image: a:latest\n"
        );
        assert!(d.next_value().unwrap().is_none());
        d.push(b"eam\":\"x\"}\r\n");
        assert_eq!(d.next_value().unwrap().unwrap()["stream"], "x");
        assert!(d.next_value().unwrap().is_none());
        d.push(b"{bad");
        assert!(d.next_value().is_err());
    }

    fn render(msgs: &[Value], terminal: bool) -> (String, Option<String>) {
        let mut out = Vec::new();
        let mut d = Display::new(terminal, 80);
        let mut err = None;
        for m in msgs {
            if let Err(e) = d.show(&mut out, m) {
                err = Some(e.to_string());
                break;
            }
        }
        (String::from_utf8(out).unwrap(), err)
    }

    #[test]
    fn non_terminal_display() {
        let (text, err) = render(
            &[
                json!({"status":"Pulling from library/busybox","id":"latest"}),
                json!({"status":"Downloading","progressDetail":{"current":10,"total":100},"progress":"[=>  ]","id":"abc"}),
                json!({"status":"Pull complete","progressDetail":{},"id":"abc"}),
                json!({"stream":"Loaded image: busybox:latest\n"}),
                json!({"aux":{"ID":"sha256:1"}}),
                json!({"status":"sha256:deadbeef"}),
                json!({"errorDetail":{"message":"boom"},"error":"boom"}),
                json!({"status":"never shown"}),
            ],
            false,
        );
        assert_eq!(
            text,
            "latest: Pulling from library/busybox\nabc: Pull complete\nLoaded image: busybox:latest\nsha256:deadbeef\n"
        );
        assert_eq!(err.as_deref(), Some("boom"));
    }

    #[test]
    fn progress_text() {
        assert_eq!(progress_string(&json!({}), 120), "");
        assert_eq!(progress_string(&json!({"current": 1000}), 80), "     1kB");
        assert_eq!(
            progress_string(&json!({"current": 500, "total": 1000}), 80),
            "    500B/1kB"
        );
        let wide = progress_string(&json!({"current": 500, "total": 1000}), 120);
        assert!(wide.starts_with(&format!("[{}>{}] ", "=".repeat(25), " ".repeat(25))));
    }
}
