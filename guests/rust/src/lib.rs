//! Write tokenwire listeners in Rust.
//!
//! A listener is a WebAssembly module that the tokenwire host calls once per
//! OAuth 2.0 / OpenID Connect token issue. This crate implements ABI
//! version 1: the module's exports, reading the event and config, and the
//! host functions (sign a Security Event Token, emit, log, set an error).
//!
//! ```ignore
//! use tokenwire::{Event, Listener, Result};
//!
//! struct Subjects;
//!
//! impl Listener for Subjects {
//!     fn init(_config: &str) -> Result<Self> {
//!         Ok(Subjects)
//!     }
//!     fn on_event(&mut self, event: &Event) -> Result<()> {
//!         if let Some(subject) = &event.subject {
//!             tokenwire::emit("stdout", subject.as_bytes())?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! tokenwire::export_listener!(Subjects);
//! ```
//!
//! Build it as a `cdylib` for `wasm32-wasi` (see README.md).

pub mod json;

use core::fmt;

/// A negative status from a host function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub i32);

impl Status {
    pub const INVALID_MEMORY: Status = Status(-1);
    pub const INVALID_ARGUMENT: Status = Status(-2);
    pub const NOT_PERMITTED: Status = Status(-3);
    pub const NOT_FOUND: Status = Status(-4);
    pub const TOO_LARGE: Status = Status(-5);
    pub const LIMIT_EXCEEDED: Status = Status(-6);
    pub const UNAVAILABLE: Status = Status(-7);
    pub const INTERNAL: Status = Status(-8);

    /// Returns the ABI name of the status, such as "NOT_FOUND".
    pub fn name(self) -> &'static str {
        match self.0 {
            -1 => "INVALID_MEMORY",
            -2 => "INVALID_ARGUMENT",
            -3 => "NOT_PERMITTED",
            -4 => "NOT_FOUND",
            -5 => "TOO_LARGE",
            -6 => "LIMIT_EXCEEDED",
            -7 => "UNAVAILABLE",
            -8 => "INTERNAL",
            _ => "UNKNOWN_STATUS",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tokenwire: {}", self.name())
    }
}

/// The error a handler returns: its message becomes the `set_error`
/// message the host reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(s.to_owned())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

impl From<Status> for Error {
    fn from(s: Status) -> Self {
        Error(s.to_string())
    }
}

impl From<json::SyntaxError> for Error {
    fn from(e: json::SyntaxError) -> Self {
        Error(e.to_string())
    }
}

/// The result type of handlers.
pub type Result<T> = core::result::Result<T, Error>;

/// The event type of an ID token issue.
pub const ID_TOKEN_ISSUED: &str = "id_token.issued";
/// The event type of an access token issue.
pub const ACCESS_TOKEN_ISSUED: &str = "access_token.issued";

/// One token-issue event.
///
/// `claims` and `context` are raw JSON objects, byte for byte as the host
/// sent them, so numbers of any size stay exact. Read them with the
/// [`json`] module or [`Event::claim`].
#[derive(Debug, Default)]
pub struct Event<'a> {
    pub id: String,
    pub event_type: String,
    pub time: i64,
    pub issuer: String,
    pub client_id: String,
    /// The token's subject; None when the token has none.
    pub subject: Option<String>,
    pub claims: &'a str,
    /// Metadata from the issuer; None when the event has none.
    pub context: Option<&'a str>,
}

impl<'a> Event<'a> {
    /// Reports whether the event is an ID token issue.
    pub fn is_id_token(&self) -> bool {
        self.event_type == ID_TOKEN_ISSUED
    }

    /// Reports whether the event is an access token issue.
    pub fn is_access_token(&self) -> bool {
        self.event_type == ACCESS_TOKEN_ISSUED
    }

    /// Returns the raw JSON value of the top-level claim `name`, comparing
    /// names after unescaping them. When a name appears more than once, the
    /// last one wins.
    pub fn claim(&self, name: &str) -> Option<&'a str> {
        let mut found = None;
        for member in json::iter(self.claims) {
            let (key, value) = match member {
                Ok(m) => m,
                Err(_) => break,
            };
            if key == name || (key.contains('\\') && json::unescape(key).map_or(false, |k| k == name)) {
                found = Some(value);
            }
        }
        found
    }

    /// Parses the event JSON the host delivers.
    pub fn parse(text: &'a str) -> Result<Event<'a>> {
        let mut e = Event { claims: "{}", ..Event::default() };
        for member in json::iter(text) {
            let (key, value) = member.map_err(|_| Error::from("listener: invalid event: malformed JSON"))?;
            let text_field = |v: &str| json::string(v).map_err(|_| Error(format!("listener: invalid event: bad string member {key:?}")));
            match key {
                "id" => e.id = text_field(value)?,
                "type" => e.event_type = text_field(value)?,
                "issuer" => e.issuer = text_field(value)?,
                "client_id" => e.client_id = text_field(value)?,
                "subject" => e.subject = Some(text_field(value)?).filter(|s| !s.is_empty()),
                "time" => e.time = value.parse().map_err(|_| Error::from("listener: invalid event: time is not an integer"))?,
                "claims" => e.claims = value,
                "context" if json::kind(value) == json::Kind::Object => e.context = Some(value),
                _ => {}
            }
        }
        Ok(e)
    }
}

