package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// fakeStore is the one store method readiness needs; it counts pings.
type fakeStore struct {
	mu    sync.Mutex
	err   error
	pings int
}

func (f *fakeStore) Ping(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pings++
	return f.err
}

func (f *fakeStore) pinged() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pings
}

// fakeClock is a frozen clock moved only by advance.
type fakeClock struct {
	base time.Time
	off  atomic.Int64
}

func newFakeClock() *fakeClock               { return &fakeClock{base: time.Now()} }
func (c *fakeClock) Now() time.Time          { return c.base.Add(time.Duration(c.off.Load())) }
func (c *fakeClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func (f *fakeStore) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// testCert is a self-signed P-256 server certificate for 127.0.0.1.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

type harness struct {
	t      *testing.T
	srv    *Server
	addrs  Addrs
	store  *fakeStore
	events *event.MemorySink
	roots  *x509.CertPool
	logs   *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testConfig() config.Config {
	c := config.Default()
	c.DataDir = "/nonexistent"
	c.Listen = config.Listen{Vehicle: "127.0.0.1:0", TMS: "127.0.0.1:0", Ops: "127.0.0.1:0"}
	c.HTTP.MaxBodyBytes = 1024
	c.HTTP.ShutdownTimeout = 5 * time.Second
	return c
}

// start runs a server on 127.0.0.1:0 listeners until the test ends.
func start(t *testing.T, cfg config.Config, mutate func(*Deps)) *harness {
	t.Helper()
	cert, roots := testCert(t)
	h := &harness{t: t, store: &fakeStore{}, events: &event.MemorySink{}, roots: roots, logs: &syncBuffer{}}
	log := slogJSON(h.logs)
	deps := Deps{
		Log:        log,
		Store:      h.store,
		Events:     event.NewBus(log, nil, h.events),
		Registry:   prometheus.NewRegistry(),
		VehicleTLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		TMSTLS:     &tls.Config{Certificates: []tls.Certificate{cert}},
		Build:      BuildInfo{Version: "v1.2.3", Commit: "abc", GoVersion: "go1.26"},
	}
	if mutate != nil {
		mutate(&deps)
	}
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	h.srv, h.addrs = srv, srv.Addrs()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return h
}

func (h *harness) client() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: h.roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
		},
	}
}

func (h *harness) url(l Listener, path string) string {
	switch l {
	case Vehicle:
		return "https://" + h.addrs.Vehicle + path
	case TMS:
		return "https://" + h.addrs.TMS + path
	}
	return "http://" + h.addrs.Ops + path
}

func (h *harness) do(req *http.Request) (*http.Response, []byte) {
	h.t.Helper()
	resp, err := h.client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp, body
}

func (h *harness) get(l Listener, path string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.url(l, path), nil)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.do(req)
}

// wantProblem checks an RFC 9457 answer with the given status and code.
func wantProblem(t *testing.T, resp *http.Response, body []byte, status int, code string) problem.Body {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q, want %q", ct, problem.ContentType)
	}
	var p problem.Body
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	if p.Code != code || p.Status != status || p.Type != problem.TypeBase+code {
		t.Fatalf("problem %+v, want status %d code %q", p, status, code)
	}
	return p
}

