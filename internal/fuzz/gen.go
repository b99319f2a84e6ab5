package fuzz

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// generator builds token-issue events in the intake's input form. Most
// events are valid, so they reach the listener. Their values are what real
// issuers send, plus the shapes that break parsers: unicode, big and
// negative numbers, floats, nulls, deep nesting, long strings and arrays,
// missing optional members and repeated member names.
type generator struct {
	rng *rand.Rand
	// maxBytes bounds the encoded event, the intake's limit.
	maxBytes int
	// dict holds strings found in seed events, used as values.
	dict []string
}

func newGenerator(seed uint64, maxBytes int) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), maxBytes: maxBytes}
}

func (g *generator) chance(n int) bool { return g.rng.IntN(n) == 0 }

func pick[T any](g *generator, xs []T) T { return xs[g.rng.IntN(len(xs))] }

var (
	issuers = []string{
		"https://op.example.com", "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0",
		"https://accounts.google.com", "https://example.okta.com/oauth2/default", "https://tenant.eu.auth0.com/",
		"https://keycloak.example.com/realms/master", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123",
		"http://localhost:8080", "https://例え.jp/op",
	}
	clientIDs = []string{
		"s6BhdRkqt3", "client-a", "0oa1b2c3d4e5f6g7h8i9", "6779ef20e75817b79602",
		"407408718192.apps.googleusercontent.com", "2ba8e0c8-3d7a-4c6e-9d0f-8a6e5d4c3b2a",
		"account-console", "admin-cli", "security-admin-console", "broker", "realm-management",
		"AKIAEXAMPLE", "4f1q6n2v7s8k9m0p1r2t3u4w5x", "metrics@reporting-prod.iam.gserviceaccount.com",
		"https://app.example.com/client-metadata.json", "svc:billing:prod", "",
		"CLIENT_ID_WITH_UNDERSCORES", "ünïcödé-client", "client id with spaces",
	}
	subjects = []string{
		"248289761001", "90342.ASDFJWFA", "alice", "auth0|5f7c8ec7c33c6c004bbafe82",
		"00u1a2b3c4d5e6f7g8h9", "9f8e7d6c-5b4a-4321-8fed-cba987654321", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
		"google-oauth2|104729373729", "user@example.com", "service-account-metrics",
		"Zoë", "Łukasz", "李小龍", "Ελένη", "محمد", "👩🏽‍💻", "e\u0301", "",
	}
	scopes = []string{"openid", "profile", "email", "offline_access", "read:reports", "api://default/.default", "https://graph.microsoft.com/User.Read", "admin"}
	amrs   = []string{"pwd", "otp", "mfa", "hwk", "swk", "fido", "face", "sms", "kba"}
	// hostile strings: control characters, bidi overrides, lone
	// surrogates become U+FFFD, long combining sequences, JSON-looking text.
	oddStrings = []string{
		"\u0000", "\u202eevil", "\ufeffbom", "\u00e9\u0301\u0301\u0301", "𝕳𝖊𝖑𝖑𝖔", "\t\n\r", "null", "{\"a\":1}",
		"'; DROP TABLE users;--", "../../etc/passwd", "%00", "\\", "\"", strings.Repeat("𓀀", 40), "\u2028\u2029",
		"１２３", "-0", "NaN", "Infinity", "1e309", "true",
	}
	numbers = []string{
		"0", "-1", "1", "2147483647", "2147483648", "-2147483649", "4294967296", "9007199254740993",
		"18446744073709551616", "-9223372036854775809", "123456789012345678901234567890",
		"1.5", "-0.0", "1e308", "1E-324", "6.02214076e23", "0.1", "-1e-7", "1767600843", "253402300800",
	}
	claimNames = []string{
		"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "nonce", "auth_time", "acr", "amr", "sid",
		"scope", "scp", "client_id", "cid", "uid", "groups", "roles", "entitlements", "tid", "oid", "upn",
		"email", "email_verified", "name", "preferred_username", "locale", "zoneinfo", "address",
		"realm_access", "resource_access", "cognito:groups", "token_use", "https://example.com/roles",
		"permissions", "gty", "hd", "act", "may_act", "cnf", "x5t#S256", "events", "txn", "ver",
	}
)

