// The AssemblyScript SDK for tokenwire listeners, ABI version 1.
//
// A listener registers its handlers at the top level of its entry file and
// re-exports the module exports from this package:
//
//   import { Event, emit, handleEvent } from "@tokenwire/listener";
//   export { tokenwire_abi_v1, tw_init, tw_on_event, tw_shutdown } from "@tokenwire/listener";
//
//   handleEvent((e: Event): bool => emit("stdout", Raw.of(e.id)) == 0);
//
// Handlers return true for success. To fail with a message, return
// fail("what went wrong"), which calls setError and returns false.

import { Buffer, Iter, Kind, Raw, unescape } from "./json";

export { Buffer, Iter, Kind, Raw, keyEq, unescape, unescapeTo } from "./json";

// ---- host imports -----------------------------------------------------------

// @ts-ignore: decorator
@external("tokenwire", "event_read")
declare function host_event_read(buf: usize, len: i32): i32;
// @ts-ignore: decorator
@external("tokenwire", "config_read")
declare function host_config_read(buf: usize, len: i32): i32;
// @ts-ignore: decorator
@external("tokenwire", "log")
declare function host_log(level: i32, msg: usize, len: i32): i32;
// @ts-ignore: decorator
@external("tokenwire", "set_error")
declare function host_set_error(msg: usize, len: i32): i32;
// @ts-ignore: decorator
@external("tokenwire", "sign")
declare function host_sign(claims: usize, len: i32): i32;
// @ts-ignore: decorator
@external("tokenwire", "result_read")
declare function host_result_read(buf: usize, len: i32): i32;
// @ts-ignore: decorator
@external("tokenwire", "emit")
declare function host_emit(sink: usize, sinkLen: i32, data: usize, len: i32): i32;

// ---- statuses -------------------------------------------------------------------

/** Status codes the host functions return (negative). */
export namespace Status {
  export const OK: i32 = 0;
  export const INVALID_MEMORY: i32 = -1;
  export const INVALID_ARGUMENT: i32 = -2;
  export const NOT_PERMITTED: i32 = -3;
  export const NOT_FOUND: i32 = -4;
  export const TOO_LARGE: i32 = -5;
  export const LIMIT_EXCEEDED: i32 = -6;
  export const UNAVAILABLE: i32 = -7;
  export const INTERNAL: i32 = -8;
}

/** statusName returns the ABI name of a status, such as "NOT_FOUND". */
export function statusName(status: i32): string {
  switch (status) {
    case 0: return "OK";
    case -1: return "INVALID_MEMORY";
    case -2: return "INVALID_ARGUMENT";
    case -3: return "NOT_PERMITTED";
    case -4: return "NOT_FOUND";
    case -5: return "TOO_LARGE";
    case -6: return "LIMIT_EXCEEDED";
    case -7: return "UNAVAILABLE";
    case -8: return "INTERNAL";
  }
  return "UNKNOWN_STATUS";
}

/** Log levels. */
export enum Level { Debug = 0, Info = 1, Warn = 2, Error = 3 }

const EMPTY = Raw.of("");
const EMPTY_OBJECT = Raw.of("{}");

export const ID_TOKEN_ISSUED = "id_token.issued";
export const ACCESS_TOKEN_ISSUED = "access_token.issued";

// ---- the event --------------------------------------------------------------------

/** Event is one token-issue event. claims and context are raw JSON objects,
 * byte for byte as the host sent them, so numbers keep every digit. The SDK
 * reuses the event's buffer, so Raw values are valid only until the handler
 * returns; copy() what you keep. */
export class Event {
  id: string = "";
  type: string = "";
  time: i64 = 0;
  issuer: string = "";
  clientId: string = "";
  /** The token's subject; null when the token has none. */
  subject: string | null = null;
  claims: Raw = EMPTY_OBJECT;
  /** Metadata from the issuer; null when the event has none. */
  context: Raw | null = null;
  /** The decoded string members as UTF-8 bytes, for output that must not
   * go through UTF-16. */
  idBytes: Raw = EMPTY;
  issuerBytes: Raw = EMPTY;
  clientIdBytes: Raw = EMPTY;
  subjectBytes: Raw | null = null;