func TestEveryServerSetsTimeoutsAndHeaderLimit(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.ReadHeaderTimeout = 3 * time.Second
	cfg.HTTP.ReadTimeout = 11 * time.Second
	cfg.HTTP.WriteTimeout = 12 * time.Second
	cfg.HTTP.IdleTimeout = 13 * time.Second
	cfg.HTTP.MaxHeaderBytes = 8 << 10
	cert, _ := testCert(t)
	srv, err := New(cfg, Deps{Store: &fakeStore{}, Events: event.NewBus(nil, nil), Registry: prometheus.NewRegistry(),
		VehicleTLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TMSTLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(srv.listeners) != 3 {
		t.Fatalf("%d listeners", len(srv.listeners))
	}
	for _, l := range srv.listeners {
		s := l.srv
		if s.ReadHeaderTimeout != 3*time.Second || s.ReadTimeout != 11*time.Second ||
			s.WriteTimeout != 12*time.Second || s.IdleTimeout != 13*time.Second || s.MaxHeaderBytes != 8<<10 {
			t.Errorf("%s: timeouts/limits not from config: %+v", l.name, s)
		}
		if l.name != Ops && (s.TLSConfig == nil || s.TLSConfig.MinVersion != tls.VersionTLS13) {
			t.Errorf("%s: TLS config %+v, want MinVersion TLS 1.3", l.name, s.TLSConfig)
		}
	}
}

func TestNewRefusesIncompleteDeps(t *testing.T) {
	cert, _ := testCert(t)
	good := func() Deps {
		return Deps{Store: &fakeStore{}, Events: event.NewBus(nil, nil), Registry: prometheus.NewRegistry(),
			VehicleTLS: &tls.Config{Certificates: []tls.Certificate{cert}}, TMSTLS: &tls.Config{Certificates: []tls.Certificate{cert}}}
	}
	tests := []struct {
		name   string
		mutate func(*Deps)
	}{
		{"no store", func(d *Deps) { d.Store = nil }},
		{"no events", func(d *Deps) { d.Events = nil }},
		{"no registry", func(d *Deps) { d.Registry = nil }},
		{"no vehicle TLS", func(d *Deps) { d.VehicleTLS = nil }},
		{"TLS without certificate", func(d *Deps) { d.TMSTLS = &tls.Config{} }},
		{"conflicting routes", func(d *Deps) {
			h := http.NotFoundHandler()
			d.TMSRoutes = Routes{"GET /v1/x/{id}": h, "GET /v1/x/{name}": h}
		}},
		{"invalid pattern", func(d *Deps) { d.OpsRoutes = Routes{"GET": http.NotFoundHandler()} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good()
			tt.mutate(&d)
			if _, err := New(testConfig(), d); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
	if _, err := New(config.Default(), good()); err == nil {
		t.Fatal("New accepted an invalid configuration")
	}
}

func TestTLS12ClientRefused(t *testing.T) {
	h := start(t, testConfig(), func(d *Deps) {
		// Even a TLS config that allows 1.2 is raised to 1.3.
		d.VehicleTLS.MinVersion = tls.VersionTLS12
	})
	for _, addr := range []string{h.addrs.Vehicle, h.addrs.TMS} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: h.roots, MaxVersion: tls.VersionTLS12})
		if err == nil {
			conn.Close()
			t.Fatalf("%s: TLS 1.2 handshake succeeded", addr)
		}
		conn, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: h.roots})
		if err != nil {
			t.Fatalf("%s: TLS 1.3 handshake: %v", addr, err)
		}
		if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
			t.Fatalf("%s: negotiated %x", addr, v)
		}
		conn.Close()
	}
}

func TestUnknownRouteIs404Problem(t *testing.T) {
	h := start(t, testConfig(), nil)
	for _, l := range []Listener{Vehicle, TMS, Ops} {
		resp, body := h.get(l, "/no/such/thing")
		p := wantProblem(t, resp, body, http.StatusNotFound, codes.NotFound)
		if p.Instance != "/no/such/thing" {
			t.Fatalf("instance %q", p.Instance)
		}
		if resp.Header.Get(HeaderRequestID) == "" {
			t.Fatal("no request id on a 404")
		}
	}
}

func TestWrongMethodIs405Problem(t *testing.T) {
	h := start(t, testConfig(), nil)
	req, _ := http.NewRequest(http.MethodPost, h.url(Ops, "/livez"), nil)
	resp, body := h.do(req)
	wantProblem(t, resp, body, http.StatusMethodNotAllowed, codes.MethodNotAllowed)
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Fatalf("Allow %q", allow)
	}
}

func TestPlaceholdersAre501Problem(t *testing.T) {
	h := start(t, testConfig(), nil)
	for l, paths := range placeholders {
		for _, p := range paths {
			req, _ := http.NewRequest(http.MethodPost, h.url(l, p), strings.NewReader("{}"))
			resp, body := h.do(req)
			wantProblem(t, resp, body, http.StatusNotImplemented, codes.NotImplemented)
		}
	}
}

func TestDepsRouteReplacesPlaceholder(t *testing.T) {
	h := start(t, testConfig(), func(d *Deps) {
		d.TMSRoutes = Routes{"GET /v1/tenders": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "tenders")
		})}
	})
	resp, body := h.get(TMS, "/v1/tenders")
	if resp.StatusCode != http.StatusOK || string(body) != "tenders" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url(TMS, "/v1/tenders"), nil)
	resp, body = h.do(req)
	wantProblem(t, resp, body, http.StatusMethodNotAllowed, codes.MethodNotAllowed)
	// The other placeholder stays.
	resp, body = h.get(TMS, "/v1/vehicles")
	wantProblem(t, resp, body, http.StatusNotImplemented, codes.NotImplemented)
}

