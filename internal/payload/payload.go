// Package payload reads the idempotency key and subject of an emitted
// payload, so drivers can key and deduplicate without knowing the
// listener that emitted it.
package payload

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
)

// Meta is what a payload says about itself.
type Meta struct {
	// ID is the SET's jti, else the JSON object's "id": the key receivers
	// deduplicate by. Empty when the payload has neither.
	ID string
	// Subject is the SET's or object's subject: "sub_id.sub", "sub" or
	// "subject", in that order. Empty when none is present.
	Subject string
	// SET reports whether the payload is a compact JWS.
	SET bool
}

// fields are the members Of looks for.
type fields struct {
	JTI     string `json:"jti"`
	ID      string `json:"id"`
	Sub     string `json:"sub"`
	Subject string `json:"subject"`
	SubID   struct {
		Sub string `json:"sub"`
	} `json:"sub_id"`
}

// Of returns the meta of a JSON object payload or a compact JWS whose
// payload is a JSON object. Anything else gives an empty Meta.
func Of(p []byte) Meta {
	var m Meta
	body := bytes.TrimSpace(p)
	if len(body) > 0 && body[0] != '{' {
		parts := bytes.Split(body, []byte{'.'})
		if len(parts) != 3 {
			return m
		}
		dec, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
		if err != nil {
			return m
		}
		body, m.SET = dec, true
	}
	var f fields
	if json.Unmarshal(body, &f) != nil {
		// A member of another type fails the whole decode; read them one
		// at a time instead.
		var raw map[string]json.RawMessage
		if json.Unmarshal(body, &raw) != nil {
			return m
		}
		_ = json.Unmarshal(raw["jti"], &f.JTI)
		_ = json.Unmarshal(raw["id"], &f.ID)
		_ = json.Unmarshal(raw["sub"], &f.Sub)
		_ = json.Unmarshal(raw["subject"], &f.Subject)
		_ = json.Unmarshal(raw["sub_id"], &f.SubID)
	}
	m.ID = first(f.JTI, f.ID)
	m.Subject = first(f.SubID.Sub, f.Sub, f.Subject)
	return m
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
