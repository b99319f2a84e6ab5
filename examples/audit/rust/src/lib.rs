//! audit: a tokenwire listener that turns every ID token and access token
//! issue into a signed Security Event Token (RFC 8417) and emits the
//! compact JWS to a sink. It behaves as the Go listener in ../main.go; the
//! conformance tests in examples/conformance check that they agree.
//!
//! Config (all members optional):
//!   {"sink": "stdout", "audience": "https://siem.example" | ["a", "b"]}

use tokenwire::json::{self, Kind};
use tokenwire::{Error, Event, Listener, Result};

/// The SET event URI for a token issue.
const TOKEN_ISSUED_EVENT: &str = "https://tokenwire.dev/secevent/token-issued";

struct Audit {
    sink: String,
    /// The aud claim as compact JSON, when configured.
    audience: Option<String>,
}

fn config_error(what: &str) -> Error {
    Error(format!("audit: invalid config: {what}"))
}

/// Checks that raw is a non-empty string or a non-empty array of non-empty
/// strings and returns it re-encoded.
fn check_audience(raw: &str) -> Result<String> {
    let mut out = String::new();
    match json::kind(raw) {
        Kind::String => {
            let single = json::string(raw)?;
            if single.is_empty() {
                return Err(config_error("\"audience\" must not be empty"));
            }
            json::quote(&mut out, &single);
        }
        Kind::Array => {
            out.push('[');
            let mut n = 0;
            for item in json::iter(raw) {
                let (_, v) = item?;
                if json::kind(v) != Kind::String {
                    return Err(config_error("\"audience\" must be a string or an array of strings"));
                }
                let s = json::string(v)?;
                if s.is_empty() {
                    return Err(config_error(&format!("\"audience\" element {n} is empty")));
                }
                if n > 0 {
                    out.push(',');
                }
                json::quote(&mut out, &s);
                n += 1;
            }
            if n == 0 {
                return Err(config_error("\"audience\" must not be an empty array"));
            }
            out.push(']');
        }
        _ => return Err(config_error(&format!("\"audience\" must be a string or an array of strings, got {raw}"))),
    }
    Ok(out)
}

impl Listener for Audit {
    fn init(config: &str) -> Result<Self> {
        let mut audit = Audit { sink: "stdout".to_owned(), audience: None };
        if json::kind(config) != Kind::Object {
            return Err(config_error("not a JSON object"));
        }
        for member in json::iter(config) {
            let (key, value) = member.map_err(|_| config_error("malformed JSON"))?;
            let name = json::unescape(key)?;
            if json::key_eq(&name, "sink") {
                match json::kind(value) {
                    Kind::Null => {}
                    Kind::String => audit.sink = json::string(value)?,
                    _ => return Err(config_error("\"sink\" must be a string")),
                }
            } else if json::key_eq(&name, "audience") {
                audit.audience = match json::kind(value) {
                    Kind::Null => None,
                    _ => Some(check_audience(value)?),
                };
            } else {
                return Err(config_error(&format!("unknown member {name:?}")));
            }
        }
        if audit.sink.is_empty() {
            return Err(config_error("\"sink\" must not be empty: omit it to use \"stdout\""));
        }
        Ok(audit)
    }

    fn on_event(&mut self, e: &Event) -> Result<()> {
        let token_type = if e.is_id_token() {
            "id_token"
        } else if e.is_access_token() {
            "access_token"
        } else {
            return Err(Error(format!("audit: event {} has unsupported type {:?}", e.id, e.event_type)));
        };
        let mut claims = String::with_capacity(512);
        claims.push('{');
        if let Some(aud) = &self.audience {
            claims.push_str("\"aud\":");
            claims.push_str(aud);
            claims.push(',');
        }
        claims.push_str("\"txn\":");
        json::quote(&mut claims, &e.id);
        match &e.subject {
            Some(subject) => {
                claims.push_str(",\"sub_id\":{\"format\":\"iss_sub\",\"iss\":");
                json::quote(&mut claims, &e.issuer);
                claims.push_str(",\"sub\":");
                json::quote(&mut claims, subject);
            }
            None => {
                claims.push_str(",\"sub_id\":{\"format\":\"opaque\",\"id\":");
                json::quote(&mut claims, &e.client_id);
            }
        }
        claims.push_str("},\"events\":{");
        json::quote(&mut claims, TOKEN_ISSUED_EVENT);
        claims.push_str(":{\"token_type\":");
        json::quote(&mut claims, token_type);
        claims.push_str(",\"client_id\":");
        json::quote(&mut claims, &e.client_id);
        claims.push_str(",\"issued_at\":");
        claims.push_str(&e.time.to_string());
        claims.push_str(",\"event_id\":");
        json::quote(&mut claims, &e.id);
        claims.push_str("}}}");

        let token = tokenwire::sign(&claims).map_err(|s| Error(format!("audit: sign SET for event {}: {s}", e.id)))?;
        tokenwire::emit(&self.sink, token.as_bytes())
            .map_err(|s| Error(format!("audit: emit SET for event {} to sink {:?}: {s}", e.id, self.sink)))
    }
}

tokenwire::export_listener!(Audit);
