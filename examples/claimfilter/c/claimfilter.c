/*
 * claimfilter: a tokenwire listener that emits, for every event, one JSON
 * object with a chosen subset of the issued token's claims followed by
 * fixed properties. It behaves as the Go listener in ../main.go; the
 * conformance tests in examples/conformance check that they agree.
 *
 * Config:
 *   {"claims": ["sub", "iat"], "properties": {"source": "tokenwire"},
 *    "sink": "stdout", "events": ["id_token.issued"]}
 *
 * Build (from this directory):
 *   clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wl,--strip-all \
 *         -I ../../../guests/c -o claimfilter.wasm claimfilter.c ../../../guests/c/tokenwire.c
 */
#include "tokenwire.h"

#define MAX_NAMES 256

/* The config in effect. names holds the decoded claim names one after the
 * other; name_end[i] is where name i ends. keys holds each claim name
 * encoded as a JSON string and followed by a colon; key_end[i] likewise.
 * properties holds the encoded members of "properties", sorted by name.
 * A config is parsed into the "next" set and copied into effect only when
 * it is valid. */
static tw_buf names, keys, properties, sink, message, scratch, output, prop_names, prop_values;
static size_t name_end[MAX_NAMES], key_end[MAX_NAMES], n_names;
static int have_claims, filter_types, want_id, want_access;

/* property i is prop_names[pn_start[i]..pn_end[i]] with the raw value
 * prop_values[pv_start[i]..pv_end[i]]. */
static size_t pn_start[MAX_NAMES], pn_end[MAX_NAMES], pv_start[MAX_NAMES], pv_end[MAX_NAMES], n_props;
static size_t order[MAX_NAMES];

static tw_str name_at(size_t i) {
	size_t start = i ? name_end[i - 1] : 0;
	return (tw_str){names.ptr + start, name_end[i] - start};
}

static tw_str key_at(size_t i) {
	size_t start = i ? key_end[i - 1] : 0;
	return (tw_str){keys.ptr + start, key_end[i] - start};
}

static tw_str prop_name(size_t i) { return (tw_str){prop_names.ptr + pn_start[i], pn_end[i] - pn_start[i]}; }
static tw_str prop_value(size_t i) { return (tw_str){prop_values.ptr + pv_start[i], pv_end[i] - pv_start[i]}; }

static int config_error(const char *what, tw_str detail) {
	tw_buf_reset(&message);
	tw_buf_append(&message, TW_S("claimfilter: invalid config: "));
	tw_buf_append(&message, tw_cstr(what));
	if (detail.len) {
		tw_buf_byte(&message, ' ');
		tw_json_quote(&message, detail);
	}
	tw_set_error(tw_buf_str(&message));
	return 1;
}

static int less(tw_str a, tw_str b) {
	size_t n = a.len < b.len ? a.len : b.len;
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b.ptr[i];
		if (x != y) return x < y;
	}
	return a.len < b.len;
}

static int parse_claims(tw_str v) {
	tw_json_iter it;
	tw_str key, item;
	tw_buf_reset(&names);
	n_names = 0;
	have_claims = 0;
	if (tw_json_kind_of(v) == TW_JSON_NULL) return 0;
	if (tw_json_kind_of(v) != TW_JSON_ARRAY) return config_error("\"claims\" must be an array of strings", TW_S(""));
	have_claims = 1;
	tw_json_iter_begin(&it, v);
	while (tw_json_next(&it, &key, &item)) {
		tw_json_kind kind = tw_json_kind_of(item);
		if (kind != TW_JSON_STRING && kind != TW_JSON_NULL) {
			return config_error("\"claims\" must be an array of strings", TW_S(""));
		}
		if (n_names == MAX_NAMES) return config_error("\"claims\" lists too many names", TW_S(""));
		size_t start = names.len;
		if (kind == TW_JSON_STRING && tw_json_string(item, &names) != TW_OK) {
			return config_error("\"claims\" holds an invalid string", TW_S(""));
		}
		name_end[n_names++] = names.len;
		(void)start;
	}
	if (it.err) return config_error("\"claims\" is not valid JSON", TW_S(""));
	return 0;
}

static int parse_properties(tw_str v) {
	tw_json_iter it;
	tw_str key, value;
	if (tw_json_kind_of(v) == TW_JSON_NULL) {
		n_props = 0;
		return 0;
	}
	if (tw_json_kind_of(v) != TW_JSON_OBJECT) return config_error("\"properties\" must be an object", TW_S(""));
	tw_json_iter_begin(&it, v);
	while (tw_json_next(&it, &key, &value)) {
		size_t start = prop_names.len;
		if (tw_json_unescape(key, &prop_names) != TW_OK) return config_error("bad property name", TW_S(""));
		tw_str name = {prop_names.ptr + start, prop_names.len - start};
		/* A repeated name replaces the earlier value, as in a Go map. */
		size_t i;
		for (i = 0; i < n_props; i++) {
			if (tw_str_eq(prop_name(i), name)) break;
		}
		if (i == n_props) {
			if (n_props == MAX_NAMES) return config_error("\"properties\" has too many members", TW_S(""));
			n_props++;
		}
		pn_start[i] = start;
		pn_end[i] = prop_names.len;
		pv_start[i] = prop_values.len;
		tw_json_compact(&prop_values, value);
		pv_end[i] = prop_values.len;
	}
	if (it.err) return config_error("\"properties\" is not valid JSON", TW_S(""));
	return 0;
}

