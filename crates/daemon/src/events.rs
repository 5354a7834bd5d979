//! The daemon's event bus: what `GET /events` streams, with a short history so
//! `--since` can look back.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use berth_api_types::{Event, EventActor};
use tokio::sync::broadcast;

const KEEP: usize = 1024;

pub struct Events {
    tx: broadcast::Sender<Event>,
    recent: Mutex<VecDeque<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            tx: broadcast::channel(KEEP).0,
            recent: Mutex::new(VecDeque::with_capacity(KEEP)),
        }
    }
}

impl Events {
    /// Records and broadcasts an event of `kind` (image, container, …).
    pub fn emit(&self, kind: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or_default();
        let ev = Event {
            status: action.to_string(),
            id: id.to_string(),
            from: String::new(),
            kind: kind.to_string(),
            action: action.to_string(),
            actor: EventActor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        };
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == KEEP {
            recent.pop_front();
        }
        recent.push_back(ev.clone());
        // No subscribers is fine: nobody is listening.
        let _ = self.tx.send(ev);
    }

    /// The kept events at or after `since_nanos`, and a receiver for what comes next;
    /// taken under one lock so no event falls between them.
    pub fn subscribe(&self, since_nanos: Option<i64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.tx.subscribe();
        let past = match since_nanos {
            Some(t) => recent
                .iter()
                .filter(|e| e.time_nano >= t)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (past, rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_replays_and_live_follows() {
        let ev = Events::default();
        ev.emit("image", "tag", "sha256:1", BTreeMap::new());
        let (past, mut rx) = ev.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        assert_eq!(past[0].action, "tag");
        ev.emit("image", "untag", "sha256:1", BTreeMap::new());
        assert_eq!(rx.try_recv().unwrap().action, "untag");
        let (none, _) = ev.subscribe(None);
        assert!(none.is_empty());
    }
}
