package listenertest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"

	"github.com/tokenwire/tokenwire/abi"
)

// Claims that FakeSign sets, as the real host sets iss, iat and jti.
const (
	FakeIssuer   = "https://listenertest.invalid"
	FakeIssuedAt = 1700000000
)

// fakeHeader is the JOSE header of every FakeSign token: an unsecured JWS
// (RFC 7515, Appendix A.5), because the fake has no key.
const fakeHeader = `{"alg":"none","typ":"secevent+jwt"}`

// FakeSign checks claims by the rules of the sign host function and returns
// an unsigned compact JWS of them, with an empty signature part.
//
// The claims must be a JSON object without exp or nonce. They must contain
// an "events" object whose member names are absolute URIs and whose values
// are objects. FakeSign returns abi.StatusInvalidArgument for other claims.
//
// The payload is the claims with iss set to FakeIssuer, iat to FakeIssuedAt
// and jti to "jti-N", where N counts the sign calls on h from 1. It is
// re-marshaled by encoding/json, so members are in sorted order.
func (h *Host) FakeSign(claims []byte) (string, error) {
	h.signCount++

	var set map[string]json.RawMessage
	if err := json.Unmarshal(claims, &set); err != nil || set == nil {
		return "", abi.StatusInvalidArgument
	}
	if _, ok := set["exp"]; ok {
		return "", abi.StatusInvalidArgument
	}
	if _, ok := set["nonce"]; ok {
		return "", abi.StatusInvalidArgument
	}
	if !validEvents(set["events"]) {
		return "", abi.StatusInvalidArgument
	}

	set["iss"] = json.RawMessage(strconv.Quote(FakeIssuer))
	set["iat"] = json.RawMessage(strconv.Itoa(FakeIssuedAt))
	set["jti"] = json.RawMessage(strconv.Quote("jti-" + strconv.Itoa(h.signCount)))
	payload, err := json.Marshal(set)
	if err != nil {
		return "", abi.StatusInternal
	}

	encoding := base64.RawURLEncoding
	return encoding.EncodeToString([]byte(fakeHeader)) + "." + encoding.EncodeToString(payload) + ".", nil
}

// validEvents reports whether raw is a JSON object whose member names are
// absolute URIs and whose values are objects.
func validEvents(raw json.RawMessage) bool {
	var events map[string]json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil || events == nil {
		return false
	}
	for name, value := range events {
		uri, err := url.Parse(name)
		if err != nil || !uri.IsAbs() {
			return false
		}
		if !bytes.HasPrefix(bytes.TrimSpace(value), []byte("{")) {
			return false
		}
	}
	return true
}

// DecodePayload returns the payload JSON of a compact JWS, such as the
// tokens FakeSign returns. It does not verify the signature.
func DecodePayload(token string) ([]byte, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("listenertest: compact JWS has " + strconv.Itoa(len(parts)) + " parts, want 3")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errors.New("listenertest: invalid JWS payload encoding: " + err.Error())
	}
	return payload, nil
}
