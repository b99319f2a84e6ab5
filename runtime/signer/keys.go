package signer

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
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
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// minRSABits is the smallest RSA modulus accepted, in bits. jwx v3.4.0
// rejects smaller RSA JWKs as well.
const minRSABits = 2048

// supportedKeys lists the accepted key types and their algorithms, for
// error messages.
const supportedKeys = "RSA (RS256, PS256), EC P-256 (ES256) and Ed25519 (EdDSA)"

// LoadFile reads a private key from the file at path and returns a Signer for
// it. The file format is that of Parse. Every error names the path.
func LoadFile(path string, opts Options) (*Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signing key file: %w", err)
	}
	s, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("signing key file %s: %w", path, err)
	}
	return s, nil
}

// Parse returns a Signer for the private key in data. Data is a JWK set (a
// JSON object with "keys"), a single JWK, or PEM with one private key in
// PKCS #1 ("RSA PRIVATE KEY"), PKCS #8 ("PRIVATE KEY") or SEC 1 ("EC PRIVATE
// KEY") form. Options.KeyID selects the key in a JWK set of several keys.
func Parse(data []byte, opts Options) (*Signer, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}

	trimmed := bytes.TrimSpace(data)
	var key jwk.Key
	var err error
	switch {
	case len(trimmed) == 0:
		return nil, errors.New("key data is empty: provide a JWK, a JWK set or a PEM private key")
	case trimmed[0] == '{':
		key, err = parseJWK(trimmed, opts.KeyID)
	case bytes.Contains(trimmed, []byte("-----BEGIN ")):
		key, err = parsePEM(trimmed)
	default:
		return nil, errors.New("no key found: the data is neither JSON (a JWK or JWK set) nor PEM: provide a JWK, a JWK set or a PEM private key")
	}
	if err != nil {
		return nil, err
	}
	return newSigner(key, opts)
}

// Ephemeral returns a Signer for a new RSA 2048-bit key that exists only in
// memory, signing with RS256 unless opts.Algorithm is PS256. Receivers must
// fetch its PublicJWKS again after every restart.
func Ephemeral(opts Options) (*Signer, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generate RSA key: %w", err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		return nil, fmt.Errorf("import generated RSA key: %w", err)
	}
	return newSigner(key, opts)
}

func checkOptions(opts Options) error {
	if opts.Issuer == "" {
		return errors.New("issuer is missing: set the issuer that SETs carry in \"iss\"")
	}
	if !utf8.ValidString(opts.Issuer) {
		return fmt.Errorf("issuer %q is not valid UTF-8", opts.Issuer)
	}
	switch opts.Profile {
	case "", ProfileRFC8417, ProfileSSF:
	default:
		return fmt.Errorf("unknown SET profile %q: use %q or %q", opts.Profile, ProfileRFC8417, ProfileSSF)
	}
	return nil
}

// parseJWK parses a JWK or JWK set and selects the key with keyID, or the
// only key when keyID is empty.
func parseJWK(data []byte, keyID string) (jwk.Key, error) {
	set, err := jwk.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("invalid JWK or JWK set: %w", err)
	}
	if set.Len() == 0 {
		return nil, errors.New("JWK set contains no keys: add the private signing key")
	}

	keys := make([]jwk.Key, 0, set.Len())
	for i := range set.Len() {
		key, _ := set.Key(i)
		keys = append(keys, key)
	}

	if keyID == "" {
		if len(keys) > 1 {
			return nil, fmt.Errorf("JWK set contains %d keys with key IDs %s: set the key ID to choose one", len(keys), listKeyIDs(keys))
		}
		return keys[0], nil
	}

	// A lone key without a kid takes keyID as its kid.
	if len(keys) == 1 {
		if _, ok := keys[0].KeyID(); !ok {
			return keys[0], nil
		}
	}
	var selected jwk.Key
	for _, key := range keys {
		if kid, _ := key.KeyID(); kid == keyID {
			if selected != nil {
				return nil, fmt.Errorf("JWK set contains several keys with key ID %q: give each key its own key ID", keyID)
			}
			selected = key
		}
	}
	if selected == nil {
		return nil, fmt.Errorf("no key with key ID %q: the key IDs are %s", keyID, listKeyIDs(keys))
	}
	return selected, nil
}

