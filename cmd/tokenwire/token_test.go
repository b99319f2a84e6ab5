package main

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// TestReplayTokenKeys checks intake.token_keys_file: a token signed by the
// configured key is accepted, one with a forged signature is rejected.
func TestReplayTokenKeys(t *testing.T) {
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	private, err := jwk.Import(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := private.Set(jwk.KeyIDKey, "issuer-key-1"); err != nil {
		t.Fatal(err)
	}
	public, err := private.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(public); err != nil {
		t.Fatal(err)
	}
	setJSON, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	keysPath := filepath.Join(dir, "issuer-public.jwks.json")
	if err := os.WriteFile(keysPath, setJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	claims := `{"iss":"https://issuer.example.com","sub":"alice","aud":"client-a","iat":1523304728,"jti":"signed-1"}`
	signed, err := jws.Sign([]byte(claims), jws.WithKey(jwa.RS256(), private))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(signed), ".")
	forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
	events := fmt.Sprintf("{\"type\":\"id_token.issued\",\"token\":%q}\n{\"type\":\"id_token.issued\",\"token\":%q}\n", signed, forged)
	eventsPath := filepath.Join(dir, "events.ndjson")
	if err := os.WriteFile(eventsPath, []byte(events), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "tokenwire.yaml")
	cfg := "intake:\n  token_keys_file: issuer-public.jwks.json\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, nil, "replay", "--config", cfgPath, "--module", guest("echo"), eventsPath)
	if code != exitFailure {
		t.Errorf("exit %d, want %d", code, exitFailure)
	}
	if got := lines(out); len(got) != 1 || !strings.Contains(got[0], `"id":"signed-1"`) {
		t.Errorf("stdout = %q, want only the correctly signed event", got)
	}
	if !strings.Contains(errOut, "events.ndjson:2:") {
		t.Errorf("stderr does not report line 2:\n%s", errOut)
	}
	if strings.Contains(errOut, parts[2][:20]) {
		t.Error("stderr contains the token's signature")
	}
}
