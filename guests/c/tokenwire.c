/*
 * tokenwire.c: the C SDK for tokenwire listeners. See tokenwire.h.
 */
#include "tokenwire.h"

#ifdef TW_FREESTANDING
/* ---- freestanding support: the few libc functions clang may call ----- */
void *memcpy(void *dst, const void *src, size_t n) {
	unsigned char *d = dst;
	const unsigned char *s = src;
	while (n--) *d++ = *s++;
	return dst;
}
void *memmove(void *dst, const void *src, size_t n) {
	unsigned char *d = dst;
	const unsigned char *s = src;
	if (d < s) {
		while (n--) *d++ = *s++;
	} else {
		while (n--) d[n] = s[n];
	}
	return dst;
}
void *memset(void *dst, int c, size_t n) {
	unsigned char *d = dst;
	while (n--) *d++ = (unsigned char)c;
	return dst;
}
int memcmp(const void *a, const void *b, size_t n) {
	const unsigned char *x = a, *y = b;
	for (; n; n--, x++, y++) {
		if (*x != *y) return *x - *y;
	}
	return 0;
}

/*
 * The allocator is a bump allocator over memory.grow. It never frees, but
 * it extends the most recent block in place, so the SDK's buffers, which
 * only grow, waste little.
 */
extern unsigned char __heap_base;
static uintptr_t heap_next, heap_end, last_block;

static void *tw_realloc(void *old, size_t old_size, size_t size) {
	if (heap_next == 0) heap_next = heap_end = (uintptr_t)&__heap_base;
	if (old && (uintptr_t)old == last_block) {
		uintptr_t need = last_block + size;
		if (need > heap_end) {
			size_t pages = (need - heap_end + 65535) / 65536;
			if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
			heap_end += pages * 65536;
		}
		heap_next = need;
		return old;
	}
	uintptr_t start = (heap_next + 7) & ~(uintptr_t)7;
	uintptr_t need = start + size;
	if (need > heap_end) {
		size_t pages = (need - heap_end + 65535) / 65536;
		if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) return 0;
		heap_end += pages * 65536;
	}
	heap_next = need;
	last_block = start;
	if (old) memcpy((void *)start, old, old_size < size ? old_size : size);
	return (void *)start;
}
#else
#include <stdlib.h>
#include <string.h>
static void *tw_realloc(void *old, size_t old_size, size_t size) {
	(void)old_size;
	return realloc(old, size);
}
#endif

/* ---- host imports ------------------------------------------------------- */

#define TW_IMPORT(name) __attribute__((import_module("tokenwire"), import_name(#name)))
TW_IMPORT(event_read) int32_t tw__event_read(const void *buf, int32_t len);
TW_IMPORT(config_read) int32_t tw__config_read(const void *buf, int32_t len);
TW_IMPORT(log) int32_t tw__log(int32_t level, const void *msg, int32_t len);
TW_IMPORT(set_error) int32_t tw__set_error(const void *msg, int32_t len);
TW_IMPORT(sign) int32_t tw__sign(const void *claims, int32_t len);
TW_IMPORT(result_read) int32_t tw__result_read(const void *buf, int32_t len);
TW_IMPORT(emit) int32_t tw__emit(const void *sink, int32_t sink_len, const void *data, int32_t len);

/* ---- strings and buffers --------------------------------------------- */

const char *tw_status_name(int status) {
	switch (status) {
	case TW_OK: return "OK";
	case TW_INVALID_MEMORY: return "INVALID_MEMORY";
	case TW_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
	case TW_NOT_PERMITTED: return "NOT_PERMITTED";
	case TW_NOT_FOUND: return "NOT_FOUND";
	case TW_TOO_LARGE: return "TOO_LARGE";
	case TW_LIMIT_EXCEEDED: return "LIMIT_EXCEEDED";
	case TW_UNAVAILABLE: return "UNAVAILABLE";
	case TW_INTERNAL: return "INTERNAL";
	case TW_NO_MEMORY: return "NO_MEMORY";
	default: return "UNKNOWN_STATUS";
	}
}