func echoRoutes() Routes {
	return Routes{"POST /v1/echo": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			// A careless handler: it answers 400 after the limit tripped.
			http.Error(w, "read failed", http.StatusBadRequest)
			return
		}
		_, _ = w.Write(b)
	})}
}

func TestOversizeBodyIs413ProblemAndEvent(t *testing.T) {
	h := start(t, testConfig(), func(d *Deps) { d.VehicleRoutes = echoRoutes() })
	small := strings.Repeat("a", 1024)
	req, _ := http.NewRequest(http.MethodPost, h.url(Vehicle, "/v1/echo"), strings.NewReader(small))
	resp, body := h.do(req)
	if resp.StatusCode != http.StatusOK || string(body) != small {
		t.Fatalf("body at the limit: %d", resp.StatusCode)
	}

	tests := []struct {
		name string
		body io.Reader
		path string
	}{
		// Content-Length declared over the limit: refused before reading.
		{"declared length", strings.NewReader(small + "b"), "/v1/echo"},
		// Chunked, no length: refused while reading, whatever the handler does.
		{"chunked stream", io.MultiReader(strings.NewReader(small), strings.NewReader(small)), "/v1/echo"},
		// Placeholders and unknown routes are covered too.
		{"unknown route", strings.NewReader(small + small), "/nowhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(h.events.ByCode(codes.BodyTooLarge))
			req, _ := http.NewRequest(http.MethodPost, h.url(Vehicle, tt.path), tt.body)
			req.Header.Set(HeaderRequestID, "req-"+strings.ReplaceAll(tt.name, " ", "-"))
			resp, body := h.do(req)
			wantProblem(t, resp, body, http.StatusRequestEntityTooLarge, codes.BodyTooLarge)
			evs := h.events.ByCode(codes.BodyTooLarge)
			if len(evs) != before+1 {
				t.Fatalf("%d body_too_large events, want %d", len(evs), before+1)
			}
			ev := evs[len(evs)-1]
			if ev.Class != event.ClassAPI || ev.Verdict != event.Reject || ev.CorrelationID != req.Header.Get(HeaderRequestID) {
				t.Fatalf("event %+v", ev)
			}
			if ev.Attrs["listener"] != "vehicle" || ev.Attrs["limit_bytes"] != int64(1024) {
				t.Fatalf("event attrs %v", ev.Attrs)
			}
		})
	}
}

func TestPanicRecovered(t *testing.T) {
	h := start(t, testConfig(), func(d *Deps) {
		d.TMSRoutes = Routes{
			"GET /boom": http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret-internal-detail") }),
			"GET /late": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "partial")
				panic("after the headers")
			}),
		}
	})
	resp, body := h.get(TMS, "/boom")
	p := wantProblem(t, resp, body, http.StatusInternalServerError, codes.Internal)
	if strings.Contains(string(body), "secret-internal-detail") || p.Detail != "" {
		t.Fatalf("panic value reached the client: %s", body)
	}
	if !strings.Contains(h.logs.String(), "secret-internal-detail") {
		t.Fatal("panic not logged")
	}
	// A panic after the response began aborts that connection only.
	req, _ := http.NewRequest(http.MethodGet, h.url(TMS, "/late"), nil)
	if resp, err := h.client().Do(req); err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatal("a response cut by a panic looked complete")
		}
	}
	// The process and the listener are still serving.
	resp, body = h.get(Ops, "/livez")
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("livez after panic: %d %q", resp.StatusCode, body)
	}
}

func TestReadyz(t *testing.T) {
	clock := newFakeClock()
	h := start(t, testConfig(), func(d *Deps) { d.Now = clock.Now })
	resp, body := h.get(Ops, "/readyz")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ready store: %d %s", resp.StatusCode, body)
	}
	h.store.fail(errors.New("dial tcp 10.1.2.3:5432: connection refused"))
	clock.advance(readyCacheTTL) // the cached answer expires
	resp, body = h.get(Ops, "/readyz")
	p := wantProblem(t, resp, body, http.StatusServiceUnavailable, codes.StoreUnavailable)
	if strings.Contains(p.Detail, "10.1.2.3") {
		t.Fatalf("internal cause reached the client: %s", body)
	}
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	resp, _ = h.get(Ops, "/livez")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("livez depends on the store: %d", resp.StatusCode)
	}
}

