// A small JSON reader and writer over UTF-8 bytes. Values stay raw JSON
// text, so numbers and nested values pass through exactly as the issuer
// wrote them. Nesting is counted, never recursed into, so any depth costs
// no stack.

/** The kind of a JSON value, from its first byte. */
export enum Kind { Invalid, Null, Bool, Number, String, Array, Object }

/** Raw is a view of bytes[start, end) of a buffer: a raw JSON value, a raw
 * member name or any UTF-8 text. */
export class Raw {
  constructor(public bytes: Uint8Array, public start: i32, public end: i32) {}

  static of(s: string): Raw {
    const b = Uint8Array.wrap(String.UTF8.encode(s));
    return new Raw(b, 0, b.length);
  }

  get length(): i32 { return this.end - this.start; }

  at(i: i32): u8 { return unchecked(this.bytes[this.start + i]); }

  /** kind returns the kind of the raw JSON value. */
  kind(): Kind {
    let i = skipWs(this.bytes, this.start, this.end);
    if (i >= this.end) return Kind.Invalid;
    const c = unchecked(this.bytes[i]);
    if (c == 0x7B) return Kind.Object;
    if (c == 0x5B) return Kind.Array;
    if (c == 0x22) return Kind.String;
    if (c == 0x6E) return Kind.Null;
    if (c == 0x74 || c == 0x66) return Kind.Bool;
    if (c == 0x2D || (c >= 0x30 && c <= 0x39)) return Kind.Number;
    return Kind.Invalid;
  }

  /** equals reports whether the bytes equal other's. */
  equals(other: Raw): bool {
    const n = this.length;
    if (n != other.length) return false;
    for (let i = 0; i < n; i++) if (this.at(i) != other.at(i)) return false;
    return true;
  }

  /** lessThan compares bytewise. */
  lessThan(other: Raw): bool {
    const n = min(this.length, other.length);
    for (let i = 0; i < n; i++) {
      const x = this.at(i), y = other.at(i);
      if (x != y) return x < y;
    }
    return this.length < other.length;
  }

  /** copy returns the bytes in a buffer of their own. */
  copy(): Raw {
    const b = this.bytes.slice(this.start, this.end);
    return new Raw(b, 0, b.length);
  }

  /** toString decodes the bytes as UTF-8 text. */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.bytes.dataStart + <usize>this.start, <usize>this.length);
  }

  /** decode returns the decoded JSON string value (with its quotes), or
   * null when it is not a valid JSON string. */
  decode(): Raw | null {
    if (this.kind() != Kind.String) return null;
    const s = skipWs(this.bytes, this.start, this.end);
    const out = new Buffer();
    if (!unescapeTo(new Raw(this.bytes, s + 1, this.end - 1), out)) return null;
    return out.raw();
  }
}

function isWs(c: u8): bool { return c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D; }

function skipWs(b: Uint8Array, i: i32, end: i32): i32 {
  while (i < end && isWs(unchecked(b[i]))) i++;
  return i;
}

/** skipString returns the index after the string that starts at i (on its
 * opening quote), or -1. */
function skipString(b: Uint8Array, i: i32, end: i32): i32 {
  for (i++; i < end; i++) {
    const c = unchecked(b[i]);
    if (c == 0x5C) { i++; continue; }
    if (c == 0x22) return i + 1;
  }
  return -1;
}