tw_str tw_cstr(const char *s) {
	size_t n = 0;
	while (s[n]) n++;
	return (tw_str){s, n};
}

int tw_str_eq(tw_str a, tw_str b) {
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* buf_reserve makes room for n more bytes plus a NUL. */
static int buf_reserve(tw_buf *b, size_t n) {
	if (b->err) return 0;
	if (b->len + n + 1 <= b->cap) return 1;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + n + 1) cap *= 2;
	char *p = tw_realloc(b->ptr, b->cap, cap);
	if (!p) {
		b->err = 1;
		return 0;
	}
	b->ptr = p;
	b->cap = cap;
	return 1;
}

void tw_buf_reset(tw_buf *b) {
	b->len = 0;
	b->err = 0;
}

void tw_buf_append(tw_buf *b, tw_str s) {
	if (!buf_reserve(b, s.len)) return;
	if (s.len) memcpy(b->ptr + b->len, s.ptr, s.len);
	b->len += s.len;
}

void tw_buf_byte(tw_buf *b, char c) {
	if (!buf_reserve(b, 1)) return;
	b->ptr[b->len++] = c;
}

void tw_buf_int(tw_buf *b, int64_t v) {
	char digits[24];
	int n = 0;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0) tw_buf_byte(b, '-');
	while (n) tw_buf_byte(b, digits[--n]);
}

tw_str tw_buf_str(tw_buf *b) {
	if (!buf_reserve(b, 0)) return (tw_str){"", 0};
	b->ptr[b->len] = 0;
	return (tw_str){b->ptr, b->len};
}

/* ---- JSON reading ----------------------------------------------------- */

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static const char *skip_ws(const char *p, const char *end) {
	while (p < end && is_ws(*p)) p++;
	return p;
}

/* skip_string returns the byte after the closing quote of the string that
 * starts at p (on its opening quote), or NULL. */
static const char *skip_string(const char *p, const char *end) {
	for (p++; p < end; p++) {
		if (*p == '\\') {
			p++;
			continue;
		}
		if (*p == '"') return p + 1;
	}
	return 0;
}

/* skip_value returns the byte after the value that starts at p, or NULL.
 * Nesting is tracked by counting, so depth costs no stack. */
static const char *skip_value(const char *p, const char *end) {
	if (p >= end) return 0;
	if (*p == '"') return skip_string(p, end);
	if (*p != '{' && *p != '[') {
		const char *start = p;
		while (p < end && !is_ws(*p) && *p != ',' && *p != '}' && *p != ']' && *p != ':') p++;
		return p > start ? p : 0;
	}
	size_t depth = 0;
	for (; p < end; p++) {
		char c = *p;
		if (c == '"') {
			p = skip_string(p, end);
			if (!p) return 0;
			p--;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0) return p + 1;
		}
	}
	return 0;
}

tw_json_kind tw_json_kind_of(tw_str v) {
	const char *p = skip_ws(v.ptr, v.ptr + v.len);
	if (p >= v.ptr + v.len) return TW_JSON_INVALID;
	switch (*p) {
	case '{': return TW_JSON_OBJECT;
	case '[': return TW_JSON_ARRAY;
	case '"': return TW_JSON_STRING;
	case 'n': return TW_JSON_NULL;
	case 't':
	case 'f': return TW_JSON_BOOL;
	default: return (*p == '-' || (*p >= '0' && *p <= '9')) ? TW_JSON_NUMBER : TW_JSON_INVALID;
	}
}

void tw_json_iter_begin(tw_json_iter *it, tw_str c) {
	const char *end = c.ptr + c.len;
	const char *p = skip_ws(c.ptr, end);
	it->end = end;
	it->first = 1;
	it->err = 0;
	if (p < end && (*p == '{' || *p == '[')) {
		it->close = *p == '{' ? '}' : ']';
		it->p = p + 1;
	} else {
		it->close = 0;
		it->p = end;
		it->err = 1;
	}
}

