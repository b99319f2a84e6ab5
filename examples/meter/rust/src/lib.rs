//! meter: a tokenwire listener that counts token issues per client and
//! emits the counters once per time window.
//!
//! Config (all members optional):
//!   {"sink": "stdout", "window_seconds": 60}
//!
//! Windows follow the events' own time (unix seconds, aligned to multiples
//! of window_seconds), not the clock, so a replay of old events meters them
//! as they happened. When an event falls in a later window than the
//! current one, the listener emits the current window's counters and
//! starts the new window. An event from an earlier window is counted in
//! the current window and also in its "late" counter. tw_shutdown emits
//! the open window, so a clean stop or a swap loses no counts.
//!
//! One line per window and instance:
//!   {"window_start":1700000040,"window_seconds":60,"events":3,"late":0,
//!    "clients":{"app":{"access_token":2,"id_token":1}}}
//!
//! The host runs several instances of a listener (pool_size), and each
//! meters the events it receives, so several lines may cover one window:
//! sum them by window_start downstream. With pool_size 1 there is one line
//! per window.

use std::collections::BTreeMap;

use tokenwire::json::{self, Kind};
use tokenwire::{Error, Event, Listener, Result};

#[derive(Default)]
struct Counts {
    id_token: u64,
    access_token: u64,
}

struct Meter {
    sink: String,
    window: i64,
    /// The start of the open window, when one is open.
    start: Option<i64>,
    events: u64,
    late: u64,
    /// Counts per client id, in sorted order for stable output.
    clients: BTreeMap<String, Counts>,
}

fn config_error(what: &str) -> Error {
    Error(format!("meter: invalid config: {what}"))
}

impl Meter {
    /// Emits the open window's counters and clears them.
    fn flush(&mut self) -> Result<()> {
        let start = match self.start.take() {
            Some(start) => start,
            None => return Ok(()),
        };
        let mut line = format!(
            "{{\"window_start\":{start},\"window_seconds\":{},\"events\":{},\"late\":{},\"clients\":{{",
            self.window, self.events, self.late
        );
        for (i, (client, counts)) in self.clients.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            json::quote(&mut line, client);
            line.push_str(&format!(":{{\"access_token\":{},\"id_token\":{}}}", counts.access_token, counts.id_token));
        }
        line.push_str("}}");
        self.events = 0;
        self.late = 0;
        self.clients.clear();
        tokenwire::emit(&self.sink, line.as_bytes())
            .map_err(|s| Error(format!("meter: emit counters of window {start} to sink {:?}: {s}", self.sink)))
    }
}

impl Listener for Meter {
    fn init(config: &str) -> Result<Self> {
        let mut meter = Meter { sink: "stdout".to_owned(), window: 60, start: None, events: 0, late: 0, clients: BTreeMap::new() };
        if json::kind(config) != Kind::Object {
            return Err(config_error("not a JSON object"));
        }
        for member in json::iter(config) {
            let (key, value) = member.map_err(|_| config_error("malformed JSON"))?;
            match json::unescape(key)?.as_str() {
                "sink" => {
                    meter.sink = json::string(value).map_err(|_| config_error("\"sink\" must be a string"))?;
                    if meter.sink.is_empty() {
                        return Err(config_error("\"sink\" must not be empty: omit it to use \"stdout\""));
                    }
                }
                "window_seconds" => {
                    meter.window = value
                        .parse()
                        .ok()
                        .filter(|w| *w > 0)
                        .ok_or_else(|| config_error(&format!("\"window_seconds\" must be a positive integer, got {value}")))?;
                }
                other => return Err(config_error(&format!("unknown member {other:?}"))),
            }
        }
        Ok(meter)
    }

    fn on_event(&mut self, e: &Event) -> Result<()> {
        let window = e.time - e.time.rem_euclid(self.window);
        match self.start {
            Some(start) if window > start => {
                self.flush()?;
                self.start = Some(window);
            }
            Some(start) if window < start => self.late += 1,
            Some(_) => {}
            None => self.start = Some(window),
        }
        self.events += 1;
        let counts = self.clients.entry(e.client_id.clone()).or_default();
        if e.is_access_token() {
            counts.access_token += 1;
        } else {
            counts.id_token += 1;
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        if let Err(e) = self.flush() {
            tokenwire::log(tokenwire::Level::Error, &e.0);
        }
    }
}

tokenwire::export_listener!(Meter);