func listKeyIDs(keys []jwk.Key) string {
	ids := make([]string, len(keys))
	for i, key := range keys {
		if kid, ok := key.KeyID(); ok {
			ids[i] = fmt.Sprintf("%q", kid)
		} else {
			ids[i] = "(none)"
		}
	}
	return strings.Join(ids, ", ")
}

// parsePEM returns the one private key in PEM data. It skips "EC
// PARAMETERS" blocks, which OpenSSL writes before SEC 1 keys.
func parsePEM(data []byte) (jwk.Key, error) {
	var private []any
	var publicBlock string
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}

		var raw any
		var err error
		switch block.Type {
		case "RSA PRIVATE KEY":
			if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // Detects the legacy encryption to report it.
				return nil, errors.New("PEM private key is encrypted: decrypt it first, for example with openssl pkey")
			}
			raw, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "PRIVATE KEY":
			raw, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // Detects the legacy encryption to report it.
				return nil, errors.New("PEM private key is encrypted: decrypt it first, for example with openssl pkey")
			}
			raw, err = x509.ParseECPrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("PEM private key is encrypted: decrypt it first, for example with openssl pkey")
		case "EC PARAMETERS":
			continue
		case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
			if publicBlock == "" {
				publicBlock = block.Type
			}
			continue
		default:
			return nil, fmt.Errorf("unsupported PEM block %q: use \"RSA PRIVATE KEY\", \"PRIVATE KEY\" or \"EC PRIVATE KEY\"", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("invalid PEM %q block: %w", block.Type, err)
		}
		private = append(private, raw)
	}

	switch {
	case len(private) == 1:
	case len(private) > 1:
		return nil, fmt.Errorf("PEM data contains %d private keys: keep one key per file, or use a JWK set with key IDs", len(private))
	case publicBlock != "":
		return nil, fmt.Errorf("PEM data contains only a public key (%q block): the signer needs the private key", publicBlock)
	default:
		return nil, errors.New("PEM data contains no PEM block: provide a PEM private key")
	}

	// Describe the key before jwk.Import, whose own checks, such as the
	// RSA size limit, give less specific messages.
	if _, err := describeKey(private[0]); err != nil {
		return nil, err
	}
	key, err := jwk.Import(private[0])
	if err != nil {
		return nil, fmt.Errorf("unsupported %T private key: %w; supported keys are %s", private[0], err, supportedKeys)
	}
	return key, nil
}

// keySpec is the display name and the accepted algorithms of a key type.
type keySpec struct {
	name       string   // for messages, such as "RSA" or "EC P-256"
	algorithms []string // the first is the default
}

// describeKey returns the spec of a supported private key, or an error that
// explains why the key cannot sign.
func describeKey(raw any) (keySpec, error) {
	switch k := raw.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return keySpec{}, fmt.Errorf("RSA key has %d bits: use a key of at least %d bits", bits, minRSABits)
		}
		return keySpec{name: "RSA", algorithms: []string{algRS256, algPS256}}, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return keySpec{}, fmt.Errorf("EC curve %s is not supported: supported keys are %s", k.Curve.Params().Name, supportedKeys)
		}
		return keySpec{name: "EC P-256", algorithms: []string{algES256}}, nil
	case ed25519.PrivateKey:
		return keySpec{name: "Ed25519", algorithms: []string{algEdDSA}}, nil
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey, *ecdh.PublicKey:
		return keySpec{}, errors.New("key is a public key only: the signer needs the private key")
	case *ecdh.PrivateKey:
		return keySpec{}, fmt.Errorf("%s key is for key agreement, not signatures: supported keys are %s", k.Curve(), supportedKeys)
	case []byte:
		return keySpec{}, fmt.Errorf("symmetric (\"oct\") key is not supported: SETs need a public-key signature, and supported keys are %s", supportedKeys)
	}
	return keySpec{}, fmt.Errorf("%T key is not supported: supported keys are %s", raw, supportedKeys)
}

