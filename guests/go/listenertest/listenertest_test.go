package listenertest_test

import (
	"errors"
	"testing"

	"github.com/tokenwire/tokenwire/abi"
	"github.com/tokenwire/tokenwire/guests/go/listenertest"
)

func TestFakeSignCountsJTI(t *testing.T) {
	h := listenertest.New(t)
	claims := []byte(`{"events":{"https://example.com/e":{}}}`)
	for _, wantJTI := range []string{"jti-1", "jti-2"} {
		token, err := h.FakeSign(claims)
		if err != nil {
			t.Fatalf("FakeSign: %v", err)
		}
		payload, err := listenertest.DecodePayload(token)
		if err != nil {
			t.Fatalf("DecodePayload: %v", err)
		}
		want := `{"events":{"https://example.com/e":{}},"iat":1700000000,` +
			`"iss":"https://listenertest.invalid","jti":"` + wantJTI + `"}`
		if string(payload) != want {
			t.Errorf("payload = %s, want %s", payload, want)
		}
	}
}

func TestFakeSignOverwritesHostClaims(t *testing.T) {
	h := listenertest.New(t)
	token, err := h.FakeSign([]byte(`{"iss":"me","jti":"mine","iat":1,"events":{"urn:x:e":{}}}`))
	if err != nil {
		t.Fatalf("FakeSign: %v", err)
	}
	payload, err := listenertest.DecodePayload(token)
	if err != nil {
		t.Fatalf("DecodePayload: %v", err)
	}
	want := `{"events":{"urn:x:e":{}},"iat":1700000000,"iss":"https://listenertest.invalid","jti":"jti-1"}`
	if string(payload) != want {
		t.Errorf("payload = %s, want %s", payload, want)
	}
}

func TestFakeSignRejectsNull(t *testing.T) {
	h := listenertest.New(t)
	if _, err := h.FakeSign([]byte(`null`)); !errors.Is(err, abi.StatusInvalidArgument) {
		t.Errorf("FakeSign(null) error = %v, want %v", err, abi.StatusInvalidArgument)
	}
	if _, err := h.FakeSign([]byte(`{"events":null}`)); !errors.Is(err, abi.StatusInvalidArgument) {
		t.Errorf(`FakeSign({"events":null}) error = %v, want %v`, err, abi.StatusInvalidArgument)
	}
}

func TestDecodePayloadRejectsMalformedTokens(t *testing.T) {
	for _, token := range []string{"", "a.b", "a.b.c.d", "a.!!!.c"} {
		if _, err := listenertest.DecodePayload(token); err == nil {
			t.Errorf("DecodePayload(%q) succeeded, want an error", token)
		}
	}
}

func TestFailureError(t *testing.T) {
	f := &listenertest.Failure{Export: "tw_init", Code: 1, Message: "bad config"}
	if got, want := f.Error(), "tw_init returned 1: bad config"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