int tw_json_next(tw_json_iter *it, tw_str *key, tw_str *value) {
	if (it->err || !it->close) return 0;
	const char *p = skip_ws(it->p, it->end);
	if (p >= it->end) goto bad;
	if (*p == it->close) {
		it->close = 0;
		return 0;
	}
	if (!it->first) {
		if (*p != ',') goto bad;
		p = skip_ws(p + 1, it->end);
	}
	it->first = 0;
	*key = (tw_str){"", 0};
	if (it->close == '}') {
		if (p >= it->end || *p != '"') goto bad;
		const char *k = skip_string(p, it->end);
		if (!k) goto bad;
		*key = (tw_str){p + 1, (size_t)(k - p - 2)};
		p = skip_ws(k, it->end);
		if (p >= it->end || *p != ':') goto bad;
		p = skip_ws(p + 1, it->end);
	}
	const char *v = skip_value(p, it->end);
	if (!v) goto bad;
	*value = (tw_str){p, (size_t)(v - p)};
	it->p = v;
	return 1;
bad:
	it->err = 1;
	return 0;
}

static int hex_val(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* read_hex4 reads four hex digits at p, or returns -1. */
static long read_hex4(const char *p, const char *end) {
	if (end - p < 4) return -1;
	long v = 0;
	for (int i = 0; i < 4; i++) {
		int h = hex_val(p[i]);
		if (h < 0) return -1;
		v = v * 16 + h;
	}
	return v;
}

static void put_utf8(tw_buf *out, unsigned long r) {
	if (r < 0x80) {
		tw_buf_byte(out, (char)r);
	} else if (r < 0x800) {
		tw_buf_byte(out, (char)(0xC0 | (r >> 6)));
		tw_buf_byte(out, (char)(0x80 | (r & 0x3F)));
	} else if (r < 0x10000) {
		tw_buf_byte(out, (char)(0xE0 | (r >> 12)));
		tw_buf_byte(out, (char)(0x80 | ((r >> 6) & 0x3F)));
		tw_buf_byte(out, (char)(0x80 | (r & 0x3F)));
	} else {
		tw_buf_byte(out, (char)(0xF0 | (r >> 18)));
		tw_buf_byte(out, (char)(0x80 | ((r >> 12) & 0x3F)));
		tw_buf_byte(out, (char)(0x80 | ((r >> 6) & 0x3F)));
		tw_buf_byte(out, (char)(0x80 | (r & 0x3F)));
	}
}

int tw_json_unescape(tw_str raw, tw_buf *out) {
	const char *p = raw.ptr, *end = raw.ptr + raw.len;
	while (p < end) {
		const char *run = p;
		while (p < end && *p != '\\') p++;
		tw_buf_append(out, (tw_str){run, (size_t)(p - run)});
		if (p >= end) break;
		if (++p >= end) return TW_INVALID_ARGUMENT;
		char c = *p++;
		switch (c) {
		case '"': case '\\': case '/': tw_buf_byte(out, c); break;
		case 'b': tw_buf_byte(out, '\b'); break;
		case 'f': tw_buf_byte(out, '\f'); break;
		case 'n': tw_buf_byte(out, '\n'); break;
		case 'r': tw_buf_byte(out, '\r'); break;
		case 't': tw_buf_byte(out, '\t'); break;
		case 'u': {
			long r = read_hex4(p, end);
			if (r < 0) return TW_INVALID_ARGUMENT;
			p += 4;
			if (r >= 0xD800 && r < 0xDC00) {
				long lo = -1;
				if (end - p >= 6 && p[0] == '\\' && p[1] == 'u') lo = read_hex4(p + 2, end);
				if (lo >= 0xDC00 && lo < 0xE000) {
					r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
					p += 6;
				} else {
					r = 0xFFFD;
				}
			} else if (r >= 0xDC00 && r < 0xE000) {
				r = 0xFFFD;
			}
			put_utf8(out, (unsigned long)r);
			break;
		}
		default: return TW_INVALID_ARGUMENT;
		}
	}
	return out->err ? TW_NO_MEMORY : TW_OK;
}

int tw_json_string(tw_str v, tw_buf *out) {
	if (v.len < 2 || v.ptr[0] != '"' || v.ptr[v.len - 1] != '"') return TW_INVALID_ARGUMENT;
	return tw_json_unescape((tw_str){v.ptr + 1, v.len - 2}, out);
}

/* ---- JSON writing ------------------------------------------------------- */

/* utf8_decode decodes one UTF-8 sequence at p and returns its length, or 0
 * when the bytes are not valid UTF-8 (overlong forms and surrogates
 * included). */
static size_t utf8_decode(const unsigned char *p, const unsigned char *end, unsigned long *r) {
	unsigned char c = p[0];
	size_t n;
	unsigned long min;
	if (c < 0x80) {
		*r = c;
		return 1;
	} else if (c >= 0xC2 && c <= 0xDF) {
		n = 2; min = 0x80; *r = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3; min = 0x800; *r = c & 0x0F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4; min = 0x10000; *r = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n) return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80) return 0;
		*r = (*r << 6) | (p[i] & 0x3F);
	}
	if (*r < min || *r > 0x10FFFF || (*r >= 0xD800 && *r < 0xE000)) return 0;
	return n;
}

