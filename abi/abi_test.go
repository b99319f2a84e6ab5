package abi

import (
	"errors"
	"testing"
)

func TestStatusNames(t *testing.T) {
	want := map[Status]string{
		-1: "INVALID_MEMORY", -2: "INVALID_ARGUMENT", -3: "NOT_PERMITTED", -4: "NOT_FOUND",
		-5: "TOO_LARGE", -6: "LIMIT_EXCEEDED", -7: "UNAVAILABLE", -8: "INTERNAL",
	}
	if len(Statuses) != len(want) {
		t.Fatalf("Statuses has %d entries, want %d", len(Statuses), len(want))
	}
	for _, s := range Statuses {
		if s.String() != want[s] {
			t.Errorf("Status(%d).String() = %q, want %q", int32(s), s.String(), want[s])
		}
	}
	if got := Status(-99).String(); got != "status(-99)" {
		t.Errorf("unknown status = %q", got)
	}
}

func TestStatusIsError(t *testing.T) {
	var err error = StatusNotPermitted
	if !errors.Is(err, StatusNotPermitted) || errors.Is(err, StatusNotFound) {
		t.Error("errors.Is does not tell statuses apart")
	}
}

func TestKnownEventType(t *testing.T) {
	for _, typ := range []string{"id_token.issued", "access_token.issued"} {
		if !KnownEventType(typ) {
			t.Errorf("%q is not known", typ)
		}
	}
	for _, typ := range []string{"", "id_token.isued", "ID_TOKEN.ISSUED", "id_token.issued "} {
		if KnownEventType(typ) {
			t.Errorf("%q is known, want rejected", typ)
		}
	}
}

func TestHostFuncs(t *testing.T) {
	params := map[string]int{
		"event_read": 2, "config_read": 2, "log": 3, "set_error": 2,
		"sign": 2, "result_read": 2, "emit": 4,
	}
	if len(HostFuncs) != len(params) {
		t.Fatalf("HostFuncs has %d entries, want %d", len(HostFuncs), len(params))
	}
	for _, f := range HostFuncs {
		if params[f.Name] != f.Params {
			t.Errorf("%s takes %d params, want %d", f.Name, f.Params, params[f.Name])
		}
	}
}
