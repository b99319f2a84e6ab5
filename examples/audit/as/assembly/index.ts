// audit: a tokenwire listener that turns every ID token and access token
// issue into a signed Security Event Token (RFC 8417) and emits the compact
// JWS to a sink. It behaves as the Go listener in ../main.go; the
// conformance tests in examples/conformance check that they agree.
//
// Config (all members optional):
//   {"sink": "stdout", "audience": "https://siem.example" | ["a", "b"]}

import {
  Buffer, Event, Iter, Kind, Raw, emit, fail, handleEvent, handleInit, keyEq,
  sign, signedToken, statusName, unescape,
} from "@tokenwire/listener";

export { tokenwire_abi_v1, tw_init, tw_on_event, tw_shutdown } from "@tokenwire/listener";

const TOKEN_ISSUED_EVENT = "https://tokenwire.dev/secevent/token-issued";

let sink: Raw = Raw.of("stdout");
// The aud claim as compact JSON, or null.
let audience: Raw | null = null;
const claims = new Buffer();

function configError(what: string): bool {
  return fail("audit: invalid config: " + what);
}

// checkAudience re-encodes raw, a non-empty string or a non-empty array of
// non-empty strings, into audience.
function checkAudience(raw: Raw): bool {
  const out = new Buffer();
  if (raw.kind() == Kind.String) {
    const s = raw.decode();
    if (s == null) return configError("\"audience\" is not a valid string");
    if (s.length == 0) return configError("\"audience\" must not be empty");
    out.quote(s);
  } else if (raw.kind() == Kind.Array) {
    out.byte(0x5B);
    let n = 0;
    const it = new Iter(raw);
    while (it.next()) {
      const s = it.value.kind() == Kind.String ? it.value.decode() : null;
      if (s == null) return configError("\"audience\" must be a string or an array of strings");
      if (s.length == 0) return configError("\"audience\" element " + n.toString() + " is empty");
      if (n++ > 0) out.byte(0x2C);
      out.quote(s);
    }
    if (it.err) return configError("\"audience\" is not valid JSON");
    if (n == 0) return configError("\"audience\" must not be an empty array");
    out.byte(0x5D);
  } else {
    return configError("\"audience\" must be a string or an array of strings, got " + raw.toString());
  }
  audience = out.raw();
  return true;
}

handleInit((config: Raw): bool => {
  if (config.kind() != Kind.Object) return configError("not a JSON object");
  const it = new Iter(config);
  while (it.next()) {
    const name = unescape(it.key);
    if (name == null) return configError("bad member name");
    const v = it.value;
    if (keyEq(name, "sink")) {
      if (v.kind() == Kind.Null) continue;
      const s = v.kind() == Kind.String ? v.decode() : null;
      if (s == null) return configError("\"sink\" must be a string");
      sink = s;
    } else if (keyEq(name, "audience")) {
      if (v.kind() == Kind.Null) audience = null;
      else if (!checkAudience(v)) return false;
    } else {
      return configError("unknown member \"" + name.toString() + "\"");
    }
  }
  if (it.err) return configError("malformed JSON");
  if (sink.length == 0) return configError("\"sink\" must not be empty: omit it to use \"stdout\"");
  return true;
});

handleEvent((e: Event): bool => {
  let tokenType: string;
  if (e.isIdToken()) tokenType = "id_token";
  else if (e.isAccessToken()) tokenType = "access_token";
  else return fail("audit: event " + e.id + " has unsupported type \"" + e.type + "\"");

  claims.reset();
  claims.byte(0x7B);
  const aud = audience;
  if (aud != null) claims.text("\"aud\":").append(aud).byte(0x2C);
  claims.text("\"txn\":").quote(e.idBytes);
  const subject = e.subjectBytes;
  if (subject != null) {
    claims.text(",\"sub_id\":{\"format\":\"iss_sub\",\"iss\":").quote(e.issuerBytes);
    claims.text(",\"sub\":").quote(subject);
  } else {
    claims.text(",\"sub_id\":{\"format\":\"opaque\",\"id\":").quote(e.clientIdBytes);
  }
  claims.text("},\"events\":{\"" + TOKEN_ISSUED_EVENT + "\":{\"token_type\":\"" + tokenType + "\"");
  claims.text(",\"client_id\":").quote(e.clientIdBytes);
  claims.text(",\"issued_at\":").int(e.time);
  claims.text(",\"event_id\":").quote(e.idBytes);
  claims.text("}}}");

  let status = sign(claims.raw());
  if (status != 0) return fail("audit: sign SET for event " + e.id + ": tokenwire: " + statusName(status));
  status = emit(sink, signedToken());
  if (status != 0) return fail("audit: emit SET for event " + e.id + " to sink \"" + sink.toString() + "\": tokenwire: " + statusName(status));
  return true;
});