void tw_json_quote(tw_buf *b, tw_str s) {
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s.ptr, *end = p + s.len;
	const unsigned char *run = p;
	tw_buf_byte(b, '"');
	while (p < end) {
		unsigned char c = *p;
		const char *esc = 0;
		char u[7];
		size_t skip = 1;
		if (c < 0x80) {
			if (c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
				p++;
				continue;
			}
			switch (c) {
			case '"': esc = "\\\""; break;
			case '\\': esc = "\\\\"; break;
			case '\b': esc = "\\b"; break;
			case '\f': esc = "\\f"; break;
			case '\n': esc = "\\n"; break;
			case '\r': esc = "\\r"; break;
			case '\t': esc = "\\t"; break;
			default:
				u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
				u[4] = hex[c >> 4]; u[5] = hex[c & 15]; u[6] = 0;
				esc = u;
			}
		} else {
			unsigned long r;
			size_t n = utf8_decode(p, end, &r);
			if (n == 0) {
				esc = "\\ufffd";
			} else if (r == 0x2028) {
				esc = "\\u2028";
				skip = n;
			} else if (r == 0x2029) {
				esc = "\\u2029";
				skip = n;
			} else {
				p += n;
				continue;
			}
		}
		tw_buf_append(b, (tw_str){(const char *)run, (size_t)(p - run)});
		tw_buf_append(b, tw_cstr(esc));
		p += skip;
		run = p;
	}
	tw_buf_append(b, (tw_str){(const char *)run, (size_t)(p - run)});
	tw_buf_byte(b, '"');
}

void tw_json_compact(tw_buf *b, tw_str v) {
	const char *p = v.ptr, *end = v.ptr + v.len;
	while (p < end) {
		if (*p == '"') {
			const char *q = skip_string(p, end);
			if (!q) q = end;
			tw_buf_append(b, (tw_str){p, (size_t)(q - p)});
			p = q;
		} else if (is_ws(*p)) {
			p++;
		} else {
			const char *q = p;
			while (q < end && *q != '"' && !is_ws(*q)) q++;
			tw_buf_append(b, (tw_str){p, (size_t)(q - p)});
			p = q;
		}
	}
}

/* fold returns the ASCII lower case of the rune at p and its length, with
 * U+017F (long s) folded to 's' and U+212A (Kelvin sign) to 'k'. */
static unsigned long fold(const unsigned char *p, const unsigned char *end, size_t *n) {
	unsigned long r;
	*n = utf8_decode(p, end, &r);
	if (*n == 0) {
		*n = 1;
		return 0xFFFD;
	}
	if (r >= 'A' && r <= 'Z') return r + 32;
	if (r == 0x17F) return 's';
	if (r == 0x212A) return 'k';
	return r;
}