/// The handlers of a listener. A type that implements it is exported with
/// [`export_listener!`]; the SDK keeps one value of it per module instance.
pub trait Listener: Sized {
    /// Builds the listener from its config JSON ("{}" when there is none),
    /// once per instance, before any event. An error stops the listener
    /// from starting.
    fn init(config: &str) -> Result<Self>;

    /// Handles one event. An error fails the event with its message.
    fn on_event(&mut self, event: &Event) -> Result<()>;

    /// Runs before the host discards the instance on a clean stop or swap.
    fn shutdown(&mut self) {}
}

/// Defines the module's exports for a type that implements [`Listener`].
/// Use it once, in the crate's root module.
#[macro_export]
macro_rules! export_listener {
    ($t:ty) => {
        static mut TOKENWIRE_LISTENER: Option<$t> = None;

        #[no_mangle]
        pub extern "C" fn tokenwire_abi_v1() {}

        #[no_mangle]
        pub extern "C" fn tw_init(config_len: i32) -> i32 {
            // The host calls one export at a time, so the state has no
            // concurrent users.
            unsafe { $crate::dispatch_init(config_len, &mut *core::ptr::addr_of_mut!(TOKENWIRE_LISTENER)) }
        }

        #[no_mangle]
        pub extern "C" fn tw_on_event(event_len: i32) -> i32 {
            unsafe { $crate::dispatch_event(event_len, &mut *core::ptr::addr_of_mut!(TOKENWIRE_LISTENER)) }
        }

        #[no_mangle]
        pub extern "C" fn tw_shutdown() {
            unsafe {
                if let Some(l) = (*core::ptr::addr_of_mut!(TOKENWIRE_LISTENER)).as_mut() {
                    <$t as $crate::Listener>::shutdown(l);
                }
            }
        }
    };
}

mod host {
    #[cfg(target_arch = "wasm32")]
    #[link(wasm_import_module = "tokenwire")]
    extern "C" {
        pub fn event_read(buf: *mut u8, len: i32) -> i32;
        pub fn config_read(buf: *mut u8, len: i32) -> i32;
        pub fn log(level: i32, msg: *const u8, len: i32) -> i32;
        pub fn set_error(msg: *const u8, len: i32) -> i32;
        pub fn sign(claims: *const u8, len: i32) -> i32;
        pub fn result_read(buf: *mut u8, len: i32) -> i32;
        pub fn emit(sink: *const u8, sink_len: i32, data: *const u8, len: i32) -> i32;
    }

    // Native builds (cargo test on the host) get stubs that report that
    // there is no host.
    #[cfg(not(target_arch = "wasm32"))]
    mod native {
        pub unsafe fn event_read(_: *mut u8, _: i32) -> i32 { -4 }
        pub unsafe fn config_read(_: *mut u8, _: i32) -> i32 { -4 }
        pub unsafe fn log(_: i32, _: *const u8, _: i32) -> i32 { 0 }
        pub unsafe fn set_error(_: *const u8, _: i32) -> i32 { 0 }
        pub unsafe fn sign(_: *const u8, _: i32) -> i32 { -4 }
        pub unsafe fn result_read(_: *mut u8, _: i32) -> i32 { -4 }
        pub unsafe fn emit(_: *const u8, _: i32, _: *const u8, _: i32) -> i32 { -4 }
    }
    #[cfg(not(target_arch = "wasm32"))]
    pub use native::*;
}

/// Reads a host value with `read` (event_read, config_read or
/// result_read) into `buf`, growing it to the total the host reports.
fn read_host(read: unsafe extern "C" fn(*mut u8, i32) -> i32, buf: &mut Vec<u8>, hint: i32) -> core::result::Result<(), Status> {
    if hint > 0 && buf.capacity() < hint as usize {
        buf.reserve(hint as usize);
    }
    buf.clear();
    let cap = buf.capacity();
    let total = unsafe { read(buf.as_mut_ptr(), cap as i32) };
    if total < 0 {
        return Err(Status(total));
    }
    if total as usize > cap {
        buf.reserve(total as usize);
        let again = unsafe { read(buf.as_mut_ptr(), total) };
        if again < 0 {
            return Err(Status(again));
        }
        if again != total {
            return Err(Status::INTERNAL);
        }
    }
    unsafe { buf.set_len(total as usize) };
    Ok(())
}

