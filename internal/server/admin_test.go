package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	twruntime "github.com/tokenwire/tokenwire/runtime"
	"github.com/tokenwire/tokenwire/runtime/config"
	"github.com/tokenwire/tokenwire/runtime/intake"
)

const adminToken = "admin-token-0123456789"

// adminServer serves a runtime with one echo listener, with the admin
// routes on when reload is not nil.
func adminServer(t *testing.T, reload func(*twruntime.Runtime) ReloadFunc) *httptest.Server {
	t.Helper()
	cfg := &config.Config{
		Sinks: []config.Sink{{Name: "stdout", Type: "stdout"}},
		Listeners: []config.Listener{{
			Name:   "echo",
			Module: filepath.Join("..", "..", "testdata", "guests", "echo.wasm"),
			Sinks:  []string{"stdout"},
		}},
	}
	if err := cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rt, err := twruntime.New(context.Background(), cfg, twruntime.WithLogger(logger), twruntime.WithStdout(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var opts []Option
	if reload != nil {
		opts = append(opts, WithAdmin([]byte(adminToken), reload(rt)))
	}
	srv := New(rt, cfg.Intake, intake.Options{DefaultIssuer: "https://issuer.example.com"}, logger, opts...)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		srv.Drain(context.Background())
		_ = rt.Close(context.Background())
	})
	return ts
}

// adminRequest sends method to path with token as bearer token ("" for
// none) and returns the status code and body.
func adminRequest(t *testing.T, method, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestStatusIsOpenWithoutAdminAndReloadIsOff(t *testing.T) {
	ts := adminServer(t, nil)
	code, body := adminRequest(t, "GET", ts.URL+"/v1/status", "")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/status: %d %s", code, body)
	}
	var st twruntime.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Generation != 1 || len(st.Listeners) != 1 || st.Listeners[0].Name != "echo" || len(st.Listeners[0].ModuleInfo.SHA256) != 64 {
		t.Fatalf("status: %s", body)
	}
	code, body = adminRequest(t, "POST", ts.URL+"/v1/admin/reload", adminToken)
	if code != http.StatusNotFound || !strings.Contains(body, "set admin.token_file") {
		t.Fatalf("POST /v1/admin/reload with admin off: %d %s", code, body)
	}
}

func TestAdminReload(t *testing.T) {
	fail := false
	ts := adminServer(t, func(rt *twruntime.Runtime) ReloadFunc {
		return func(ctx context.Context, trigger string) (*twruntime.ReloadStatus, error) {
			cfg := &config.Config{
				Sinks: []config.Sink{{Name: "stdout", Type: "stdout"}},
				Listeners: []config.Listener{{
					Name:   "echo",
					Module: filepath.Join("..", "..", "testdata", "guests", "echo.wasm"),
					Sinks:  []string{"stdout"},
				}},
			}
			if fail {
				cfg.Listeners[0].Module = "missing.wasm"
			}
			if err := cfg.Normalize(); err != nil {
				return nil, errors.New("normalize: " + err.Error())
			}
			return rt.Reload(ctx, cfg, trigger)
		}
	})

	for _, c := range []struct{ method, path, token string }{
		{"GET", "/v1/status", ""},
		{"GET", "/v1/status", "wrong-token-0123456789"},
		{"POST", "/v1/admin/reload", ""},
		{"POST", "/v1/admin/reload", "wrong-token-0123456789"},
	} {
		code, body := adminRequest(t, c.method, ts.URL+c.path, c.token)
		if code != http.StatusUnauthorized || !strings.Contains(body, "admin.token_file") {
			t.Errorf("%s %s with token %q: %d %s", c.method, c.path, c.token, code, body)
		}
	}

	code, body := adminRequest(t, "POST", ts.URL+"/v1/admin/reload", adminToken)
	if code != http.StatusOK || !strings.Contains(body, `"generation": 2`) || !strings.Contains(body, "POST /v1/admin/reload from") {
		t.Fatalf("reload: %d %s", code, body)
	}
	fail = true
	code, body = adminRequest(t, "POST", ts.URL+"/v1/admin/reload", adminToken)
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "missing.wasm not found") || !strings.Contains(body, `"generation": 2`) {
		t.Fatalf("failed reload: %d %s", code, body)
	}
	code, body = adminRequest(t, "GET", ts.URL+"/v1/status", adminToken)
	if code != http.StatusOK || !strings.Contains(body, `"last_failed_reload"`) || !strings.Contains(body, `"generation": 2`) {
		t.Fatalf("status after a failed reload: %d %s", code, body)
	}
}
