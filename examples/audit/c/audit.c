/*
 * audit: a tokenwire listener that turns every ID token and access token
 * issue into a signed Security Event Token (RFC 8417) and emits the compact
 * JWS to a sink. It behaves as the Go listener in ../main.go; the
 * conformance tests in examples/conformance check that they agree.
 *
 * Config (all members optional):
 *   {"sink": "stdout", "audience": "https://siem.example" | ["a", "b"]}
 *
 * Build (from this directory):
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--strip-all \
 *         -I ../../../guests/c -o audit.wasm audit.c ../../../guests/c/tokenwire.c
 */
#include "tokenwire.h"

#define TOKEN_ISSUED_EVENT "https://tokenwire.dev/secevent/token-issued"

/* sink and audience are the config in effect; audience holds the compact
 * JSON of the aud claim, or nothing when there is none. */
static tw_buf sink, audience, claims, message, scratch;

/* config_error reports an invalid config and fails tw_init. */
static int config_error(const char *what) {
	tw_buf_reset(&message);
	tw_buf_append(&message, TW_S("audit: invalid config: "));
	tw_buf_append(&message, tw_cstr(what));
	tw_set_error(tw_buf_str(&message));
	return 1;
}

/* check_audience re-encodes raw, a non-empty string or a non-empty array of
 * non-empty strings, into audience. */
static int check_audience(tw_str raw) {
	tw_buf_reset(&audience);
	if (tw_json_kind_of(raw) == TW_JSON_STRING) {
		tw_buf_reset(&scratch);
		if (tw_json_string(raw, &scratch) != TW_OK) return config_error("\"audience\" is not a valid string");
		if (scratch.len == 0) return config_error("\"audience\" must not be empty");
		tw_json_quote(&audience, tw_buf_str(&scratch));
		return 0;
	}
	if (tw_json_kind_of(raw) != TW_JSON_ARRAY) {
		return config_error("\"audience\" must be a string or an array of strings");
	}
	tw_json_iter it;
	tw_str key, v;
	int n = 0;
	tw_buf_byte(&audience, '[');
	tw_json_iter_begin(&it, raw);
	while (tw_json_next(&it, &key, &v)) {
		tw_buf_reset(&scratch);
		if (tw_json_kind_of(v) != TW_JSON_STRING || tw_json_string(v, &scratch) != TW_OK) {
			return config_error("\"audience\" must be a string or an array of strings");
		}
		if (scratch.len == 0) return config_error("\"audience\" has an empty element");
		if (n++) tw_buf_byte(&audience, ',');
		tw_json_quote(&audience, tw_buf_str(&scratch));
	}
	if (it.err) return config_error("\"audience\" is not valid JSON");
	if (n == 0) return config_error("\"audience\" must not be an empty array");
	tw_buf_byte(&audience, ']');
	return 0;
}

static int configure(tw_str config) {
	tw_json_iter it;
	tw_str key, v;
	tw_buf_reset(&sink);
	tw_buf_append(&sink, TW_S("stdout"));
	tw_buf_reset(&audience);
	if (tw_json_kind_of(config) != TW_JSON_OBJECT) return config_error("not a JSON object");
	tw_json_iter_begin(&it, config);
	while (tw_json_next(&it, &key, &v)) {
		tw_buf_reset(&scratch);
		if (tw_json_unescape(key, &scratch) != TW_OK) return config_error("bad member name");
		tw_str name = tw_buf_str(&scratch);
		if (tw_json_key_eq(name, "sink")) {
			tw_json_kind kind = tw_json_kind_of(v);
			if (kind == TW_JSON_NULL) continue;
			if (kind != TW_JSON_STRING) return config_error("\"sink\" must be a string");
			tw_buf_reset(&sink);
			if (tw_json_string(v, &sink) != TW_OK) return config_error("\"sink\" is not a valid string");
		} else if (tw_json_key_eq(name, "audience")) {
			if (tw_json_kind_of(v) == TW_JSON_NULL) {
				tw_buf_reset(&audience);
			} else if (check_audience(v) != 0) {
				return 1;
			}
		} else {
			return config_error("unknown member");
		}
	}
	if (it.err) return config_error("malformed JSON");
	if (sink.len == 0) return config_error("\"sink\" must not be empty: omit it to use \"stdout\"");
	return 0;
}

/* fail_event reports what went wrong for event e with a status. */
static int fail_event(const tw_event *e, const char *what, int status) {
	tw_buf_reset(&message);
	tw_buf_append(&message, TW_S("audit: "));
	tw_buf_append(&message, tw_cstr(what));
	tw_buf_append(&message, TW_S(" for event "));
	tw_buf_append(&message, e->id);
	tw_buf_append(&message, TW_S(": tokenwire: "));
	tw_buf_append(&message, tw_cstr(tw_status_name(status)));
	tw_set_error(tw_buf_str(&message));
	return 1;
}

static int audit(const tw_event *e) {
	tw_str token_type;
	if (tw_is_id_token(e)) {
		token_type = TW_S("id_token");
	} else if (tw_is_access_token(e)) {
		token_type = TW_S("access_token");
	} else {
		tw_set_error(TW_S("audit: event has an unsupported type"));
		return 1;
	}

	tw_buf_reset(&claims);
	tw_buf_byte(&claims, '{');
	if (audience.len) {
		tw_buf_append(&claims, TW_S("\"aud\":"));
		tw_buf_append(&claims, tw_buf_str(&audience));
		tw_buf_byte(&claims, ',');
	}
	tw_buf_append(&claims, TW_S("\"txn\":"));
	tw_json_quote(&claims, e->id);
	if (e->subject.len) {
		tw_buf_append(&claims, TW_S(",\"sub_id\":{\"format\":\"iss_sub\",\"iss\":"));
		tw_json_quote(&claims, e->issuer);
		tw_buf_append(&claims, TW_S(",\"sub\":"));
		tw_json_quote(&claims, e->subject);
	} else {
		tw_buf_append(&claims, TW_S(",\"sub_id\":{\"format\":\"opaque\",\"id\":"));
		tw_json_quote(&claims, e->client_id);
	}
	tw_buf_append(&claims, TW_S("},\"events\":{\"" TOKEN_ISSUED_EVENT "\":{\"token_type\":"));
	tw_json_quote(&claims, token_type);
	tw_buf_append(&claims, TW_S(",\"client_id\":"));
	tw_json_quote(&claims, e->client_id);
	tw_buf_append(&claims, TW_S(",\"issued_at\":"));
	tw_buf_int(&claims, e->time);
	tw_buf_append(&claims, TW_S(",\"event_id\":"));
	tw_json_quote(&claims, e->id);
	tw_buf_append(&claims, TW_S("}}}"));
	if (claims.err) return fail_event(e, "build SET", TW_NO_MEMORY);

	tw_str token;
	int status = tw_sign(tw_buf_str(&claims), &token);
	if (status != TW_OK) return fail_event(e, "sign SET", status);
	status = tw_emit(tw_buf_str(&sink), token);
	if (status != TW_OK) return fail_event(e, "emit SET", status);
	return 0;
}

TW_LISTENER(configure, audit, NULL)