/** skipValue returns the index after the value that starts at i, or -1. */
function skipValue(b: Uint8Array, i: i32, end: i32): i32 {
  if (i >= end) return -1;
  let c = unchecked(b[i]);
  if (c == 0x22) return skipString(b, i, end);
  if (c != 0x7B && c != 0x5B) {
    const start = i;
    while (i < end) {
      c = unchecked(b[i]);
      if (isWs(c) || c == 0x2C || c == 0x7D || c == 0x5D || c == 0x3A) break;
      i++;
    }
    return i > start ? i : -1;
  }
  let depth = 0;
  while (i < end) {
    c = unchecked(b[i]);
    if (c == 0x22) {
      i = skipString(b, i, end);
      if (i < 0) return -1;
      continue;
    }
    if (c == 0x7B || c == 0x5B) depth++;
    else if (c == 0x7D || c == 0x5D) {
      if (--depth == 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** Iter walks the members of an object or the elements of an array. After
 * next() returns true, key is the raw member name without quotes (empty
 * for an array) and value the raw value. err is set on malformed JSON. */
export class Iter {
  key: Raw;
  value: Raw;
  err: bool = false;
  private b: Uint8Array;
  private pos: i32;
  private end: i32;
  private close: u8;
  private first: bool = true;

  constructor(container: Raw) {
    this.b = container.bytes;
    this.end = container.end;
    this.key = new Raw(container.bytes, 0, 0);
    this.value = new Raw(container.bytes, 0, 0);
    const i = skipWs(this.b, container.start, this.end);
    const c: u8 = i < this.end ? unchecked(this.b[i]) : 0;
    if (c == 0x7B) this.close = 0x7D;
    else if (c == 0x5B) this.close = 0x5D;
    else { this.close = 0; this.err = true; }
    this.pos = i + 1;
  }

  next(): bool {
    if (this.err || this.close == 0) return false;
    const b = this.b, end = this.end;
    let i = skipWs(b, this.pos, end);
    if (i >= end) return this.fail();
    if (unchecked(b[i]) == this.close) { this.close = 0; return false; }
    if (!this.first) {
      if (unchecked(b[i]) != 0x2C) return this.fail();
      i = skipWs(b, i + 1, end);
    }
    this.first = false;
    this.key = new Raw(b, i, i);
    if (this.close == 0x7D) {
      if (i >= end || unchecked(b[i]) != 0x22) return this.fail();
      const k = skipString(b, i, end);
      if (k < 0) return this.fail();
      this.key = new Raw(b, i + 1, k - 1);
      i = skipWs(b, k, end);
      if (i >= end || unchecked(b[i]) != 0x3A) return this.fail();
      i = skipWs(b, i + 1, end);
    }
    const v = skipValue(b, i, end);
    if (v < 0) return this.fail();
    this.value = new Raw(b, i, v);
    this.pos = v;
    return true;
  }

  private fail(): bool {
    this.err = true;
    return false;
  }
}

/** Buffer is a growable byte buffer for building output. */
export class Buffer {
  bytes: Uint8Array = new Uint8Array(64);
  length: i32 = 0;

  reset(): void { this.length = 0; }

  private reserve(n: i32): void {
    if (this.length + n <= this.bytes.length) return;
    let cap = this.bytes.length * 2;
    while (cap < this.length + n) cap *= 2;
    const grown = new Uint8Array(cap);
    memory.copy(grown.dataStart, this.bytes.dataStart, <usize>this.length);
    this.bytes = grown;
  }

  byte(c: u8): Buffer {
    this.reserve(1);
    unchecked(this.bytes[this.length++] = c);
    return this;
  }

  raw(): Raw { return new Raw(this.bytes, 0, this.length); }

  /** append copies the bytes of r. */
  append(r: Raw): Buffer {
    const n = r.length;
    this.reserve(n);
    memory.copy(this.bytes.dataStart + <usize>this.length, r.bytes.dataStart + <usize>r.start, <usize>n);
    this.length += n;
    return this;
  }

  /** text appends s encoded as UTF-8. ASCII text is copied without
   * allocating, because listeners append many short constants per event. */
  text(s: string): Buffer {
    const n = s.length;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) >= 0x80) return this.append(Raw.of(s));
    }
    this.reserve(n);
    for (let i = 0; i < n; i++) unchecked(this.bytes[this.length + i] = <u8>s.charCodeAt(i));
    this.length += n;
    return this;
  }

  /** int appends v in decimal. */
  int(v: i64): Buffer {
    return this.text(v.toString());
  }

  /** quote appends the UTF-8 text r as a JSON string, escaped as Go's
   * encoding/json does: quotation mark, backslash and control characters,
   * also <, > and & as \u003c \u003e \u0026, U+2028 and U+2029, and
   * invalid UTF-8 as \ufffd. */
  quote(r: Raw): Buffer {
    this.byte(0x22);
    let run = 0;
    let i = 0;
    const n = r.length;
    while (i < n) {
      const c = r.at(i);
      let esc: string | null = null;
      let skip = 1;
      if (c < 0x80) {
        if (c >= 0x20 && c != 0x22 && c != 0x5C && c != 0x3C && c != 0x3E && c != 0x26) { i++; continue; }
        if (c == 0x22) esc = "\\\"";
        else if (c == 0x5C) esc = "\\\\";
        else if (c == 0x08) esc = "\\b";
        else if (c == 0x0C) esc = "\\f";
        else if (c == 0x0A) esc = "\\n";
        else if (c == 0x0D) esc = "\\r";
        else if (c == 0x09) esc = "\\t";
        else esc = "\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15);
      } else {
        const len = utf8Len(r, i);
        if (len == 0) esc = "\\ufffd";
        else if (len == 3 && c == 0xE2 && r.at(i + 1) == 0x80 && (r.at(i + 2) == 0xA8 || r.at(i + 2) == 0xA9)) {
          esc = r.at(i + 2) == 0xA8 ? "\\u2028" : "\\u2029";
          skip = 3;
        } else { i += len; continue; }
      }
      this.append(new Raw(r.bytes, r.start + run, r.start + i));
      this.text(esc!);
      i += skip;
      run = i;
    }
    this.append(new Raw(r.bytes, r.start + run, r.start + i));
    return this.byte(0x22);
  }

  /** compact appends the raw JSON value v with whitespace outside strings
   * removed. */
  compact(v: Raw): Buffer {
    const b = v.bytes, end = v.end;
    let i = v.start;
    while (i < end) {
      const c = unchecked(b[i]);
      if (c == 0x22) {
        let q = skipString(b, i, end);
        if (q < 0) q = end;
        this.append(new Raw(b, i, q));
        i = q;
      } else if (isWs(c)) {
        i++;
      } else {
        let q = i;
        while (q < end && unchecked(b[q]) != 0x22 && !isWs(unchecked(b[q]))) q++;
        this.append(new Raw(b, i, q));
        i = q;
      }
    }
    return this;
  }
}

const HEX = "0123456789abcdef";

/** utf8Len returns the length of the valid UTF-8 sequence at r[i], or 0
 * (overlong forms and surrogates included). */
function utf8Len(r: Raw, i: i32): i32 {
  const c = <u32>r.at(i);
  let n: i32, cp: u32, lo: u32;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; lo = 0x80; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; lo = 0x800; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; lo = 0x10000; }
  else return 0;
  if (r.length - i < n) return 0;
  for (let k = 1; k < n; k++) {
    const d = <u32>r.at(i + k);
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if (cp < lo || cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) return 0;
  return n;
}

function hexVal(c: u8): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function hex4(r: Raw, i: i32): i32 {
  if (r.length - i < 4) return -1;
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const h = hexVal(r.at(i + k));
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

function putUtf8(out: Buffer, cp: u32): void {
  if (cp < 0x80) { out.byte(<u8>cp); return; }
  if (cp < 0x800) { out.byte(<u8>(0xC0 | (cp >> 6))).byte(<u8>(0x80 | (cp & 0x3F))); return; }
  if (cp < 0x10000) {
    out.byte(<u8>(0xE0 | (cp >> 12))).byte(<u8>(0x80 | ((cp >> 6) & 0x3F))).byte(<u8>(0x80 | (cp & 0x3F)));
    return;
  }
  out.byte(<u8>(0xF0 | (cp >> 18))).byte(<u8>(0x80 | ((cp >> 12) & 0x3F)))
    .byte(<u8>(0x80 | ((cp >> 6) & 0x3F))).byte(<u8>(0x80 | (cp & 0x3F)));
}

/** unescapeTo appends the decoded form of raw JSON string content (without
 * quotes) to out. It returns false on an invalid escape. An unpaired
 * surrogate becomes U+FFFD, as in Go's encoding/json. */
export function unescapeTo(raw: Raw, out: Buffer): bool {
  let i = 0;
  const n = raw.length;
  while (i < n) {
    const run = i;
    while (i < n && raw.at(i) != 0x5C) i++;
    out.append(new Raw(raw.bytes, raw.start + run, raw.start + i));
    if (i >= n) break;
    if (i + 1 >= n) return false;
    const c = raw.at(i + 1);
    i += 2;
    if (c == 0x22 || c == 0x5C || c == 0x2F) out.byte(c);
    else if (c == 0x62) out.byte(0x08);
    else if (c == 0x66) out.byte(0x0C);
    else if (c == 0x6E) out.byte(0x0A);
    else if (c == 0x72) out.byte(0x0D);
    else if (c == 0x74) out.byte(0x09);
    else if (c == 0x75) {
      let cp = hex4(raw, i);
      if (cp < 0) return false;
      i += 4;
      if (cp >= 0xD800 && cp < 0xDC00) {
        let lo = -1;
        if (n - i >= 6 && raw.at(i) == 0x5C && raw.at(i + 1) == 0x75) lo = hex4(raw, i + 2);
        if (lo >= 0xDC00 && lo < 0xE000) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        } else cp = 0xFFFD;
      } else if (cp >= 0xDC00 && cp < 0xE000) cp = 0xFFFD;
      putUtf8(out, <u32>cp);
    } else return false;
  }
  return true;
}

/** unescape returns the decoded raw member name or string content, or null
 * on an invalid escape. */
export function unescape(raw: Raw): Raw | null {
  const out = new Buffer();
  return unescapeTo(raw, out) ? out.raw() : null;
}

/** fold returns the ASCII lower case of the rune at r[i] and stores its
 * length in foldLen, with U+017F (long s) folded to 's' and U+212A
 * (Kelvin sign) to 'k'. */
let foldLen: i32 = 1;
function fold(r: Raw, i: i32): u32 {
  const c = <u32>r.at(i);
  const n = utf8Len(r, i);
  if (n == 0) { foldLen = 1; return 0xFFFD; }
  foldLen = n;
  if (n == 1) return c >= 0x41 && c <= 0x5A ? c + 32 : c;
  if (n == 2 && c == 0xC5 && r.at(i + 1) == 0xBF) return 0x73;
  if (n == 3 && c == 0xE2 && r.at(i + 1) == 0x84 && r.at(i + 2) == 0xAA) return 0x6B;
  // Any other multi-byte rune: compare its bytes.
  let v: u32 = 0;
  for (let k = 0; k < n; k++) v = (v << 8) | <u32>r.at(i + k);
  return v | 0x80000000;
}

/** keyEq reports whether a decoded config member name selects field the
 * way Go's encoding/json matches struct fields: exactly, or ignoring case
 * (with the Unicode simple folds of k and s). */
export function keyEq(name: Raw, field: string): bool {
  const f = Raw.of(field);
  if (name.equals(f)) return true;
  let i = 0, j = 0;
  while (i < name.length && j < f.length) {
    const a = fold(name, i);
    const na = foldLen;
    const b = fold(f, j);
    const nb = foldLen;
    if (a != b) return false;
    i += na;
    j += nb;
  }
  return i == name.length && j == f.length;
}
