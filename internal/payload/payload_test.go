package payload

import (
	"encoding/base64"
	"testing"
)

func TestOf(t *testing.T) {
	jws := func(claims string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"ES256"}`)) + "." + enc([]byte(claims)) + ".c2ln"
	}
	for _, tc := range []struct {
		name, in string
		want     Meta
	}{
		{"event", `{"id":"e1","subject":"alice","claims":{}}`, Meta{ID: "e1", Subject: "alice"}},
		{"claims", `{"sub":"bob","iat":1}`, Meta{Subject: "bob"}},
		{"set", jws(`{"jti":"j1","sub_id":{"format":"iss_sub","sub":"carol"},"events":{}}`), Meta{ID: "j1", Subject: "carol", SET: true}},
		{"odd types", `{"id":7,"sub":"dave"}`, Meta{Subject: "dave"}},
		{"not json", `hello`, Meta{}},
		{"bad jws", `a.!!.c`, Meta{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of([]byte(tc.in)); got != tc.want {
				t.Errorf("Of(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
}