// event returns a fresh event.
func (g *generator) event() *value {
	ev := object()
	typ := "id_token.issued"
	if g.chance(2) {
		typ = "access_token.issued"
	}
	claims := g.claims(typ == "id_token.issued")
	iss := claims.get("iss")
	// Members intake derives from the claims are given only sometimes.
	if g.chance(2) {
		ev.set("id", str(g.uuid()))
	}
	ev.set("type", str(typ))
	if g.chance(3) {
		ev.set("time", number(pick(g, []string{"1767600843", "0", "253402300800", "1767600843"})))
	}
	if g.chance(3) && iss != nil && iss.kind == kindString {
		ev.set("issuer", str(iss.text))
	}
	if g.chance(3) {
		ev.set("client_id", str(g.clientID()))
	}
	if g.chance(3) {
		ev.set("subject", str(g.subject()))
	}
	ev.set("claims", claims)
	if g.chance(2) {
		ev.set("context", g.context())
	}
	return ev
}

func (g *generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *generator) clientID() string {
	if len(g.dict) > 0 && g.chance(4) {
		return pick(g, g.dict)
	}
	if g.chance(8) {
		return g.mutateString(pick(g, clientIDs))
	}
	return pick(g, clientIDs)
}

func (g *generator) subject() string {
	switch {
	case len(g.dict) > 0 && g.chance(4):
		return pick(g, g.dict)
	case g.chance(8):
		return g.mutateString(pick(g, subjects))
	case g.chance(40):
		return g.longString()
	}
	return pick(g, subjects)
}

// claims returns a claims set shaped like one of the common issuers'.
func (g *generator) claims(idToken bool) *value {
	c := object()
	iss := pick(g, issuers)
	client := g.clientID()
	now := 1767600000 + g.rng.IntN(1000000)
	c.set("iss", str(iss))
	if !g.chance(8) {
		c.set("sub", str(g.subject()))
	}
	if g.chance(3) {
		c.set("aud", array(str(client), str("https://api.example.com")))
	} else {
		c.set("aud", str(client))
	}
	c.set("exp", number(strconv.Itoa(now+3600)))
	c.set("iat", number(strconv.Itoa(now)))
	if idToken {
		c.set("auth_time", number(strconv.Itoa(now-12)))
		if g.chance(2) {
			c.set("nonce", str(g.token(12)))
		}
		c.set("azp", str(client))
		c.set("amr", g.someOf(amrs))
		c.set("email", str(pick(g, []string{"janedoe@example.com", "zoë@bücher.example", "a@b", ""})))
		c.set("email_verified", boolean(g.chance(2)))
		c.set("name", str(pick(g, subjects)))
	} else {
		c.set("client_id", str(client))
		c.set("jti", str(g.uuid()))
		c.set("scope", str(strings.Join(g.strings(scopes), " ")))
	}
	switch g.rng.IntN(6) {
	case 0: // Keycloak
		c.set("typ", str("Bearer"))
		c.set("preferred_username", str(g.subject()))
		c.set("realm_access", object().set("roles", g.someOf([]string{"offline_access", "uma_authorization", "admin"})))
		c.set("resource_access", object().set(client, object().set("roles", g.someOf([]string{"view-profile", "manage-account"}))))
		c.set("allowed-origins", array(str("*")))
	case 1: // Entra ID
		c.set("tid", str(g.uuid()))
		c.set("oid", str(g.uuid()))
		c.set("upn", str("user@contoso.onmicrosoft.com"))
		c.set("ver", str("2.0"))
		c.set("roles", g.someOf([]string{"Task.Read", "Task.Write", "Admin"}))
		c.set("wids", array(str(g.uuid())))
	case 2: // Okta
		c.set("ver", number("1"))
		c.set("cid", str(client))
		c.set("uid", str("00u1a2b3c4d5e6f7g8h9"))
		c.set("scp", g.someOf(scopes))
	case 3: // Auth0
		c.set("https://example.com/roles", g.someOf([]string{"admin", "editor"}))
		c.set("permissions", g.someOf([]string{"read:reports", "write:reports"}))
		c.set("gty", str("client-credentials"))
	case 4: // Cognito
		c.set("cognito:groups", g.someOf([]string{"admins", "users"}))
		c.set("token_use", str(pick(g, []string{"id", "access"})))
		c.set("cognito:username", str(g.subject()))
		c.set("origin_jti", str(g.uuid()))
	default: // token exchange and proof of possession
		c.set("act", object().set("sub", str("https://service.example.com")).set("act", object().set("sub", str("admin"))))
		c.set("cnf", object().set("x5t#S256", str(g.token(43))))
	}
	// Odd claims on top of the realistic ones.
	// Claim names are unique at the top level, or intake rejects the
	// event, so these replace a claim of the same name.
	for n := g.rng.IntN(4); n > 0; n-- {
		setMember(c, g.claimName(), g.anyValue(0))
	}
	// Large and deep values are rare, as in real traffic, and slow.
	if g.chance(10) {
		setMember(c, g.claimName(), g.deep(1+g.rng.IntN(1+g.rng.IntN(200))))
	}
	if g.chance(40) {
		setMember(c, "big", g.bigArray())
	}
	if g.chance(10) {
		// Dropping a claim exercises code that assumes one is present.
		c.remove(g.rng.IntN(len(c.keys)))
	}
	return c
}

