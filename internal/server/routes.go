package server

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// placeholders are the paths later releases implement. Each answers 501
// not_implemented, on any method, until Deps supplies a route for its path.
var placeholders = map[Listener][]string{
	Vehicle: {"/v1/vehicle/session", "/v1/vehicle/telemetry", "/v1/pki/enroll", "/v1/pki/renew"},
	TMS:     {"/v1/vehicles", "/v1/tenders"},
	Ops:     {"/pki/crl", "/pki/ocsp"},
}

// buildMux registers routes, then the placeholders whose paths no route
// claims. It returns the set of registered patterns, the only values the
// route metric label takes.
func buildMux(name Listener, routes Routes) (mux *http.ServeMux, patterns map[string]bool, err error) {
	mux = http.NewServeMux()
	patterns = map[string]bool{}
	claimed := map[string]bool{}
	defer func() {
		// ServeMux panics on an invalid or conflicting pattern: a wiring
		// mistake, reported as an error rather than a crash.
		if v := recover(); v != nil {
			mux, patterns, err = nil, nil, fmt.Errorf("server: %s routes: %v", name, v)
		}
	}()
	for pattern, h := range routes {
		mux.Handle(pattern, h)
		patterns[pattern] = true
		claimed[patternPath(pattern)] = true
	}
	for _, path := range placeholders[name] {
		if !claimed[path] {
			mux.HandleFunc(path, notImplemented)
			patterns[path] = true
		}
	}
	return mux, patterns, nil
}

// patternPath returns the path of a ServeMux pattern "[METHOD ][HOST]/PATH".
func patternPath(pattern string) string {
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return pattern
}

func notImplemented(w http.ResponseWriter, r *http.Request) {
	problem.Write(w, r, problem.New(http.StatusNotImplemented, codes.NotImplemented,
		"this endpoint is not implemented in this release"))
}

// opsRoutes are the ops listener's own endpoints plus the ones Deps adds.
func (s *Server) opsRoutes(reg *prometheus.Registry, extra Routes) Routes {
	r := Routes{
		"GET /livez":   http.HandlerFunc(livez),
		"GET /readyz":  http.HandlerFunc(s.readyz),
		"GET /metrics": promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}}),
	}
	for p, h := range extra {
		r[p] = h
	}
	return r
}

// livez answers 200 while the process can serve HTTP at all.
func livez(w http.ResponseWriter, _ *http.Request) {
	plain(w, http.StatusOK, "ok\n")
}

// readyz answers 200 when the gateway can do its job: not shutting down and
// the store reachable (a ping at most readyCacheTTL old; see readiness).
// Otherwise 503 problem+json, so a load balancer sends traffic elsewhere
// (fail closed).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		problem.Write(w, r, &problem.Error{Status: http.StatusServiceUnavailable, Code: codes.ShuttingDown,
			Detail: "the gateway is shutting down"})
		return
	}
	if err := s.ready.check(r.Context()); err != nil {
		s.log.Warn("not ready: store ping failed", slog.String("request_id", RequestID(r.Context())), slog.Any("err", err))
		problem.Write(w, r, &problem.Error{Status: http.StatusServiceUnavailable, Code: codes.StoreUnavailable,
			Detail: "the store cannot be reached", Cause: err, RetryAfter: 1})
		return
	}
	plain(w, http.StatusOK, "ready\n")
}

func plain(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// slogPrinter adapts a slog.Logger to promhttp's Println logger.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Error("metrics: "+strings.TrimSpace(fmt.Sprintln(v...)), slog.String("component", "metrics"))
}
