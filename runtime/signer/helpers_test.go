package signer_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/tokenwire/tokenwire/runtime/signer"
)

const testIssuer = "https://issuer.example.com"

// testTime is the fixed clock of test signers.
var testTime = time.Unix(1700000000, 0)

func fixedNow() time.Time { return testTime }

// Test keys are generated once per test binary, because RSA key generation
// takes tens of milliseconds.
var (
	keysOnce sync.Once
	rsaKey   *rsa.PrivateKey
	rsaKey2  *rsa.PrivateKey
	ecKey    *ecdsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
	edKey    ed25519.PrivateKey
	keysErr  error
)

func generateKeys() {
	if rsaKey, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
		return
	}
	if rsaKey2, keysErr = rsa.GenerateKey(rand.Reader, 2048); keysErr != nil {
		return
	}
	if ecKey, keysErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); keysErr != nil {
		return
	}
	if ecKey2, keysErr = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); keysErr != nil {
		return
	}
	_, edKey, keysErr = ed25519.GenerateKey(rand.Reader)
}

func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(generateKeys)
	if keysErr != nil {
		t.Fatalf("generate test keys: %v", keysErr)
	}
}

// privateKeyFor returns the test private key used for algorithm.
func privateKeyFor(t testing.TB, algorithm string) any {
	t.Helper()
	testKeys(t)
	switch algorithm {
	case "RS256", "PS256":
		return rsaKey
	case "ES256":
		return ecKey
	case "EdDSA":
		return edKey
	}
	t.Fatalf("no test key for algorithm %q", algorithm)
	return nil
}

// newTestSigner returns a signer with the test key for algorithm, the test
// issuer and the fixed clock.
func newTestSigner(t testing.TB, algorithm string, profile signer.Profile) *signer.Signer {
	t.Helper()
	data := pkcs8PEM(t, privateKeyFor(t, algorithm))
	s, err := signer.Parse(data, signer.Options{
		Issuer:    testIssuer,
		Algorithm: algorithm,
		Profile:   profile,
		Now:       fixedNow,
	})
	if err != nil {
		t.Fatalf("Parse %s key: %v", algorithm, err)
	}
	return s
}

func encodePEM(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func pkcs8PEM(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("marshal PKCS #8 key: %v", err)
	}
	return encodePEM("PRIVATE KEY", der)
}

func sec1PEM(t testing.TB, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatalf("marshal SEC 1 key: %v", err)
	}
	return encodePEM("EC PRIVATE KEY", der)
}

func publicPEM(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatalf("marshal public key: %v", err)
	}
	return encodePEM("PUBLIC KEY", der)
}

// jwkJSON returns key as a JSON JWK with the extra members set.
func jwkJSON(t testing.TB, key any, members map[string]any) []byte {
	t.Helper()
	return mustMarshal(t, jwkObject(t, key, members))
}

func jwkObject(t testing.TB, key any, members map[string]any) map[string]any {
	t.Helper()
	imported, err := jwk.Import(key)
	if err != nil {
		t.Fatalf("import %T as JWK: %v", key, err)
	}
	var object map[string]any
	if err := json.Unmarshal(mustMarshal(t, imported), &object); err != nil {
		t.Fatalf("decode JWK: %v", err)
	}
	for name, value := range members {
		object[name] = value
	}
	return object
}

// jwkSetJSON returns a JSON JWK set of the given JWK objects.
func jwkSetJSON(t testing.TB, keys ...map[string]any) []byte {
	t.Helper()
	return mustMarshal(t, map[string]any{"keys": keys})
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return data
}

func writeTempFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// splitToken returns the decoded protected header and payload of a compact
// JWS and its signing input and signature, without verifying anything.
func splitToken(t testing.TB, token []byte) (header, payload []byte, input string, signature []byte) {
	t.Helper()
	parts := strings.Split(string(token), ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, expected 3", token, len(parts))
	}
	decode := func(part string) []byte {
		data, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			t.Fatalf("decode token part %q: %v", part, err)
		}
		return data
	}
	return decode(parts[0]), decode(parts[1]), parts[0] + "." + parts[1], decode(parts[2])
}

// minimalClaims is the smallest claims set that passes the SET rules.
const minimalClaims = `{"events":{"https://schemas.openid.net/secevent/risc/event-type/account-disabled":{}}}`

const cryptoSHA256 = crypto.SHA256

func sha256Sum(input string) []byte {
	sum := sha256.Sum256([]byte(input))
	return sum[:]
}