  isIdToken(): bool { return this.type == ID_TOKEN_ISSUED; }
  isAccessToken(): bool { return this.type == ACCESS_TOKEN_ISSUED; }

  /** claim returns the raw JSON value of the top-level claim name, comparing
   * names after unescaping them, or null. When a name appears more than
   * once, the last one wins. */
  claim(name: Raw): Raw | null {
    const it = new Iter(this.claims);
    let found: Raw | null = null;
    while (it.next()) {
      const key = keyNeedsUnescape(it.key) ? unescape(it.key) : it.key;
      if (key != null && key.equals(name)) found = it.value;
    }
    return found;
  }
}

function keyNeedsUnescape(key: Raw): bool {
  for (let i = 0; i < key.length; i++) if (key.at(i) == 0x5C) return true;
  return false;
}



// ---- handlers -----------------------------------------------------------------------

let initHandler: ((config: Raw) => bool) | null = null;
let eventHandler: ((e: Event) => bool) | null = null;
let shutdownHandler: (() => void) | null = null;

/** handleInit registers the function called once per instance with the
 * config JSON ("{}" when there is none), before any event. Returning false
 * stops the listener from starting. */
export function handleInit(h: (config: Raw) => bool): void { initHandler = h; }

/** handleEvent registers the function called for every event. Required. */
export function handleEvent(h: (e: Event) => bool): void { eventHandler = h; }

/** handleShutdown registers the function called before the host discards
 * the instance on a clean stop or swap. */
export function handleShutdown(h: () => void): void { shutdownHandler = h; }

// ---- host functions -------------------------------------------------------------

let configRaw: Raw = Raw.of("{}");
let eventBuf = new Uint8Array(0);
let resultBuf = new Uint8Array(0);

/** readHost reads a host value with read into a buffer at least hint long
 * and returns the buffer and total, or a negative status in total. */
let readTotal: i32 = 0;
function readHost(read: (buf: usize, len: i32) => i32, buf: Uint8Array, hint: i32): Uint8Array {
  if (buf.length < hint) buf = new Uint8Array(hint);
  let total = read(buf.dataStart, buf.length);
  if (total > buf.length) {
    buf = new Uint8Array(total);
    const again = read(buf.dataStart, total);
    if (again != total) total = again < 0 ? again : Status.INTERNAL;
  }
  readTotal = total;
  return buf;
}

/** config returns the listener config JSON, "{}" when there is none. */
export function config(): Raw { return configRaw; }

let signed: Raw = Raw.of("");

/** sign passes the claims JSON object to the host, which signs it as a
 * Security Event Token. It returns 0 and makes the compact JWS available from
 * signedToken(), or returns a negative status. */
export function sign(claims: Raw): i32 {
  const n = host_sign(claims.bytes.dataStart + <usize>claims.start, claims.length);
  if (n < 0) return n;
  resultBuf = readHost((b: usize, l: i32): i32 => host_result_read(b, l), resultBuf, n);
  if (readTotal < 0) return readTotal;
  signed = new Raw(resultBuf, 0, readTotal);
  return 0;
}

/** signedToken returns the compact JWS of the last successful sign. */
export function signedToken(): Raw { return signed; }

/** emit hands data to the named sink. It returns 0 or a negative status. */
export function emit(sink: Raw, data: Raw): i32 {
  const status = host_emit(sink.bytes.dataStart + <usize>sink.start, sink.length,
    data.bytes.dataStart + <usize>data.start, data.length);
  return status < 0 ? status : 0;
}

/** log writes a log line. Failures are ignored. */
export function log(level: Level, msg: string): void {
  const b = String.UTF8.encode(msg);
  host_log(<i32>level, changetype<usize>(b), b.byteLength);
}

/** setError records the message the host reports when a handler fails. A
 * message the host finds too large is cut in half, at a UTF-8 boundary,
 * until it fits. */
export function setError(msg: string): void {
  const b = Uint8Array.wrap(String.UTF8.encode(msg));
  let len = b.length;
  while (host_set_error(b.dataStart, len) == Status.TOO_LARGE && len > 0) {
    len /= 2;
    let cut = len;
    while (cut > 0 && (b[cut - 1] & 0xC0) == 0x80) cut--;
    if (cut > 0 && b[cut - 1] >= 0xC0) {
      const lead = b[cut - 1];
      let need = 2;
      if (lead >= 0xF0) need = 4;
      else if (lead >= 0xE0) need = 3;
      if (len - (cut - 1) < need) len = cut - 1;
    }
  }
}