int tw_json_key_eq(tw_str name, const char *field) {
	tw_str f = tw_cstr(field);
	if (tw_str_eq(name, f)) return 1;
	const unsigned char *p = (const unsigned char *)name.ptr, *pe = p + name.len;
	const unsigned char *q = (const unsigned char *)f.ptr, *qe = q + f.len;
	while (p < pe && q < qe) {
		size_t np, nq;
		if (fold(p, pe, &np) != fold(q, qe, &nq)) return 0;
		p += np;
		q += nq;
	}
	return p == pe && q == qe;
}

/* ---- dispatch ------------------------------------------------------------- */

static tw_buf config_buf, event_buf, strings_buf, result_buf, error_buf;
static tw_event current;

/* read_host fills b from a read host function, growing it to the total the
 * host reports. */
static int read_host(int32_t (*read)(const void *, int32_t), tw_buf *b, int32_t hint) {
	tw_buf_reset(b);
	if (hint > 0 && !buf_reserve(b, (size_t)hint)) return TW_NO_MEMORY;
	int32_t total = read(b->ptr, (int32_t)(b->cap ? b->cap - 1 : 0));
	if (total < 0) return total;
	if ((size_t)total + 1 > b->cap) {
		if (!buf_reserve(b, (size_t)total)) return TW_NO_MEMORY;
		int32_t again = read(b->ptr, total);
		if (again < 0) return again;
		if (again != total) return TW_INTERNAL;
	}
	b->len = (size_t)total;
	b->ptr[b->len] = 0;
	return TW_OK;
}

tw_str tw_config(void) {
	if (!config_buf.ptr) return TW_S("{}");
	return (tw_str){config_buf.ptr, config_buf.len};
}

int tw_sign(tw_str claims, tw_str *token) {
	int32_t n = tw__sign(claims.ptr, (int32_t)claims.len);
	if (n < 0) return n;
	int status = read_host(tw__result_read, &result_buf, n);
	if (status != TW_OK) return status;
	*token = (tw_str){result_buf.ptr, result_buf.len};
	return TW_OK;
}

int tw_emit(tw_str sink, tw_str data) {
	int32_t status = tw__emit(sink.ptr, (int32_t)sink.len, data.ptr, (int32_t)data.len);
	return status < 0 ? status : TW_OK;
}

void tw_log(int level, tw_str msg) { (void)tw__log(level, msg.ptr, (int32_t)msg.len); }

void tw_set_error(tw_str msg) {
	while (tw__set_error(msg.ptr, (int32_t)msg.len) == TW_TOO_LARGE && msg.len > 0) {
		msg.len /= 2;
		/* Drop a character cut in half. */
		size_t cut = msg.len;
		while (cut > 0 && (msg.ptr[cut - 1] & 0xC0) == 0x80) cut--;
		if (cut > 0 && (unsigned char)msg.ptr[cut - 1] >= 0xC0) {
			unsigned char lead = (unsigned char)msg.ptr[cut - 1];
			size_t need = 2;
			if (lead >= 0xF0) {
				need = 4;
			} else if (lead >= 0xE0) {
				need = 3;
			}
			if (msg.len - (cut - 1) < need) msg.len = cut - 1;
		}
	}
}

int tw_is_id_token(const tw_event *e) { return tw_str_eq(e->type, TW_S("id_token.issued")); }
int tw_is_access_token(const tw_event *e) { return tw_str_eq(e->type, TW_S("access_token.issued")); }

int tw_claim(const tw_event *e, tw_str name, tw_str *value) {
	static tw_buf key_buf;
	tw_json_iter it;
	tw_str key, v;
	int found = 0;
	tw_json_iter_begin(&it, e->claims);
	while (tw_json_next(&it, &key, &v)) {
		tw_buf_reset(&key_buf);
		if (tw_json_unescape(key, &key_buf) != TW_OK) continue;
		if (tw_str_eq((tw_str){key_buf.ptr, key_buf.len}, name)) {
			*value = v;
			found = 1;
		}
	}
	return found;
}