#[cfg(not(target_arch = "wasm32"))]
unsafe extern "C" fn native_read(buf: *mut u8, len: i32) -> i32 {
    host::result_read(buf, len)
}

static mut CONFIG: String = String::new();
static mut EVENT_BUF: Vec<u8> = Vec::new();
static mut RESULT_BUF: Vec<u8> = Vec::new();

/// Returns the listener config JSON that the SDK read in tw_init, "{}" when
/// the listener has none.
pub fn config() -> &'static str {
    // Written only by tw_init, before any reader runs.
    let config: &'static String = unsafe { &*core::ptr::addr_of!(CONFIG) };
    if config.is_empty() {
        "{}"
    } else {
        config.as_str()
    }
}

/// Asks the host to sign a Security Event Token with the claims JSON object
/// and returns the compact JWS. The host adds iss, iat and jti; the claims
/// need an "events" object and must not hold exp or nonce.
pub fn sign(claims: &str) -> core::result::Result<String, Status> {
    let n = unsafe { host::sign(claims.as_ptr(), claims.len() as i32) };
    if n < 0 {
        return Err(Status(n));
    }
    #[cfg(target_arch = "wasm32")]
    let read = host::result_read;
    #[cfg(not(target_arch = "wasm32"))]
    let read = native_read;
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(RESULT_BUF) };
    read_host(read, buf, n)?;
    Ok(String::from_utf8_lossy(buf).into_owned())
}

/// Hands `data` to the sink named `sink`.
pub fn emit(sink: &str, data: &[u8]) -> core::result::Result<(), Status> {
    let status = unsafe { host::emit(sink.as_ptr(), sink.len() as i32, data.as_ptr(), data.len() as i32) };
    if status < 0 {
        Err(Status(status))
    } else {
        Ok(())
    }
}

/// Log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Writes a log line. Failures, such as a used-up log budget, are ignored.
pub fn log(level: Level, msg: &str) {
    unsafe {
        host::log(level as i32, msg.as_ptr(), msg.len() as i32);
    }
}

/// Records the message the host reports when a handler fails. A message
/// the host finds too large is cut in half, at a character boundary, until
/// it fits. The SDK calls it with the handler's error; call it yourself only
/// to report a failure that has no error value.
pub fn set_error(msg: &str) {
    let mut msg = msg;
    while unsafe { host::set_error(msg.as_ptr(), msg.len() as i32) } == Status::TOO_LARGE.0 && !msg.is_empty() {
        let mut cut = msg.len() / 2;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg = &msg[..cut];
    }
}

#[doc(hidden)]
pub fn dispatch_init<L: Listener>(config_len: i32, state: &mut Option<L>) -> i32 {
    let mut buf = Vec::new();
    #[cfg(target_arch = "wasm32")]
    let read = host::config_read;
    #[cfg(not(target_arch = "wasm32"))]
    let read = native_config_read;
    if let Err(status) = read_host(read, &mut buf, config_len) {
        set_error(&format!("listener: read config: {status}"));
        return 1;
    }
    unsafe { CONFIG = String::from_utf8_lossy(&buf).into_owned() };
    match L::init(config()) {
        Ok(l) => {
            *state = Some(l);
            0
        }
        Err(e) => {
            set_error(&e.0);
            1
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
unsafe extern "C" fn native_config_read(buf: *mut u8, len: i32) -> i32 {
    host::config_read(buf, len)
}

#[cfg(not(target_arch = "wasm32"))]
unsafe extern "C" fn native_event_read(buf: *mut u8, len: i32) -> i32 {
    host::event_read(buf, len)
}

#[doc(hidden)]
pub fn dispatch_event<L: Listener>(event_len: i32, state: &mut Option<L>) -> i32 {
    let listener = match state.as_mut() {
        Some(l) => l,
        None => {
            set_error("listener: tw_on_event called before tw_init");
            return 1;
        }
    };
    #[cfg(target_arch = "wasm32")]
    let read = host::event_read;
    #[cfg(not(target_arch = "wasm32"))]
    let read = native_event_read;
    let buf = unsafe { &mut *core::ptr::addr_of_mut!(EVENT_BUF) };
    if let Err(status) = read_host(read, buf, event_len) {
        set_error(&format!("listener: read event: {status}"));
        return 1;
    }
    let text = match core::str::from_utf8(buf) {
        Ok(t) => t,
        Err(_) => {
            set_error("listener: invalid event: not UTF-8");
            return 1;
        }
    };
    let result = Event::parse(text).and_then(|e| listener.on_event(&e));
    match result {
        Ok(()) => 0,
        Err(e) => {
            set_error(&e.0);
            1
        }
    }
}
