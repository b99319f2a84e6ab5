package listener

import (
	"encoding/json"
	"fmt"

	"github.com/tokenwire/tokenwire/abi"
)

// Event is one token-issue event, as the host delivers it to tw_on_event.
//
// The SDK reuses one Event and its buffers for every event, so an Event and
// the slices it holds (Claims, Context and the values of ClaimMap) are valid
// only until the handler returns. Copy whatever must outlive the call.
type Event struct {
	abi.Event

	// claimMap caches the parsed Claims once ClaimMap has run for this event.
	claimMap    map[string]json.RawMessage
	claimsDone  bool
	claimsError error
}

// IsIDToken reports whether the event is an ID token issue.
func (e *Event) IsIDToken() bool { return e.Type == abi.EventIDTokenIssued }

// IsAccessToken reports whether the event is an access token issue.
func (e *Event) IsAccessToken() bool { return e.Type == abi.EventAccessTokenIssued }

// ClaimMap parses Claims into a map from claim name to the claim's raw JSON
// value, which keeps numbers exact. It parses once per event and returns the
// same map on later calls. The map must not be modified.
func (e *Event) ClaimMap() (map[string]json.RawMessage, error) {
	if !e.claimsDone {
		e.claimsDone = true
		if e.claimMap == nil {
			e.claimMap = make(map[string]json.RawMessage)
		}
		if err := json.Unmarshal(e.Claims, &e.claimMap); err != nil {
			e.claimsError = fmt.Errorf("listener: event %s: invalid claims: %w", e.ID, err)
		}
	}
	return e.claimMap, e.claimsError
}

// Claim returns the raw JSON value of the named top-level claim and whether
// the claims contain it. It returns false when Claims is not a valid JSON
// object; ClaimMap returns that error.
func (e *Event) Claim(name string) (json.RawMessage, bool) {
	claims, err := e.ClaimMap()
	if err != nil {
		return nil, false
	}
	value, ok := claims[name]
	return value, ok
}

// DecodeClaims unmarshals Claims into v with encoding/json.
func (e *Event) DecodeClaims(v any) error {
	if err := json.Unmarshal(e.Claims, v); err != nil {
		return fmt.Errorf("listener: event %s: decode claims: %w", e.ID, err)
	}
	return nil
}

// DecodeContext unmarshals Context into v with encoding/json. It returns nil
// and leaves v unchanged when the event has no context.
func (e *Event) DecodeContext(v any) error {
	if len(e.Context) == 0 {
		return nil
	}
	if err := json.Unmarshal(e.Context, v); err != nil {
		return fmt.Errorf("listener: event %s: decode context: %w", e.ID, err)
	}
	return nil
}

// reset clears e for the next event and keeps its buffers and claim map.
func (e *Event) reset() {
	claims := e.Claims[:0]
	context := e.Context[:0]
	claimMap := e.claimMap
	clear(claimMap)
	*e = Event{
		Event:    abi.Event{Claims: claims, Context: context},
		claimMap: claimMap,
	}
}

// decode parses the event JSON into e, reusing e's buffers.
func (e *Event) decode(data []byte) error {
	e.reset()
	if err := json.Unmarshal(data, &e.Event); err != nil {
		return fmt.Errorf("listener: invalid event JSON: %w", err)
	}
	// An absent member leaves the reused buffer empty, so set it to nil as a
	// fresh decode would.
	if len(e.Claims) == 0 {
		e.Claims = nil
	}
	if len(e.Context) == 0 {
		e.Context = nil
	}
	return nil
}