/* fail reports msg with set_error and returns the failure code. */
static int32_t fail(const char *msg) {
	tw_set_error(tw_cstr(msg));
	return 1;
}

/* fail_status reports what, followed by the name of status. */
static int32_t fail_status(const char *what, int status) {
	tw_buf_reset(&error_buf);
	tw_buf_append(&error_buf, tw_cstr(what));
	tw_buf_append(&error_buf, tw_cstr(tw_status_name(status)));
	tw_set_error(tw_buf_str(&error_buf));
	return 1;
}

int32_t tw__dispatch_init(int32_t config_len, tw_init_fn init, tw_event_fn on_event) {
	int status = read_host(tw__config_read, &config_buf, config_len);
	if (status != TW_OK) {
		return fail_status("listener: read config: ", status);
	}
	if (!on_event) return fail("listener: no event handler registered: pass one to TW_LISTENER");
	if (init) return init(tw_config()) == 0 ? 0 : 1;
	return 0;
}

/* decode_string stores the decoded JSON string v in *dst, appending to
 * strings_buf. Offsets are fixed up after decoding, because the buffer may
 * move while it grows. */
static int decode_string(tw_str v, size_t *offset, size_t *len) {
	*offset = strings_buf.len;
	if (tw_json_string(v, &strings_buf) != TW_OK) return 0;
	*len = strings_buf.len - *offset;
	tw_buf_byte(&strings_buf, 0);
	return !strings_buf.err;
}

/* decode_event parses the event JSON in event_buf into current. */
static const char *decode_event(void) {
	enum { ID, TYPE, ISSUER, CLIENT, SUBJECT, NSTR };
	static const char *const names[NSTR] = {"id", "type", "issuer", "client_id", "subject"};
	size_t off[NSTR] = {0}, len[NSTR] = {0};
	int have[NSTR] = {0};
	tw_json_iter it;
	tw_str key, v;

	tw_buf_reset(&strings_buf);
	current = (tw_event){0};
	tw_json_iter_begin(&it, (tw_str){event_buf.ptr, event_buf.len});
	while (tw_json_next(&it, &key, &v)) {
		int i;
		for (i = 0; i < NSTR; i++) {
			if (tw_str_eq(key, tw_cstr(names[i]))) break;
		}
		if (i < NSTR) {
			if (!decode_string(v, &off[i], &len[i])) return "listener: invalid event: bad string member";
			have[i] = 1;
		} else if (tw_str_eq(key, TW_S("time"))) {
			int64_t t = 0;
			size_t j = 0;
			int neg = v.len > 0 && v.ptr[0] == '-';
			for (j = neg; j < v.len; j++) {
				if (v.ptr[j] < '0' || v.ptr[j] > '9') return "listener: invalid event: time is not an integer";
				t = t * 10 + (v.ptr[j] - '0');
			}
			current.time = neg ? -t : t;
		} else if (tw_str_eq(key, TW_S("claims"))) {
			current.claims = v;
		} else if (tw_str_eq(key, TW_S("context"))) {
			if (tw_json_kind_of(v) == TW_JSON_OBJECT) current.context = v;
		}
	}
	if (it.err) return "listener: invalid event: malformed JSON";
	tw_str *fields[NSTR] = {&current.id, &current.type, &current.issuer, &current.client_id, &current.subject};
	for (int i = 0; i < NSTR; i++) {
		*fields[i] = have[i] ? (tw_str){strings_buf.ptr + off[i], len[i]} : (tw_str){"", 0};
	}
	if (current.claims.len == 0) current.claims = TW_S("{}");
	return 0;
}

int32_t tw__dispatch_event(int32_t event_len, tw_event_fn on_event) {
	if (!on_event) return fail("listener: no event handler registered: pass one to TW_LISTENER");
	int status = read_host(tw__event_read, &event_buf, event_len);
	if (status != TW_OK) {
		return fail_status("listener: read event: ", status);
	}
	const char *err = decode_event();
	if (err) return fail(err);
	return on_event(&current) == 0 ? 0 : 1;
}
