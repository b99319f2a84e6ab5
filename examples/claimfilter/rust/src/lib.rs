//! claimfilter: a tokenwire listener that emits, for every event, one JSON
//! object with a chosen subset of the issued token's claims followed by
//! fixed properties. It behaves as the Go listener in ../main.go; the
//! conformance tests in examples/conformance check that they agree.
//!
//! Config:
//!   {"claims": ["sub", "iat"], "properties": {"source": "tokenwire"},
//!    "sink": "stdout", "events": ["id_token.issued"]}

use tokenwire::json::{self, Kind};
use tokenwire::{Error, Event, Listener, Result};

struct ClaimFilter {
    claims: Vec<String>,
    /// keys[i] is claims[i] encoded as a JSON string and followed by a colon.
    keys: Vec<String>,
    /// The encoded members of "properties", in sorted name order, without
    /// braces.
    properties: String,
    sink: String,
    /// The event types to handle, or None for all.
    events: Option<Vec<String>>,
    output: String,
}

fn config_error(what: &str) -> Error {
    Error(format!("claimfilter: invalid config: {what}"))
}

/// Decodes an array of strings in which null stands for "", as Go's
/// encoding/json decodes it into a []string.
fn strings(raw: &str, field: &str) -> Result<Vec<String>> {
    if json::kind(raw) != Kind::Array {
        return Err(config_error(&format!("{field:?} must be an array of strings")));
    }
    let mut out = Vec::new();
    for item in json::iter(raw) {
        let (_, v) = item?;
        match json::kind(v) {
            Kind::Null => out.push(String::new()),
            Kind::String => out.push(json::string(v)?),
            _ => return Err(config_error(&format!("{field:?} must be an array of strings"))),
        }
    }
    Ok(out)
}

impl Listener for ClaimFilter {
    fn init(config: &str) -> Result<Self> {
        let mut claims: Option<Vec<String>> = None;
        // Members of "properties" in config order; a repeated name replaces
        // the earlier value, as in a Go map.
        let mut properties: Vec<(String, String)> = Vec::new();
        let mut sink = String::new();
        let mut events: Option<Vec<String>> = None;
        if json::kind(config) != Kind::Object {
            return Err(config_error("not a JSON object"));
        }
        for member in json::iter(config) {
            let (key, value) = member.map_err(|_| config_error("malformed JSON"))?;
            let name = json::unescape(key)?;
            let null = json::kind(value) == Kind::Null;
            if json::key_eq(&name, "claims") {
                claims = if null { None } else { Some(strings(value, "claims")?) };
            } else if json::key_eq(&name, "properties") {
                if null {
                    properties.clear();
                    continue;
                }
                if json::kind(value) != Kind::Object {
                    return Err(config_error("\"properties\" must be an object"));
                }
                for prop in json::iter(value) {
                    let (k, v) = prop?;
                    let k = json::unescape(k)?;
                    let mut compacted = String::new();
                    json::compact(&mut compacted, v);
                    match properties.iter_mut().find(|(name, _)| *name == k) {
                        Some(existing) => existing.1 = compacted,
                        None => properties.push((k, compacted)),
                    }
                }
            } else if json::key_eq(&name, "sink") {
                sink = match json::kind(value) {
                    Kind::Null => String::new(),
                    Kind::String => json::string(value)?,
                    _ => return Err(config_error("\"sink\" must be a string")),
                };
            } else if json::key_eq(&name, "events") {
                events = if null { None } else { Some(strings(value, "events")?) };
            } else {
                return Err(config_error(&format!("unknown member {name:?}")));
            }
        }

        let claims = claims.ok_or_else(|| config_error("missing \"claims\", the list of claim names to copy"))?;
        let mut keys = Vec::with_capacity(claims.len());
        for (i, name) in claims.iter().enumerate() {
            if name.is_empty() {
                return Err(config_error("\"claims\" contains an empty name"));
            }
            if claims[..i].contains(name) {
                return Err(config_error(&format!("\"claims\" lists {name:?} twice")));
            }
            let mut key = String::new();
            json::quote(&mut key, name);
            key.push(':');
            keys.push(key);
        }

        properties.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut encoded = String::new();
        for (name, value) in &properties {
            if claims.contains(name) {
                return Err(config_error(&format!("property {name:?} is also listed in \"claims\"")));
            }
            if !encoded.is_empty() {
                encoded.push(',');
            }
            json::quote(&mut encoded, name);
            encoded.push(':');
            encoded.push_str(value);
        }

        if let Some(types) = &events {
            if types.is_empty() {
                return Err(config_error("\"events\" is empty: omit it to handle every event type"));
            }
            for t in types {
                if t != tokenwire::ID_TOKEN_ISSUED && t != tokenwire::ACCESS_TOKEN_ISSUED {
                    return Err(config_error(&format!("\"events\" contains unknown event type {t:?}")));
                }
            }
        }
        if sink.is_empty() {
            sink = "stdout".to_owned();
        }
        Ok(ClaimFilter { claims, keys, properties: encoded, sink, events, output: String::new() })
    }

    fn on_event(&mut self, e: &Event) -> Result<()> {
        if let Some(types) = &self.events {
            if !types.contains(&e.event_type) {
                return Ok(());
            }
        }
        let out = &mut self.output;
        out.clear();
        out.push('{');
        for (name, key) in self.claims.iter().zip(&self.keys) {
            if let Some(value) = e.claim(name) {
                if out.len() > 1 {
                    out.push(',');
                }
                out.push_str(key);
                json::compact(out, value);
            }
        }
        if !self.properties.is_empty() {
            if out.len() > 1 {
                out.push(',');
            }
            out.push_str(&self.properties);
        }
        out.push('}');
        tokenwire::emit(&self.sink, out.as_bytes())
            .map_err(|s| Error(format!("claimfilter: emit event {} to sink {:?}: {s}", e.id, self.sink)))
    }
}

tokenwire::export_listener!(ClaimFilter);