/** fail records msg with setError and returns false, for handlers. */
export function fail(msg: string): bool {
  setError(msg);
  return false;
}

// ---- exports ---------------------------------------------------------------------

/** The ABI version marker. Re-export it from the entry file. */
export function tokenwire_abi_v1(): void {}

export function tw_init(configLen: i32): i32 {
  const buf = readHost((b: usize, l: i32): i32 => host_config_read(b, l), new Uint8Array(0), configLen);
  if (readTotal < 0) return fail("listener: read config: tokenwire: " + statusName(readTotal)) ? 0 : 1;
  configRaw = new Raw(buf, 0, readTotal);
  if (eventHandler == null) {
    return fail("listener: no event handler registered: call handleEvent at the top level of the entry file") ? 0 : 1;
  }
  const init = initHandler;
  if (init != null) return init(configRaw) ? 0 : 1;
  return 0;
}

let current = new Event();

/** decodeString returns the decoded JSON string v as raw UTF-8, or null. */
function decodeString(v: Raw): Raw | null {
  return v.decode();
}

/** isKey reports whether the raw member name key is the ASCII name, without
 * allocating a string. */
function isKey(key: Raw, name: string): bool {
  const n = name.length;
  if (key.length != n) return false;
  for (let i = 0; i < n; i++) {
    if (<i32>key.at(i) != name.charCodeAt(i)) return false;
  }
  return true;
}

const EVENT_MEMBERS = ["id", "type", "time", "issuer", "client_id", "subject", "claims", "context"];

function decodeEvent(text: Raw): string | null {
  const e = new Event();
  const it = new Iter(text);
  while (it.next()) {
    let key = "";
    for (let i = 0; i < EVENT_MEMBERS.length; i++) {
      if (isKey(it.key, EVENT_MEMBERS[i])) key = EVENT_MEMBERS[i];
    }
    const v = it.value;
    if (key == "id" || key == "type" || key == "issuer" || key == "client_id" || key == "subject") {
      const s = decodeString(v);
      if (s == null) return "listener: invalid event: bad string member " + key;
      const str = s.toString();
      if (key == "id") { e.id = str; e.idBytes = s; }
      else if (key == "type") e.type = str;
      else if (key == "issuer") { e.issuer = str; e.issuerBytes = s; }
      else if (key == "client_id") { e.clientId = str; e.clientIdBytes = s; }
      else if (s.length > 0) { e.subject = str; e.subjectBytes = s; }
    } else if (key == "time") {
      let t: i64 = 0;
      const neg = v.length > 0 && v.at(0) == 0x2D;
      for (let i = neg ? 1 : 0; i < v.length; i++) {
        const c = v.at(i);
        if (c < 0x30 || c > 0x39) return "listener: invalid event: time is not an integer";
        t = t * 10 + <i64>(c - 0x30);
      }
      e.time = neg ? -t : t;
    } else if (key == "claims") {
      e.claims = v;
    } else if (key == "context") {
      if (v.kind() == Kind.Object) e.context = v;
    }
  }
  if (it.err) return "listener: invalid event: malformed JSON";
  current = e;
  return null;
}

export function tw_on_event(eventLen: i32): i32 {
  const handler = eventHandler;
  if (handler == null) {
    return fail("listener: no event handler registered: call handleEvent at the top level of the entry file") ? 0 : 1;
  }
  eventBuf = readHost((b: usize, l: i32): i32 => host_event_read(b, l), eventBuf, eventLen);
  if (readTotal < 0) return fail("listener: read event: tokenwire: " + statusName(readTotal)) ? 0 : 1;
  const err = decodeEvent(new Raw(eventBuf, 0, readTotal));
  if (err != null) return fail(err) ? 0 : 1;
  return handler(current) ? 0 : 1;
}

export function tw_shutdown(): void {
  const h = shutdownHandler;
  if (h != null) h();
}
