// claimfilter: a tokenwire listener that emits, for every event, one JSON
// object with a chosen subset of the issued token's claims followed by
// fixed properties. It behaves as the Go listener in ../main.go; the
// conformance tests in examples/conformance check that they agree.
//
// Config:
//   {"claims": ["sub", "iat"], "properties": {"source": "tokenwire"},
//    "sink": "stdout", "events": ["id_token.issued"]}

import {
  ACCESS_TOKEN_ISSUED, Buffer, Event, ID_TOKEN_ISSUED, Iter, Kind, Raw, emit, fail,
  handleEvent, handleInit, keyEq, statusName, unescape,
} from "@tokenwire/listener";

export { tokenwire_abi_v1, tw_init, tw_on_event, tw_shutdown } from "@tokenwire/listener";

// The config in effect.
let names: Raw[] = [];
// keys[i] is names[i] encoded as a JSON string and followed by a colon.
let keys: Raw[] = [];
// The encoded members of "properties", sorted by name, without braces.
let properties: Raw = Raw.of("");
let sink: Raw = Raw.of("stdout");
// The event types to handle, or null for all.
let eventTypes: string[] | null = null;
const output = new Buffer();

function configError(what: string): bool {
  return fail("claimfilter: invalid config: " + what);
}

// strings decodes an array of strings in which null stands for "", as Go's
// encoding/json decodes it into a []string, or returns null.
function strings(raw: Raw): Raw[] | null {
  if (raw.kind() != Kind.Array) return null;
  const out: Raw[] = [];
  const it = new Iter(raw);
  while (it.next()) {
    const v = it.value;
    if (v.kind() == Kind.Null) {
      out.push(Raw.of(""));
      continue;
    }
    const s = v.kind() == Kind.String ? v.decode() : null;
    if (s == null) return null;
    out.push(s);
  }
  return it.err ? null : out;
}

class Property {
  constructor(public name: Raw, public value: Raw) {}
}

handleInit((config: Raw): bool => {
  let claims: Raw[] | null = null;
  // Members of "properties" in config order; a repeated name replaces the
  // earlier value, as in a Go map.
  let props: Property[] = [];
  let sinkName: Raw = Raw.of("");
  let types: Raw[] | null = null;
  if (config.kind() != Kind.Object) return configError("not a JSON object");
  const it = new Iter(config);
  while (it.next()) {
    const name = unescape(it.key);
    if (name == null) return configError("bad member name");
    const v = it.value;
    const isNull = v.kind() == Kind.Null;
    if (keyEq(name, "claims")) {
      if (isNull) { claims = null; continue; }
      claims = strings(v);
      if (claims == null) return configError("\"claims\" must be an array of strings");
    } else if (keyEq(name, "properties")) {
      if (isNull) { props = []; continue; }
      if (v.kind() != Kind.Object) return configError("\"properties\" must be an object");
      const pit = new Iter(v);
      while (pit.next()) {
        const k = unescape(pit.key);
        if (k == null) return configError("bad property name");
        const compacted = new Buffer().compact(pit.value).raw();
        let found = false;
        for (let i = 0; i < props.length; i++) {
          if (props[i].name.equals(k)) { props[i].value = compacted; found = true; }
        }
        if (!found) props.push(new Property(k, compacted));
      }
      if (pit.err) return configError("\"properties\" is not valid JSON");
    } else if (keyEq(name, "sink")) {
      if (isNull) { sinkName = Raw.of(""); continue; }
      const s = v.kind() == Kind.String ? v.decode() : null;
      if (s == null) return configError("\"sink\" must be a string");
      sinkName = s;
    } else if (keyEq(name, "events")) {
      if (isNull) { types = null; continue; }
      types = strings(v);
      if (types == null) return configError("\"events\" must be an array of strings");
    } else {
      return configError("unknown member \"" + name.toString() + "\"");
    }
  }
  if (it.err) return configError("malformed JSON");
  if (claims == null) return configError("missing \"claims\", the list of claim names to copy");
  const claimNames = claims;

  const claimKeys: Raw[] = [];
  for (let i = 0; i < claimNames.length; i++) {
    const n = claimNames[i];
    if (n.length == 0) return configError("\"claims\" contains an empty name");
    for (let j = 0; j < i; j++) {
      if (claimNames[j].equals(n)) return configError("\"claims\" lists \"" + n.toString() + "\" twice");
    }
    claimKeys.push(new Buffer().quote(n).byte(0x3A).raw());
  }

  // Sort the properties by name, bytewise (insertion sort: configs are small).
  for (let i = 1; i < props.length; i++) {
    const p = props[i];
    let j = i;
    while (j > 0 && p.name.lessThan(props[j - 1].name)) {
      props[j] = props[j - 1];
      j--;
    }
    props[j] = p;
  }
  const encoded = new Buffer();
  for (let i = 0; i < props.length; i++) {
    for (let j = 0; j < claimNames.length; j++) {
      if (claimNames[j].equals(props[i].name)) {
        return configError("property \"" + props[i].name.toString() + "\" is also listed in \"claims\"");
      }
    }
    if (i > 0) encoded.byte(0x2C);
    encoded.quote(props[i].name).byte(0x3A).append(props[i].value);
  }

  let typeNames: string[] | null = null;
  if (types != null) {
    const t = types;
    if (t.length == 0) return configError("\"events\" is empty: omit it to handle every event type");
    const list: string[] = [];
    for (let i = 0; i < t.length; i++) {
      const s = t[i].toString();
      if (s != ID_TOKEN_ISSUED && s != ACCESS_TOKEN_ISSUED) {
        return configError("\"events\" contains unknown event type \"" + s + "\"");
      }
      list.push(s);
    }
    typeNames = list;
  }

  names = claimNames;
  keys = claimKeys;
  properties = encoded.raw();
  sink = sinkName.length > 0 ? sinkName : Raw.of("stdout");
  eventTypes = typeNames;
  return true;
});

handleEvent((e: Event): bool => {
  const types = eventTypes;
  if (types != null && !types.includes(e.type)) return true;
  output.reset();
  output.byte(0x7B);
  for (let i = 0; i < names.length; i++) {
    const value = e.claim(names[i]);
    if (value == null) continue;
    if (output.length > 1) output.byte(0x2C);
    output.append(keys[i]).compact(value);
  }
  if (properties.length > 0) {
    if (output.length > 1) output.byte(0x2C);
    output.append(properties);
  }
  output.byte(0x7D);
  const status = emit(sink, output.raw());
  if (status != 0) {
    return fail("claimfilter: emit event " + e.id + " to sink \"" + sink.toString() + "\": tokenwire: " + statusName(status));
  }
  return true;
});