// chooseAlgorithm returns the requested algorithm, else the key's JWK "alg",
// else the default of spec, and checks that it fits the key.
func chooseAlgorithm(requested string, key jwk.Key, spec keySpec) (string, error) {
	var keyAlgorithm string
	if alg, ok := key.Algorithm(); ok {
		keyAlgorithm = alg.String()
	}

	algorithm := requested
	switch {
	case requested != "" && keyAlgorithm != "" && requested != keyAlgorithm:
		return "", fmt.Errorf("algorithm %s differs from the key's JWK \"alg\" %s: request %s or remove \"alg\" from the key", requested, keyAlgorithm, keyAlgorithm)
	case requested == "" && keyAlgorithm != "":
		algorithm = keyAlgorithm
	case requested == "":
		algorithm = spec.algorithms[0]
	}

	for _, allowed := range spec.algorithms {
		if algorithm == allowed {
			return algorithm, nil
		}
	}
	return "", fmt.Errorf("algorithm %s does not fit an %s key: use %s", algorithm, spec.name, strings.Join(spec.algorithms, " or "))
}

// checkKeyUse rejects a JWK whose "use" or "key_ops" rules out signing.
func checkKeyUse(key jwk.Key) error {
	if use, ok := key.KeyUsage(); ok && use != "sig" {
		return fmt.Errorf("key has JWK \"use\" %q: a signing key needs \"sig\" or no \"use\"", use)
	}
	if ops, ok := key.KeyOps(); ok {
		for _, op := range ops {
			if op == jwk.KeyOpSign {
				return nil
			}
		}
		return fmt.Errorf("key has JWK \"key_ops\" %v without \"sign\": add \"sign\" or remove \"key_ops\"", ops)
	}
	return nil
}

