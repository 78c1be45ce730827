package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/internal/event"
)

// BenchmarkMiddleware measures what every request pays before its handler:
// request id, route lookup, metrics, panic guard and body limit, on a small
// POST whose body the handler reads.
func BenchmarkMiddleware(b *testing.B) {
	cfg := testConfig()
	m, err := newHTTPMetrics(prometheus.NewRegistry(), BuildInfo{})
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{cfg: cfg, log: slogJSON(io.Discard), ready: &readiness{store: &fakeStore{}, now: time.Now}, events: event.NewBus(nil, nil), metrics: m}
	h, err := s.handler(Vehicle, Routes{"POST /v1/echo": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}, nil)
	if err != nil {
		b.Fatal(err)
	}
	body := strings.Repeat("x", 580) // about one telemetry frame
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/echo", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d", w.Code)
		}
	}
}
