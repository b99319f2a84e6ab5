// Command claimfilter is a tokenwire listener that emits, for every event,
// one JSON object with a chosen subset of the issued token's claims followed
// by fixed properties.
//
// Config:
//
//	{"claims": ["sub", "iat"], "properties": {"source": "tokenwire"},
//	 "sink": "stdout", "events": ["id_token.issued"]}
//
// claims is required. The output object holds each listed claim that the
// token has, in the listed order, with its value copied from the token
// without re-encoding numbers, so integers of any size stay exact. The
// properties follow, in sorted key order. sink defaults to "stdout". events,
// when present, lists the event types to handle; the listener ignores other
// events.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -o claimfilter.wasm .

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/tokenwire/tokenwire/abi"
	listener "github.com/tokenwire/tokenwire/guests/go"
)

const defaultSink = "stdout"

// filterConfig is the listener config as written.
type filterConfig struct {
	Claims     []string                   `json:"claims"`
	Properties map[string]json.RawMessage `json:"properties"`
	Sink       string                     `json:"sink"`
	Events     []string                   `json:"events"`
}

// filter is the config in effect, prepared for building output objects.
type filter struct {
	claims []string
	// claimKeys[i] is claims[i] JSON-encoded and followed by a colon.
	claimKeys [][]byte
	// properties is the compacted members of the properties object, in
	// sorted key order and without braces, or empty.
	properties []byte
	sink       string
	// eventTypes is the set of event types to handle, or nil for all.
	eventTypes map[string]bool
}

var (
	active filter
	// output is reused for every event, because the host copies emitted
	// data before emit returns.
	output bytes.Buffer
)

func init() {
	listener.HandleInit(configure)
	listener.HandleEvent(filterClaims)
}

// main is required by the compiler but never runs: the host starts the
// module with _initialize, which runs only package initialization.
func main() {}

// configure parses and checks the listener config and prepares the filter.
func configure(config []byte) error {
	var parsed filterConfig
	decoder := json.NewDecoder(bytes.NewReader(config))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&parsed); err != nil {
		return fmt.Errorf("claimfilter: invalid config: %w", err)
	}
	prepared, err := newFilter(parsed)
	if err != nil {
		return fmt.Errorf("claimfilter: invalid config: %w", err)
	}
	active = prepared
	return nil
}

// newFilter checks config and builds the filter it describes.
func newFilter(config filterConfig) (filter, error) {
	if config.Claims == nil {
		return filter{}, errors.New(`missing "claims", the list of claim names to copy`)
	}
	f := filter{claims: config.Claims, sink: config.Sink}
	if f.sink == "" {
		f.sink = defaultSink
	}

	seen := make(map[string]bool, len(config.Claims))
	for _, name := range config.Claims {
		if name == "" {
			return filter{}, errors.New(`"claims" contains an empty name`)
		}
		if seen[name] {
			return filter{}, fmt.Errorf(`"claims" lists %q twice`, name)
		}
		seen[name] = true
		key, err := json.Marshal(name)
		if err != nil {
			return filter{}, err
		}
		f.claimKeys = append(f.claimKeys, append(key, ':'))
	}

	properties, err := encodeProperties(config.Properties, seen)
	if err != nil {
		return filter{}, err
	}
	f.properties = properties

	if config.Events != nil {
		if len(config.Events) == 0 {
			return filter{}, errors.New(`"events" is empty: omit it to handle every event type`)
		}
		f.eventTypes = make(map[string]bool, len(config.Events))
		for _, eventType := range config.Events {
			if !abi.KnownEventType(eventType) {
				return filter{}, fmt.Errorf(`"events" contains unknown event type %q; known types are %q`, eventType, abi.EventTypes)
			}
			f.eventTypes[eventType] = true
		}
	}
	return f, nil
}

// encodeProperties returns the members of properties as compact JSON in
// sorted key order, without braces. A property named like a configured
// claim is an error, because the output object would hold the name twice.
func encodeProperties(properties map[string]json.RawMessage, claims map[string]bool) ([]byte, error) {
	names := make([]string, 0, len(properties))
	for name := range properties {
		names = append(names, name)
	}
	slices.Sort(names)

	var encoded bytes.Buffer
	for _, name := range names {
		if claims[name] {
			return nil, fmt.Errorf(`property %q is also listed in "claims"`, name)
		}
		key, err := json.Marshal(name)
		if err != nil {
			return nil, err
		}
		if encoded.Len() > 0 {
			encoded.WriteByte(',')
		}
		encoded.Write(key)
		encoded.WriteByte(':')
		if err := json.Compact(&encoded, properties[name]); err != nil {
			return nil, fmt.Errorf("property %q: %w", name, err)
		}
	}
	return encoded.Bytes(), nil
}

// filterClaims emits the filtered object for e, unless the config excludes
// e's type.
func filterClaims(e *listener.Event) error {
	if active.eventTypes != nil && !active.eventTypes[e.Type] {
		return nil
	}
	claims, err := e.ClaimMap()
	if err != nil {
		return err
	}
	if err := active.writeObject(&output, claims); err != nil {
		return fmt.Errorf("claimfilter: event %s: %w", e.ID, err)
	}
	if err := listener.Emit(active.sink, output.Bytes()); err != nil {
		return fmt.Errorf("claimfilter: emit event %s to sink %q: %w", e.ID, active.sink, err)
	}
	return nil
}

// writeObject resets out and writes the output object for claims to it.
// Values are compacted so that each object is one line.
func (f *filter) writeObject(out *bytes.Buffer, claims map[string]json.RawMessage) error {
	out.Reset()
	out.WriteByte('{')
	for i, name := range f.claims {
		value, ok := claims[name]
		if !ok {
			continue
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		out.Write(f.claimKeys[i])
		if err := json.Compact(out, value); err != nil {
			return fmt.Errorf("claim %q: %w", name, err)
		}
	}
	if len(f.properties) > 0 {
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		out.Write(f.properties)
	}
	out.WriteByte('}')
	return nil
}
