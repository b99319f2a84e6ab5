// Command audit is a tokenwire listener that turns every ID token and access
// token issue into a signed Security Event Token (RFC 8417) and emits the
// compact JWS to a sink.
//
// Config (all members optional):
//
//	{"sink": "stdout", "audience": "https://siem.example" | ["a", "b"]}
//
// sink names the sink, "stdout" by default. audience, a string or an array
// of strings, becomes the SET's aud claim. Without it, or with null, the SET
// has no aud.
package main

//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -o audit.wasm .

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokenwire/tokenwire/abi"
	listener "github.com/tokenwire/tokenwire/guests/go"
)

// TokenIssuedEvent is the SET event URI for a token issue. Its payload is a
// tokenIssued object.
const TokenIssuedEvent = "https://tokenwire.dev/secevent/token-issued"

const defaultSink = "stdout"

// tokenTypes maps each event type to the token_type of its SET.
var tokenTypes = map[string]string{
	abi.EventIDTokenIssued:     "id_token",
	abi.EventAccessTokenIssued: "access_token",
}

// auditConfig is the parsed listener config.
type auditConfig struct {
	Sink     string          `json:"sink"`
	Audience json.RawMessage `json:"audience"`
}

// settings is the config in effect, set by tw_init.
var settings = auditConfig{Sink: defaultSink}

// securityEvent is the claims set of one audit SET. The host adds iss, iat
// and jti when it signs.
type securityEvent struct {
	Audience  json.RawMessage        `json:"aud,omitempty"`
	TxnID     string                 `json:"txn"`
	SubjectID any                    `json:"sub_id"`
	Events    map[string]tokenIssued `json:"events"`
}

// issuerSubject is a subject identifier of format "iss_sub" (RFC 9493).
type issuerSubject struct {
	Format  string `json:"format"`
	Issuer  string `json:"iss"`
	Subject string `json:"sub"`
}

// opaqueSubject is a subject identifier of format "opaque" (RFC 9493).
type opaqueSubject struct {
	Format string `json:"format"`
	ID     string `json:"id"`
}

// tokenIssued is the payload of a TokenIssuedEvent.
type tokenIssued struct {
	TokenType string `json:"token_type"`
	ClientID  string `json:"client_id"`
	IssuedAt  int64  `json:"issued_at"`
	EventID   string `json:"event_id"`
}

func init() {
	listener.HandleInit(configure)
	listener.HandleEvent(audit)
}

// main is required by the compiler but never runs: the host starts the
// module with _initialize, which runs only package initialization.
func main() {}

// configure parses and checks the listener config.
func configure(config []byte) error {
	parsed := auditConfig{Sink: defaultSink}
	decoder := json.NewDecoder(bytes.NewReader(config))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&parsed); err != nil {
		return fmt.Errorf("audit: invalid config: %w", err)
	}
	if parsed.Sink == "" {
		return errors.New(`audit: invalid config: "sink" must not be empty: omit it to use "stdout"`)
	}
	if len(parsed.Audience) == 0 || string(parsed.Audience) == "null" {
		parsed.Audience = nil
	} else {
		audience, err := checkAudience(parsed.Audience)
		if err != nil {
			return err
		}
		parsed.Audience = audience
	}
	settings = parsed
	return nil
}

// checkAudience checks that raw is a non-empty string or a non-empty array
// of non-empty strings and returns it compacted.
func checkAudience(raw json.RawMessage) (json.RawMessage, error) {
	var single string
	if err := json.Unmarshal(raw, &single); err == nil {
		if single == "" {
			return nil, errors.New(`audit: invalid config: "audience" must not be empty`)
		}
		return json.Marshal(single)
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || many == nil {
		return nil, fmt.Errorf(`audit: invalid config: "audience" must be a string or an array of strings, got %s`, raw)
	}
	if len(many) == 0 {
		return nil, errors.New(`audit: invalid config: "audience" must not be an empty array`)
	}
	for i, audience := range many {
		if audience == "" {
			return nil, fmt.Errorf(`audit: invalid config: "audience" element %d is empty`, i)
		}
	}
	return json.Marshal(many)
}

// audit signs a SET for the event and emits it to the configured sink.
func audit(e *listener.Event) error {
	claims, err := newSecurityEvent(e, settings.Audience)
	if err != nil {
		return err
	}
	token, err := listener.SignJSON(claims)
	if err != nil {
		return fmt.Errorf("audit: sign SET for event %s: %w", e.ID, err)
	}
	if err := listener.Emit(settings.Sink, []byte(token)); err != nil {
		return fmt.Errorf("audit: emit SET for event %s to sink %q: %w", e.ID, settings.Sink, err)
	}
	return nil
}

// newSecurityEvent builds the SET claims for e. audience may be nil.
func newSecurityEvent(e *listener.Event, audience json.RawMessage) (securityEvent, error) {
	tokenType, ok := tokenTypes[e.Type]
	if !ok {
		return securityEvent{}, fmt.Errorf("audit: event %s has unsupported type %q", e.ID, e.Type)
	}
	var subject any = issuerSubject{Format: "iss_sub", Issuer: e.Issuer, Subject: e.Subject}
	if e.Subject == "" {
		subject = opaqueSubject{Format: "opaque", ID: e.ClientID}
	}
	return securityEvent{
		Audience:  audience,
		TxnID:     e.ID,
		SubjectID: subject,
		Events: map[string]tokenIssued{
			TokenIssuedEvent: {
				TokenType: tokenType,
				ClientID:  e.ClientID,
				IssuedAt:  e.Time,
				EventID:   e.ID,
			},
		},
	}, nil
}
