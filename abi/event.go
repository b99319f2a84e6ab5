package abi

import "encoding/json"

// Event types of ABI version 1. Intake rejects any other spelling, so a typo
// never drops events silently.
const (
	EventIDTokenIssued     = "id_token.issued"
	EventAccessTokenIssued = "access_token.issued"
)

// EventTypes lists every event type of ABI version 1.
var EventTypes = []string{EventIDTokenIssued, EventAccessTokenIssued}

// KnownEventType reports whether t is an event type of ABI version 1,
// spelled exactly.
func KnownEventType(t string) bool {
	for _, known := range EventTypes {
		if t == known {
			return true
		}
	}
	return false
}

// Event is one token-issue event as a listener reads it with event_read.
//
// Claims and Context are kept as raw JSON so that every claim reaches the
// guest exactly as the issuer wrote it: a 20-digit integer stays 20 digits.
type Event struct {
	// ID is unique per event and is the idempotency key downstream.
	ID string `json:"id"`
	// Type is EventIDTokenIssued or EventAccessTokenIssued.
	Type string `json:"type"`
	// Time is when the token was issued, in unix seconds.
	Time int64 `json:"time"`
	// Issuer is the token's issuer.
	Issuer string `json:"issuer"`
	// ClientID is the OAuth client the token was issued to.
	ClientID string `json:"client_id"`
	// Subject is the token's subject, empty when it has none.
	Subject string `json:"subject,omitempty"`
	// Claims is the issued token's JWT claims set, a JSON object.
	Claims json.RawMessage `json:"claims"`
	// Context is optional metadata from the issuer (grant type, scope,
	// client IP, user agent), a JSON object when present.
	Context json.RawMessage `json:"context,omitempty"`
}