func TestRequestID(t *testing.T) {
	seen := make(chan string, 1)
	h := start(t, testConfig(), func(d *Deps) {
		d.VehicleRoutes = Routes{"GET /id": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen <- RequestID(r.Context())
		})}
	})
	tests := []struct {
		name, sent string
		kept       bool
	}{
		{"safe id is kept", "tms-7f3a.42_x:1", true},
		{"header injection attempt", "abc\r\nX-Evil: 1", false},
		{"log forging attempt", `x","level":"ERROR`, false},
		{"oversize id", strings.Repeat("a", maxRequestIDLen+1), false},
		{"missing", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.url(Vehicle, "/id"), nil)
			if tt.sent != "" {
				req.Header[HeaderRequestID] = []string{tt.sent}
			}
			resp, err := h.client().Do(req)
			if err != nil {
				if !tt.kept {
					return // the client library refused to send it: fine too
				}
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Get(HeaderRequestID)
			if handlerSaw := <-seen; got != handlerSaw {
				t.Fatalf("response id %q, handler saw %q", got, handlerSaw)
			}
			if (got == tt.sent) != tt.kept || !validRequestID(got) {
				t.Fatalf("sent %q, got %q", tt.sent, got)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	h := start(t, testConfig(), nil)
	h.get(Ops, "/livez")
	h.get(Vehicle, "/random/path/1")
	h.get(Vehicle, "/random/path/2")
	resp, body := h.get(Ops, "/metrics")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics: %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`fifthwheel_http_requests_total{code="200",listener="ops",route="GET /livez"} 1`,
		`fifthwheel_http_requests_total{code="404",listener="vehicle",route="unmatched"} 2`,
		`fifthwheel_build_info{commit="abc",goversion="go1.26",version="v1.2.3"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "/random/path") {
		t.Error("a client-chosen path became a label value")
	}
}

func TestEventStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	st, err := NewEventStats(reg)
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(nil, st, &event.MemorySink{})
	_ = bus.Emit(context.Background(), event.Event{Class: event.ClassSystem, Code: "x"},
		event.Event{Class: event.ClassAPI, Verdict: event.Reject, Code: "y"})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	if got["fifthwheel_events_total,class=system,verdict=info"] != 1 || got["fifthwheel_events_total,class=api,verdict=reject"] != 1 {
		t.Fatalf("event counts %v", got)
	}
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	h := start(t, testConfig(), func(d *Deps) {
		d.TMSRoutes = Routes{"GET /slow": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
			_, _ = io.WriteString(w, "finished")
		})}
	})
	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := h.client().Get(h.url(TMS, "/slow"))
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	h.cancel()
	// Shutdown has begun: new connections to the TMS listener are refused,
	// and the ops listener, still up while requests drain, reports not ready.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", h.addrs.TMS, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("TMS listener still accepting after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, body := h.get(Ops, "/readyz")
	wantProblem(t, resp, body, http.StatusServiceUnavailable, codes.ShuttingDown)
	select {
	case err := <-h.done:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	if err := <-h.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	h.done <- nil // for the cleanup
}

func TestSlowHeadersAreCut(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.ReadHeaderTimeout = 200 * time.Millisecond
	h := start(t, cfg, nil)
	conn, err := net.Dial("tcp", h.addrs.Ops)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A slowloris sends a request line and then nothing.
	if _, err := io.WriteString(conn, "GET /livez HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n')
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept a connection with unfinished headers open")
	}
}

func slogJSON(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestDrainTimeoutClosesStragglers(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.ShutdownTimeout = 200 * time.Millisecond
	entered := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	h := start(t, cfg, func(d *Deps) {
		d.VehicleRoutes = Routes{"GET /stuck": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			close(entered)
			<-release
		})}
	})
	clientErr := make(chan error, 1)
	go func() {
		resp, err := h.client().Get(h.url(Vehicle, "/stuck"))
		if err == nil {
			resp.Body.Close()
		}
		clientErr <- err
	}()
	<-entered
	began := time.Now()
	h.cancel()
	if err := <-h.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	h.done <- nil // for the cleanup
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("shutdown took %v with a 200ms drain timeout", took)
	}
	if err := <-clientErr; err == nil {
		t.Fatal("the straggler got a response")
	}
	if !strings.Contains(h.logs.String(), "drain did not finish in time") {
		t.Fatal("forced close not logged")
	}
}
