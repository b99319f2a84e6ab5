//! A small JSON reader and writer that works on raw JSON text, so numbers
//! and nested values pass through exactly as the issuer wrote them.
//!
//! The reader never recurses: nesting of any depth costs no stack.

/// The kind of a JSON value, from its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
    Invalid,
}

/// Returns the kind of the raw JSON value `v`.
pub fn kind(v: &str) -> Kind {
    match v.trim_start_matches(is_ws).as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b'n') => Kind::Null,
        Some(b't') | Some(b'f') => Kind::Bool,
        Some(b'-') | Some(b'0'..=b'9') => Kind::Number,
        _ => Kind::Invalid,
    }
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Returns the index after the string that starts at `i` (its opening quote).
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Returns the index after the value that starts at `i`.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let start = i;
            while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']' | b':') {
                i += 1;
            }
            if i > start {
                Some(i)
            } else {
                None
            }
        }
    }
}

/// The error of reading malformed JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyntaxError;

impl core::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("malformed JSON")
    }
}

/// Iterates over the members of an object or the elements of an array
/// without copying. For an object, each item is the raw member name without
/// quotes (decode it with [`unescape`]) and the raw value. For an array, the
/// name is empty.
pub struct Iter<'a> {
    text: &'a str,
    pos: usize,
    close: u8,
    first: bool,
}

/// Returns an iterator over the members or elements of the raw container `v`.
/// A value that is neither an object nor an array yields one error.
pub fn iter(v: &str) -> Iter<'_> {
    let b = v.as_bytes();
    let i = skip_ws(b, 0);
    let close = match b.get(i) {
        Some(b'{') => b'}',
        Some(b'[') => b']',
        _ => 0,
    };
    Iter { text: v, pos: i + 1, close, first: true }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<(&'a str, &'a str), SyntaxError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.close == 1 {
            return None;
        }
        let result = self.step();
        match result {
            Some(Ok(_)) => {}
            _ => self.close = 1,
        }
        result
    }
}

impl<'a> Iter<'a> {
    fn step(&mut self) -> Option<Result<(&'a str, &'a str), SyntaxError>> {
        let b = self.text.as_bytes();
        if self.close == 0 {
            return Some(Err(SyntaxError));
        }
        let mut i = skip_ws(b, self.pos);
        if i >= b.len() {
            return Some(Err(SyntaxError));
        }
        if b[i] == self.close {
            return None;
        }
        if !self.first {
            if b[i] != b',' {
                return Some(Err(SyntaxError));
            }
            i = skip_ws(b, i + 1);
        }
        self.first = false;
        let mut key = "";
        if self.close == b'}' {
            if b.get(i) != Some(&b'"') {
                return Some(Err(SyntaxError));
            }
            let end = match skip_string(b, i) {
                Some(end) => end,
                None => return Some(Err(SyntaxError)),
            };
            key = &self.text[i + 1..end - 1];
            i = skip_ws(b, end);
            if b.get(i) != Some(&b':') {
                return Some(Err(SyntaxError));
            }
            i = skip_ws(b, i + 1);
        }
        let end = match skip_value(b, i) {
            Some(end) => end,
            None => return Some(Err(SyntaxError)),
        };
        self.pos = end;
        Some(Ok((key, &self.text[i..end])))
    }
}

fn hex4(b: &[u8]) -> Option<u32> {
    if b.len() < 4 {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..4] {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Decodes the raw content of a JSON string (without quotes). An unpaired
/// surrogate escape becomes U+FFFD, as in Go's encoding/json.
pub fn unescape(raw: &str) -> Result<String, SyntaxError> {
    if !raw.contains('\\') {
        return Ok(raw.to_owned());
    }
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i] != b'\\' {
            i += 1;
        }
        out.push_str(&raw[start..i]);
        if i >= b.len() {
            break;
        }
        let c = *b.get(i + 1).ok_or(SyntaxError)?;
        i += 2;
        match c {
            b'"' | b'\\' | b'/' => out.push(c as char),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let mut r = hex4(&b[i..]).ok_or(SyntaxError)?;
                i += 4;
                if (0xD800..0xDC00).contains(&r) {
                    let low = if b.len() >= i + 6 && b[i] == b'\\' && b[i + 1] == b'u' { hex4(&b[i + 2..]) } else { None };
                    match low {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => {
                            r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
                            i += 6;
                        }
                        _ => r = 0xFFFD,
                    }
                }
                out.push(char::from_u32(r).unwrap_or('\u{FFFD}'));
            }
            _ => return Err(SyntaxError),
        }
    }
    Ok(out)
}

/// Decodes the raw JSON string value `v` (with its quotes).
pub fn string(v: &str) -> Result<String, SyntaxError> {
    let v = v.trim_matches(is_ws);
    if v.len() < 2 || !v.starts_with('"') || !v.ends_with('"') {
        return Err(SyntaxError);
    }
    unescape(&v[1..v.len() - 1])
}

/// Appends `s` to `out` as a JSON string, escaped as Go's encoding/json
/// does: quotation mark, backslash and control characters, also `<`, `>`
/// and `&` as `\u003c` `\u003e` `\u0026`, and U+2028 and U+2029.
pub fn quote(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut run = 0;
    for (i, c) in s.char_indices() {
        let esc: &str;
        let mut u = [b'\\', b'u', b'0', b'0', b'0', b'0'];
        match c {
            '"' => esc = "\\\"",
            '\\' => esc = "\\\\",
            '\u{8}' => esc = "\\b",
            '\u{c}' => esc = "\\f",
            '\n' => esc = "\\n",
            '\r' => esc = "\\r",
            '\t' => esc = "\\t",
            '\u{2028}' => esc = "\\u2028",
            '\u{2029}' => esc = "\\u2029",
            c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                u[4] = HEX[(c as usize) >> 4];
                u[5] = HEX[(c as usize) & 15];
                esc = core::str::from_utf8(&u).unwrap_or("");
                out.push_str(&s[run..i]);
                out.push_str(esc);
                run = i + c.len_utf8();
                continue;
            }
            _ => continue,
        }
        out.push_str(&s[run..i]);
        out.push_str(esc);
        run = i + c.len_utf8();
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Appends the raw JSON value `v` to `out` with whitespace outside strings
/// removed.
pub fn compact(out: &mut String, v: &str) {
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'"' {
            let end = skip_string(b, i).unwrap_or(b.len());
            out.push_str(&v[i..end]);
            i = end;
        } else if matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        } else {
            let start = i;
            while i < b.len() && b[i] != b'"' && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
                i += 1;
            }
            out.push_str(&v[start..i]);
        }
    }
}

/// Reports whether the decoded member name `name` selects the struct-style
/// config field `field` the way Go's encoding/json matches names: exactly,
/// or ignoring case (with the Unicode simple folds of k and s).
pub fn key_eq(name: &str, field: &str) -> bool {
    fn fold(c: char) -> char {
        match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        }
    }
    name == field || (name.chars().count() == field.chars().count() && name.chars().zip(field.chars()).all(|(a, b)| fold(a) == fold(b)))
}
