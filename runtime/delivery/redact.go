package delivery

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/tokenwire/tokenwire/runtime/config"
)

// redactor returns the transform that applies r to a payload, or nil when
// r is nil. It rewrites JSON object payloads and refuses anything else,
// since a payload it cannot read might carry the claims it must remove.
func redactor(r *config.Redact) (func([]byte) ([]byte, error), error) {
	if r == nil || (len(r.Drop) == 0 && len(r.Hash) == 0) {
		return nil, nil
	}
	var key []byte
	if len(r.Hash) > 0 {
		var err error
		if key, err = readSecret(r.HashKeyFile, "redact.hash_key_file"); err != nil {
			return nil, err
		}
	}
	split := func(names []string) [][]string {
		out := make([][]string, len(names))
		for i, n := range names {
			out[i] = strings.Split(n, ".")
		}
		return out
	}
	drop, hash := split(r.Drop), split(r.Hash)
	return func(p []byte) ([]byte, error) {
		return redact(p, drop, hash, key)
	}, nil
}

// redact drops the members at the paths drop and replaces those at hash
// by their keyed hash.
func redact(p []byte, drop, hash [][]string, key []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber() // keep integers of any size exact
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, errors.New("redaction is configured for this sink and the payload is not a JSON object: emit JSON, or remove redact from the sink")
	}
	for _, path := range hash {
		parent, last := walk(obj, path)
		if v, ok := parent[last]; ok {
			js, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("hash %s: %w", strings.Join(path, "."), err)
			}
			mac := hmac.New(sha256.New, key)
			mac.Write(js)
			parent[last] = base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
		}
	}
	for _, path := range drop {
		parent, last := walk(obj, path)
		delete(parent, last)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(obj); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte{'\n'}), nil
}

// walk returns the object holding the last element of path, or nil when a
// step is missing or not an object.
func walk(obj map[string]any, path []string) (map[string]any, string) {
	for _, step := range path[:len(path)-1] {
		next, ok := obj[step].(map[string]any)
		if !ok {
			return nil, ""
		}
		obj = next
	}
	return obj, path[len(path)-1]
}
