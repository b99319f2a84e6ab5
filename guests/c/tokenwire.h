/*
 * tokenwire.h: the C SDK for tokenwire listeners, ABI version 1.
 *
 * A listener is a WebAssembly module that the tokenwire host calls once per
 * OAuth 2.0 / OpenID Connect token issue. This header and tokenwire.c
 * implement the module side of the ABI: the exports, reading the event and
 * config, and the host functions, plus a small JSON reader and writer that
 * keep numbers as the issuer wrote them.
 *
 * Build with wasi-libc (a WASI reactor):
 *
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--strip-all \
 *         -o listener.wasm listener.c tokenwire.c
 *
 * or freestanding, with no C library (the SDK brings memcpy, memset and a
 * small allocator):
 *
 *   clang --target=wasm32 -nostdlib -O2 -DTW_FREESTANDING \
 *         -Wl,--no-entry -Wl,--export-dynamic -Wl,--strip-all \
 *         -o listener.wasm listener.c tokenwire.c
 *
 * A listener registers its handlers once, at file scope:
 *
 *   static int on_event(const tw_event *e) { ... return 0; }
 *   TW_LISTENER(NULL, on_event, NULL)
 *
 * Strings (tw_str) point into buffers the SDK reuses, so they are valid only
 * until the handler returns. Every tw_str the SDK hands out is followed by a
 * NUL byte, so ptr can also be used as a C string when the value contains
 * no NUL of its own.
 */
#ifndef TOKENWIRE_H
#define TOKENWIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes returned by the host functions (negative) and by the SDK. */
enum {
	TW_OK = 0,
	TW_INVALID_MEMORY = -1,
	TW_INVALID_ARGUMENT = -2,
	TW_NOT_PERMITTED = -3,
	TW_NOT_FOUND = -4,
	TW_TOO_LARGE = -5,
	TW_LIMIT_EXCEEDED = -6,
	TW_UNAVAILABLE = -7,
	TW_INTERNAL = -8,
	/* Not a host status: the SDK could not allocate memory. */
	TW_NO_MEMORY = -100
};

/* tw_status_name returns the ABI name of a status, such as "NOT_FOUND". */
const char *tw_status_name(int status);

/* Log levels for tw_log. */
enum { TW_DEBUG = 0, TW_INFO = 1, TW_WARN = 2, TW_ERROR = 3 };

/* tw_str is a byte string with its length. */
typedef struct {
	const char *ptr;
	size_t len;
} tw_str;

/* TW_S makes a tw_str from a string literal. */
#define TW_S(lit) ((tw_str){(lit), sizeof(lit) - 1})

/* tw_cstr makes a tw_str from a NUL-terminated string. */
tw_str tw_cstr(const char *s);

/* tw_str_eq reports whether a and b contain the same bytes. */
int tw_str_eq(tw_str a, tw_str b);

/*
 * tw_event is one token-issue event. id, type, issuer, client_id and
 * subject are decoded UTF-8 strings. claims and context are raw JSON
 * objects, byte for byte as the host sent them. context.len is 0 when the
 * event has none, and subject.len is 0 when the token has no subject.
 */
typedef struct {
	tw_str id;
	tw_str type;
	int64_t time;
	tw_str issuer;
	tw_str client_id;
	tw_str subject;
	tw_str claims;
	tw_str context;
} tw_event;

/* tw_is_id_token and tw_is_access_token test the event type. */
int tw_is_id_token(const tw_event *e);
int tw_is_access_token(const tw_event *e);

/*
 * tw_claim finds the top-level claim named name (compared after unescaping
 * the claim names) and stores its raw JSON value in *value. It returns 1
 * when found, 0 when not. When a name appears more than once, the last one
 * wins, as in most JSON decoders.
 */
int tw_claim(const tw_event *e, tw_str name, tw_str *value);

/* ---- host functions ---------------------------------------------------- */

/* tw_config returns the listener config JSON, "{}" when there is none. */
tw_str tw_config(void);

/*
 * tw_sign has the host sign a Security Event Token with the claims
 * JSON object and stores the compact JWS in *token (valid until the next
 * tw_sign or the end of the call). It returns 0 or a negative status.
 */
int tw_sign(tw_str claims, tw_str *token);

/* tw_emit hands data to the named sink. It returns 0 or a negative status. */
int tw_emit(tw_str sink, tw_str data);

/* tw_log writes a log line at level. Failures are ignored. */
void tw_log(int level, tw_str msg);

