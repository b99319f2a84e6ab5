package server

import (
	"context"
	"encoding/json"
	"net/http"

	twruntime "github.com/tokenwire/tokenwire/runtime"
)

// ReloadFunc reloads the configuration. Trigger names the source of the
// request, for the status.
type ReloadFunc func(ctx context.Context, trigger string) (*twruntime.ReloadStatus, error)

// WithAdmin enables POST /v1/admin/reload, which calls reload, and makes
// it and GET /v1/status require token as a bearer token.
func WithAdmin(token []byte, reload ReloadFunc) Option {
	return func(s *Server) { s.adminToken, s.reload = token, reload }
}

// admitAdmin checks the admin token and writes a 401 when it is missing
// or wrong. It reports whether the request may go on.
func (s *Server) admitAdmin(w http.ResponseWriter, req *http.Request) bool {
	reason := unauthorized(req, s.adminToken)
	if reason == "" {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="tokenwire-admin"`)
	s.logger.Info("admin request rejected", "path", req.URL.Path, "reason", reason, "remote", req.RemoteAddr)
	writeProblem(w, problem{
		Title:  "unauthorized",
		Status: http.StatusUnauthorized,
		Detail: "send the admin token (admin.token_file) as \"Authorization: Bearer <token>\"",
	})
	return false
}

// getStatus serves the runtime's status: generation, reloads and
// listeners.
func (s *Server) getStatus(w http.ResponseWriter, req *http.Request) {
	if !s.admitAdmin(w, req) {
		return
	}
	writeJSON(w, http.StatusOK, s.rt.Status())
}

// postReload reloads the configuration. It responds 200 with the reload
// status when the new generation went live, and 422 with the same
// document, whose error gives the reason, when the running one kept
// serving.
func (s *Server) postReload(w http.ResponseWriter, req *http.Request) {
	if s.reload == nil {
		writeProblem(w, problem{
			Title:  "reload endpoint off",
			Status: http.StatusNotFound,
			Detail: "set admin.token_file in the config to enable POST /v1/admin/reload",
		})
		return
	}
	if !s.admitAdmin(w, req) {
		return
	}
	// The reload runs to its end even when the client gives up, so a
	// valid config never fails with a canceled context.
	status, err := s.reload(context.WithoutCancel(req.Context()), "POST /v1/admin/reload from "+req.RemoteAddr)
	code := http.StatusOK
	if err != nil {
		code = http.StatusUnprocessableEntity
	}
	if status == nil {
		// The runtime is closing.
		writeProblem(w, problem{Title: "shutting down", Status: http.StatusServiceUnavailable, Detail: err.Error()})
		return
	}
	writeJSON(w, code, status)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
