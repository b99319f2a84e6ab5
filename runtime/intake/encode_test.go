package intake

import (
	"encoding/json"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name  string
		event abi.Event
		want  string
	}{
		{
			name: "all fields",
			event: abi.Event{
				ID: "e1", Type: abi.EventIDTokenIssued, Time: 1700000000, Issuer: "https://i", ClientID: "c", Subject: "s",
				Claims: []byte(`{"big":98765432109876543210, "x" : 1.50}`), Context: []byte(`{"scope":"openid"}`),
			},
			want: `{"id":"e1","type":"id_token.issued","time":1700000000,"issuer":"https://i","client_id":"c","subject":"s","claims":{"big":98765432109876543210, "x" : 1.50},"context":{"scope":"openid"}}`,
		},
		{
			name:  "empty subject and context",
			event: abi.Event{ID: "e1", Type: abi.EventAccessTokenIssued, Issuer: "i", Claims: []byte(`{}`)},
			want:  `{"id":"e1","type":"access_token.issued","time":0,"issuer":"i","client_id":"","claims":{}}`,
		},
		{
			name:  "nil claims",
			event: abi.Event{ID: "e1", Type: abi.EventAccessTokenIssued, Issuer: "i"},
			want:  `{"id":"e1","type":"access_token.issued","time":0,"issuer":"i","client_id":"","claims":{}}`,
		},
		{
			name:  "escapes",
			event: abi.Event{ID: "q\"b\\s\n\r\t\x00\x1f", Type: "t", Issuer: "<&>\u2028é🎉", Claims: []byte(`{}`)},
			want:  `{"id":"q\"b\\s\n\r\t\u0000\u001f","type":"t","time":0,"issuer":"<&>` + "\u2028é🎉" + `","client_id":"","claims":{}}`,
		},
		{
			name:  "invalid utf-8",
			event: abi.Event{ID: "a\xffb\xc3", Type: "t", Issuer: "i", Claims: []byte(`{}`)},
			want:  `{"id":"a\ufffdb\ufffd","type":"t","time":0,"issuer":"i","client_id":"","claims":{}}`,
		},
		{
			name:  "negative time",
			event: abi.Event{ID: "e", Type: "t", Time: -5, Issuer: "i", Claims: []byte(`{}`)},
			want:  `{"id":"e","type":"t","time":-5,"issuer":"i","client_id":"","claims":{}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Encode(&tt.event)
			if string(got) != tt.want {
				t.Errorf("Encode =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("Encode output is not valid JSON: %s", got)
			}
		})
	}
}

func TestEncodeMatchesStdlib(t *testing.T) {
	event := abi.Event{
		ID: "id \"with\" \\ and \x01\x7f", Type: abi.EventIDTokenIssued, Time: 42, Issuer: "iss\u00e9\U0001F600",
		ClientID: "c\td", Subject: "line\nbreak", Claims: []byte(`{"a":1}`),
	}
	var decoded abi.Event
	if err := json.Unmarshal(Encode(&event), &decoded); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if decoded.ID != event.ID || decoded.Issuer != event.Issuer || decoded.ClientID != event.ClientID || decoded.Subject != event.Subject {
		t.Errorf("decoded %+v, want %+v", decoded, event)
	}
}

func TestAppendEncode(t *testing.T) {
	event := abi.Event{ID: "e", Type: "t", Issuer: "i", Claims: []byte(`{}`)}
	got := AppendEncode([]byte("prefix:"), &event)
	want := `prefix:{"id":"e","type":"t","time":0,"issuer":"i","client_id":"","claims":{}}`
	if string(got) != want {
		t.Errorf("AppendEncode = %s, want %s", got, want)
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	inputs := []string{
		`{"type":"id_token.issued","claims":` + oidcIDTokenClaims + `,"context":{"grant_type":"authorization_code"}}`,
		`{"type":"access_token.issued","claims":` + accessTokenClaims + `}`,
		`{"id":"x\u0000y","type":"access_token.issued","subject":"","issuer":"i","claims":{"sub":"s","big":-12345678901234567890}}`,
	}
	for _, input := range inputs {
		first := mustNormalize(t, input, testOptions())
		second := mustNormalize(t, string(Encode(first)), testOptions())
		if diff := compareEvents(first, second); diff != "" {
			t.Errorf("round trip of %s: %s", input, diff)
		}
	}
}

// compareEvents returns "" when a and b are equal, or the first difference.
// Empty and nil Context are equal, since Encode writes neither.
func compareEvents(a, b *abi.Event) string {
	switch {
	case a.ID != b.ID:
		return "ID " + a.ID + " != " + b.ID
	case a.Type != b.Type:
		return "Type " + a.Type + " != " + b.Type
	case a.Time != b.Time:
		return "Time differs"
	case a.Issuer != b.Issuer:
		return "Issuer " + a.Issuer + " != " + b.Issuer
	case a.ClientID != b.ClientID:
		return "ClientID " + a.ClientID + " != " + b.ClientID
	case a.Subject != b.Subject:
		return "Subject " + a.Subject + " != " + b.Subject
	case string(a.Claims) != string(b.Claims):
		return "Claims " + string(a.Claims) + " != " + string(b.Claims)
	case string(a.Context) != string(b.Context):
		return "Context " + string(a.Context) + " != " + string(b.Context)
	}
	return ""
}