/*
 * tw_set_error records the message the host reports when the handler
 * returns non-zero. A message the host finds too large is cut in half, at
 * a UTF-8 boundary, until it fits.
 */
void tw_set_error(tw_str msg);

/* ---- handlers ------------------------------------------------------------ */

/* Handlers return 0 for success and any other value for failure. */
typedef int (*tw_init_fn)(tw_str config);
typedef int (*tw_event_fn)(const tw_event *e);
typedef void (*tw_shutdown_fn)(void);

/*
 * TW_LISTENER(init, on_event, shutdown) defines the module's exports and
 * registers the handlers. Use it once, at file scope. init and shutdown may
 * be NULL; on_event must not be.
 */
#define TW_LISTENER(init, on_event, shutdown)                                   \
	__attribute__((export_name("tokenwire_abi_v1"))) void tw__abi_marker(void) {} \
	__attribute__((export_name("tw_init"))) int32_t tw__export_init(int32_t n) {  \
		return tw__dispatch_init(n, (init), (on_event));                        \
	}                                                                           \
	__attribute__((export_name("tw_on_event"))) int32_t tw__export_event(       \
	    int32_t n) {                                                            \
		return tw__dispatch_event(n, (on_event));                               \
	}                                                                           \
	__attribute__((export_name("tw_shutdown"))) void tw__export_shutdown(void) {  \
		tw_shutdown_fn fn = (shutdown);                                         \
		if (fn) fn();                                                           \
	}

int32_t tw__dispatch_init(int32_t config_len, tw_init_fn init, tw_event_fn on_event);
int32_t tw__dispatch_event(int32_t event_len, tw_event_fn on_event);

/* ---- JSON ------------------------------------------------------------------ */

/* JSON value kinds, from the first byte of a value. */
typedef enum {
	TW_JSON_INVALID = 0,
	TW_JSON_NULL,
	TW_JSON_BOOL,
	TW_JSON_NUMBER,
	TW_JSON_STRING,
	TW_JSON_ARRAY,
	TW_JSON_OBJECT
} tw_json_kind;

/* tw_json_kind_of returns the kind of the raw JSON value v. */
tw_json_kind tw_json_kind_of(tw_str v);

/*
 * tw_json_iter walks the members of an object or the elements of an array
 * without copying. Begin with tw_json_iter_begin on the raw container, then
 * call tw_json_next until it returns 0. For an object, key is the raw
 * member name without its quotes (decode it with tw_json_unescape); for an
 * array key is empty. err is set when the input is not valid JSON.
 */
typedef struct {
	const char *p;
	const char *end;
	char close;
	int first;
	int err;
} tw_json_iter;

void tw_json_iter_begin(tw_json_iter *it, tw_str container);
int tw_json_next(tw_json_iter *it, tw_str *key, tw_str *value);

/* tw_buf is a growable byte buffer. Start it zeroed: tw_buf b = {0}. */
typedef struct {
	char *ptr;
	size_t len;
	size_t cap;
	int err; /* set when an allocation failed; later appends do nothing */
} tw_buf;

void tw_buf_reset(tw_buf *b);
void tw_buf_append(tw_buf *b, tw_str s);
void tw_buf_byte(tw_buf *b, char c);
void tw_buf_int(tw_buf *b, int64_t v);
/* tw_buf_str returns the contents, NUL-terminated. */
tw_str tw_buf_str(tw_buf *b);

/*
 * tw_json_unescape appends the decoded form of the raw JSON string content
 * raw (without quotes) to out. Invalid escapes return TW_INVALID_ARGUMENT;
 * an unpaired surrogate becomes U+FFFD, as in Go's encoding/json.
 */
int tw_json_unescape(tw_str raw, tw_buf *out);

/* tw_json_string decodes the raw JSON string value v (with quotes) into out. */
int tw_json_string(tw_str v, tw_buf *out);

/*
 * tw_json_quote appends s as a JSON string, escaped as Go's encoding/json
 * does: quotation mark, backslash and control characters, also <, > and &
 * as \u003c \u003e \u0026, U+2028 and U+2029, and invalid UTF-8 as
 * \ufffd.
 */
void tw_json_quote(tw_buf *b, tw_str s);

/* tw_json_compact appends v with whitespace outside strings removed. */
void tw_json_compact(tw_buf *b, tw_str v);

/*
 * tw_json_key_eq reports whether a struct-style config member name matches
 * field the way Go's encoding/json matches it: exactly, or ignoring case
 * (with the Unicode simple folds of k and s).
 */
int tw_json_key_eq(tw_str name, const char *field);

#ifdef __cplusplus
}
#endif
#endif