// newSigner checks key and builds a Signer for it. Options were checked by
// the caller.
func newSigner(key jwk.Key, opts Options) (*Signer, error) {
	var raw any
	if err := jwk.Export(key, &raw); err != nil {
		return nil, fmt.Errorf("unsupported key: %w; supported keys are %s", err, supportedKeys)
	}
	spec, err := describeKey(raw)
	if err != nil {
		return nil, err
	}
	if err := checkKeyUse(key); err != nil {
		return nil, err
	}
	algorithm, err := chooseAlgorithm(opts.Algorithm, key, spec)
	if err != nil {
		return nil, err
	}
	if rsaKey, ok := raw.(*rsa.PrivateKey); ok {
		// jwk.Export builds the key without precomputed CRT values, and
		// crypto/rsa then redoes that work on every signature.
		rsaKey.Precompute()
		if err := rsaKey.Validate(); err != nil {
			return nil, fmt.Errorf("invalid RSA private key: %w", err)
		}
	}
	privateKey := raw.(crypto.Signer)

	keyID, err := chooseKeyID(key, opts.KeyID)
	if err != nil {
		return nil, err
	}

	s := &Signer{
		issuer:    opts.Issuer,
		keyID:     keyID,
		algorithm: algorithm,
		profile:   opts.Profile,
		now:       opts.Now,
		random:    opts.Random,
	}
	if s.profile == "" {
		s.profile = ProfileRFC8417
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.random == nil {
		s.random = rand.Reader
		s.ownRandom = true
	}
	if s.issuerJSON, err = json.Marshal(opts.Issuer); err != nil {
		return nil, fmt.Errorf("encode issuer %q: %w", opts.Issuer, err)
	}
	if s.signFunc, err = newSignFunc(algorithm, privateKey); err != nil {
		return nil, err
	}
	if s.protectedHeader, err = encodeProtectedHeader(algorithm, keyID); err != nil {
		return nil, err
	}
	if s.publicJWK, err = encodePublicJWK(privateKey.Public(), algorithm, keyID); err != nil {
		return nil, err
	}

	// A JWK whose private part does not match its public part would sign
	// SETs that no receiver can verify, so catch it at load time.
	if err := selfTest(s.signFunc, algorithm, privateKey.Public()); err != nil {
		return nil, fmt.Errorf("%s key failed a test signature: %w; check that the private and public parts belong together", spec.name, err)
	}
	return s, nil
}

// chooseKeyID returns the key's own kid, else requested, else the RFC 7638
// SHA-256 thumbprint. A JWK kid that differs from requested cannot occur
// here, because parseJWK selects keys by kid.
func chooseKeyID(key jwk.Key, requested string) (string, error) {
	if kid, ok := key.KeyID(); ok && kid != "" {
		return kid, nil
	}
	if requested != "" {
		return requested, nil
	}
	thumbprint, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("compute JWK thumbprint for the key ID: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(thumbprint), nil
}

// encodeProtectedHeader returns the base64url-encoded JWS protected header.
// RFC 8417 sets "typ" to "secevent+jwt" so that a SET cannot pass for
// another kind of JWT.
func encodeProtectedHeader(algorithm, keyID string) ([]byte, error) {
	header, err := json.Marshal(struct {
		Algorithm string `json:"alg"`
		KeyID     string `json:"kid"`
		Type      string `json:"typ"`
	}{algorithm, keyID, "secevent+jwt"})
	if err != nil {
		return nil, fmt.Errorf("encode protected header: %w", err)
	}
	return base64.RawURLEncoding.AppendEncode(nil, header), nil
}

// encodePublicJWK returns public as a JSON JWK with kid, alg and use "sig".
// It starts from the raw public key, so no member of the source JWK other
// than these reaches the JWK set.
func encodePublicJWK(public crypto.PublicKey, algorithm, keyID string) ([]byte, error) {
	key, err := jwk.Import(public)
	if err != nil {
		return nil, fmt.Errorf("import public key: %w", err)
	}
	for name, value := range map[string]string{
		jwk.KeyIDKey:     keyID,
		jwk.AlgorithmKey: algorithm,
		jwk.KeyUsageKey:  "sig",
	} {
		if err := key.Set(name, value); err != nil {
			return nil, fmt.Errorf("set public JWK %q to %q: %w", name, value, err)
		}
	}
	encoded, err := json.Marshal(key)
	if err != nil {
		return nil, fmt.Errorf("encode public JWK: %w", err)
	}
	return encoded, nil
}

// selfTest signs a fixed input with sign and verifies it with public.
func selfTest(sign func([]byte) ([]byte, error), algorithm string, public crypto.PublicKey) error {
	input := []byte("tokenwire signer self-test")
	signature, err := sign(input)
	if err != nil {
		return err
	}

	digest := sha256.Sum256(input)
	switch algorithm {
	case algRS256:
		return rsa.VerifyPKCS1v15(public.(*rsa.PublicKey), crypto.SHA256, digest[:], signature)
	case algPS256:
		return rsa.VerifyPSS(public.(*rsa.PublicKey), crypto.SHA256, digest[:], signature,
			&rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case algES256:
		r := new(big.Int).SetBytes(signature[:32])
		sv := new(big.Int).SetBytes(signature[32:])
		if !ecdsa.Verify(public.(*ecdsa.PublicKey), digest[:], r, sv) {
			return errors.New("ES256 signature does not verify")
		}
		return nil
	case algEdDSA:
		if !ed25519.Verify(public.(ed25519.PublicKey), input, signature) {
			return errors.New("EdDSA signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("algorithm %q has no self-test", algorithm)
}