func (g *generator) context() *value {
	ctx := object()
	ctx.set("grant_type", str(pick(g, []string{"authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:device_code"})))
	ctx.set("scope", str(strings.Join(g.strings(scopes), " ")))
	ctx.set("ip", str(pick(g, []string{"192.0.2.44", "2001:db8::1", "::ffff:198.51.100.7", "999.1.1.1", ""})))
	if g.chance(2) {
		ctx.set("user_agent", str(pick(g, []string{"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "curl/8.5.0", "\u202eUA"})))
	}
	if g.chance(4) {
		// Repeated member names inside context are valid JSON that
		// parsers resolve differently.
		ctx.set("scope", str("admin"))
	}
	if g.chance(4) {
		ctx.set(g.claimName(), g.anyValue(0))
	}
	return ctx
}

func (g *generator) claimName() string {
	switch g.rng.IntN(8) {
	case 0:
		return pick(g, oddStrings)
	case 1:
		return "x-" + g.token(6)
	}
	return pick(g, claimNames)
}

// anyValue returns a value of any JSON type; depth limits nesting.
func (g *generator) anyValue(depth int) *value {
	n := 8
	if depth > 3 {
		n = 6
	}
	switch g.rng.IntN(n) {
	case 0:
		return null()
	case 1:
		return boolean(g.chance(2))
	case 2:
		return number(pick(g, numbers))
	case 3:
		return str(pick(g, oddStrings))
	case 4:
		return str(g.mutateString(pick(g, subjects)))
	case 5:
		if len(g.dict) > 0 {
			return str(pick(g, g.dict))
		}
		return str(pick(g, clientIDs))
	case 6:
		a := array()
		for k := g.rng.IntN(4); k > 0; k-- {
			a.vals = append(a.vals, g.anyValue(depth+1))
		}
		return a
	default:
		o := object()
		for k := g.rng.IntN(4); k > 0; k-- {
			o.set(g.claimName(), g.anyValue(depth+1))
		}
		if len(o.keys) > 0 && g.chance(4) {
			o.set(o.keys[0], g.anyValue(depth+1))
		}
		return o
	}
}

// deep returns objects and arrays nested depth levels.
func (g *generator) deep(depth int) *value {
	leaf := g.anyValue(4)
	for range depth {
		if g.chance(2) {
			leaf = array(leaf)
		} else {
			leaf = object().set(pick(g, claimNames), leaf)
		}
	}
	return leaf
}

// bigArray returns a long array, at most about half the event limit.
func (g *generator) bigArray() *value {
	n := 1 << (4 + g.rng.IntN(12))
	n = min(n, g.maxBytes/24)
	a := array()
	elem := g.anyValue(4)
	for range n {
		a.vals = append(a.vals, elem)
	}
	return a
}

func (g *generator) longString() string {
	n := 1 << (6 + g.rng.IntN(12))
	n = min(n, g.maxBytes/2)
	unit := pick(g, []string{"a", "é", "李", "👩🏽‍💻", "\\", "0"})
	return strings.Repeat(unit, max(1, n/len(unit)))
}

func (g *generator) token(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func (g *generator) strings(from []string) []string {
	out := []string{}
	for _, s := range from {
		if g.chance(3) {
			out = append(out, s)
		}
	}
	return out
}

func (g *generator) someOf(from []string) *value {
	a := array()
	for _, s := range g.strings(from) {
		a.vals = append(a.vals, str(s))
	}
	return a
}

// mutateString changes s in one of several ways.
func (g *generator) mutateString(s string) string {
	r := []rune(s)
	switch g.rng.IntN(7) {
	case 0:
		if len(r) > 0 {
			return string(r[:g.rng.IntN(len(r))])
		}
	case 1:
		i := g.rng.IntN(len(r) + 1)
		ins := []rune(pick(g, oddStrings))
		return string(append(r[:i:i], append(ins, r[i:]...)...))
	case 2:
		return strings.Repeat(s, 2+g.rng.IntN(8))
	case 3:
		return strings.ToUpper(s)
	case 4:
		return s + pick(g, []string{".", "@", ":", "/", "|", " ", "é", "\u0000"})
	case 5:
		if len(r) > 0 {
			r[g.rng.IntN(len(r))] = pick(g, []rune{'é', 'ß', 'ı', 'İ', '😀', '\u200b'})
			return string(r)
		}
	}
	return pick(g, oddStrings) + s
}