static int parse_events(tw_str v) {
	tw_json_iter it;
	tw_str key, item;
	filter_types = want_id = want_access = 0;
	if (tw_json_kind_of(v) == TW_JSON_NULL) return 0;
	if (tw_json_kind_of(v) != TW_JSON_ARRAY) return config_error("\"events\" must be an array of strings", TW_S(""));
	filter_types = 1;
	int n = 0;
	tw_json_iter_begin(&it, v);
	while (tw_json_next(&it, &key, &item)) {
		tw_json_kind kind = tw_json_kind_of(item);
		tw_buf_reset(&scratch);
		if (kind == TW_JSON_STRING) {
			if (tw_json_string(item, &scratch) != TW_OK) return config_error("\"events\" holds an invalid string", TW_S(""));
		} else if (kind != TW_JSON_NULL) {
			return config_error("\"events\" must be an array of strings", TW_S(""));
		}
		tw_str type = tw_buf_str(&scratch);
		if (tw_str_eq(type, TW_S("id_token.issued"))) {
			want_id = 1;
		} else if (tw_str_eq(type, TW_S("access_token.issued"))) {
			want_access = 1;
		} else {
			return config_error("\"events\" contains unknown event type", type);
		}
		n++;
	}
	if (it.err) return config_error("\"events\" is not valid JSON", TW_S(""));
	if (n == 0) return config_error("\"events\" is empty: omit it to handle every event type", TW_S(""));
	return 0;
}

static int configure(tw_str config) {
	tw_json_iter it;
	tw_str key, v;
	tw_buf_reset(&sink);
	tw_buf_reset(&prop_names);
	tw_buf_reset(&prop_values);
	n_props = 0;
	have_claims = 0;
	n_names = 0;
	filter_types = 0;
	if (tw_json_kind_of(config) != TW_JSON_OBJECT) return config_error("not a JSON object", TW_S(""));
	tw_json_iter_begin(&it, config);
	while (tw_json_next(&it, &key, &v)) {
		tw_buf_reset(&scratch);
		if (tw_json_unescape(key, &scratch) != TW_OK) return config_error("bad member name", TW_S(""));
		tw_str name = tw_buf_str(&scratch);
		int status = 0;
		if (tw_json_key_eq(name, "claims")) {
			status = parse_claims(v);
		} else if (tw_json_key_eq(name, "properties")) {
			status = parse_properties(v);
		} else if (tw_json_key_eq(name, "sink")) {
			tw_json_kind kind = tw_json_kind_of(v);
			tw_buf_reset(&sink);
			if (kind == TW_JSON_STRING) {
				if (tw_json_string(v, &sink) != TW_OK) status = config_error("\"sink\" is not a valid string", TW_S(""));
			} else if (kind != TW_JSON_NULL) {
				status = config_error("\"sink\" must be a string", TW_S(""));
			}
		} else if (tw_json_key_eq(name, "events")) {
			status = parse_events(v);
		} else {
			status = config_error("unknown member", name);
		}
		if (status) return status;
	}
	if (it.err) return config_error("malformed JSON", TW_S(""));
	if (!have_claims) return config_error("missing \"claims\", the list of claim names to copy", TW_S(""));
	if (sink.len == 0) tw_buf_append(&sink, TW_S("stdout"));

	tw_buf_reset(&keys);
	for (size_t i = 0; i < n_names; i++) {
		tw_str name = name_at(i);
		if (name.len == 0) return config_error("\"claims\" contains an empty name", TW_S(""));
		for (size_t j = 0; j < i; j++) {
			if (tw_str_eq(name_at(j), name)) return config_error("\"claims\" lists a name twice:", name);
		}
		tw_json_quote(&keys, name);
		tw_buf_byte(&keys, ':');
		key_end[i] = keys.len;
	}

	/* Sort the properties by name, bytewise, and encode them. */
	for (size_t i = 0; i < n_props; i++) {
		size_t j = i;
		while (j > 0 && less(prop_name(i), prop_name(order[j - 1]))) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = i;
	}
	tw_buf_reset(&properties);
	for (size_t k = 0; k < n_props; k++) {
		size_t i = order[k];
		for (size_t j = 0; j < n_names; j++) {
			if (tw_str_eq(name_at(j), prop_name(i))) {
				return config_error("a property is also listed in \"claims\":", prop_name(i));
			}
		}
		if (k) tw_buf_byte(&properties, ',');
		tw_json_quote(&properties, prop_name(i));
		tw_buf_byte(&properties, ':');
		tw_buf_append(&properties, prop_value(i));
	}
	if (keys.err || properties.err || sink.err) return config_error("out of memory", TW_S(""));
	return 0;
}

static int filter_claims(const tw_event *e) {
	if (filter_types && !((want_id && tw_is_id_token(e)) || (want_access && tw_is_access_token(e)))) return 0;
	tw_buf_reset(&output);
	tw_buf_byte(&output, '{');
	for (size_t i = 0; i < n_names; i++) {
		tw_str value;
		if (!tw_claim(e, name_at(i), &value)) continue;
		if (output.len > 1) tw_buf_byte(&output, ',');
		tw_buf_append(&output, key_at(i));
		tw_json_compact(&output, value);
	}
	if (properties.len) {
		if (output.len > 1) tw_buf_byte(&output, ',');
		tw_buf_append(&output, tw_buf_str(&properties));
	}
	tw_buf_byte(&output, '}');
	if (output.err) {
		tw_set_error(TW_S("claimfilter: out of memory"));
		return 1;
	}
	int status = tw_emit(tw_buf_str(&sink), tw_buf_str(&output));
	if (status != TW_OK) {
		tw_buf_reset(&message);
		tw_buf_append(&message, TW_S("claimfilter: emit event "));
		tw_buf_append(&message, e->id);
		tw_buf_append(&message, TW_S(": tokenwire: "));
		tw_buf_append(&message, tw_cstr(tw_status_name(status)));
		tw_set_error(tw_buf_str(&message));
		return 1;
	}
	return 0;
}

TW_LISTENER(configure, filter_claims, NULL)
