package server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
)

// fromSource is an HTTP/2 client without a client certificate whose
// connections come from the loopback address src (127.0.0.0/8).
func (h *harness) fromSource(src string, c *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: h.roots}
	if c != nil {
		tc.Certificates = []tls.Certificate{*c}
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true,
		DialContext: d.DialContext, MaxConnsPerHost: 1}}
}

// TestAttackUnauthenticatedRequestFlood: one source without a client
// certificate sends requests as fast as it can on one connection. Past
// tls.unauthenticated_burst its requests answer 429 rate_limited
// (problem+json, Retry-After), on the anonymous route and elsewhere alike;
// another source and a client with a certificate are not limited; and with
// the gateway's aggregator in front of the bus the flood records a fixed
// number of events, whose counts add up to what was sent.
func TestAttackUnauthenticatedRequestFlood(t *testing.T) {
	const rate, burst, flood = 1, 5, 60
	cfg := testConfig()
	cfg.TLS.UnauthenticatedRequestsPerSecond, cfg.TLS.UnauthenticatedBurst = rate, burst
	ca := newClientCA(t)
	fa := &fakeAdmission{}
	var agg *event.Aggregator
	h := start(t, cfg, func(d *Deps) {
		for _, c := range []*tls.Config{d.VehicleTLS, d.TMSTLS} {
			c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.pool
		}
		ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
		d.VehicleRoutes = Routes{"POST /v1/echo": ok, "POST /v1/anon": ok}
		d.Admission = fa.admission(map[Listener][]string{Vehicle: {"POST /v1/anon"}}, 5*time.Second)
		var err error
		agg, err = event.NewAggregator(d.Events, event.AggregatorConfig{Window: time.Minute}, event.AggregatorDeps{Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		d.Events = agg
	})

	attacker := h.fromSource("127.0.0.2", nil)
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	began := time.Now()
	for i := range flood {
		wg.Go(func() {
			path := "/v1/echo"
			if i%2 == 0 {
				path = "/v1/anon"
			}
			resp, err := attacker.Post(h.url(Vehicle, path), "text/plain", nil)
			if err != nil {
				t.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests {
				wantProblem(t, resp, body, http.StatusTooManyRequests, codes.RateLimited)
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	// What the bucket allows: the burst, and rate per second the flood ran.
	allowed := burst + rate*int(time.Since(began)/time.Second+1)
	t.Logf("answers to %d requests from one source: %v (allowed at most %d)", flood, statuses, allowed)
	if served := statuses[http.StatusOK] + statuses[http.StatusForbidden]; served > allowed ||
		served+statuses[http.StatusTooManyRequests] != flood {
		t.Fatalf("answers %v: the source was not limited to %d requests", statuses, allowed)
	}

	// Another source, and a client with a certificate from the limited
	// source, are served.
	resp, err := h.fromSource("127.0.0.3", nil).Post(h.url(Vehicle, "/v1/anon"), "text/plain", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("another source: %v %v", resp, err)
	}
	resp.Body.Close()
	truck := ca.issue(t, "truck-1")
	for range 2 * burst {
		resp, err := h.fromSource("127.0.0.2", &truck).Post(h.url(Vehicle, "/v1/echo"), "text/plain", nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("a client with a certificate from the flooding source: %v %v", resp, err)
		}
		resp.Body.Close()
	}

	// Recorded so far: a fixed number of events per kind, whatever the
	// flood's size; the summaries on Close make the counts exact.
	for _, code := range []string{codes.RateLimited, codes.ClientCertificateRequired, codes.TLSAnonymous} {
		if n := len(h.events.ByCode(code)); n > 2*event.AggregateIndividually {
			t.Errorf("%d %s events recorded during the flood, want ≤ %d", n, code, 2*event.AggregateIndividually)
		}
	}
	if err := agg.Close(); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, ev := range h.events.ByCode(codes.RateLimited) {
		if ev.Source != "127.0.0.2" || ev.Resource != "vehicle:POST /v1/echo" && ev.Resource != "vehicle:POST /v1/anon" {
			t.Fatalf("rate_limited event %+v", ev)
		}
		if ev.Attrs["aggregated"] == true {
			sum += ev.Attrs["count"].(int)
		} else {
			sum++
		}
	}
	if sum != statuses[http.StatusTooManyRequests] {
		t.Fatalf("rate_limited events add up to %d, %d requests were refused", sum, statuses[http.StatusTooManyRequests])
	}
}

// A request's method and path reach an event bounded.
func TestUnauthenticatedRefusalBoundsWhatItCopies(t *testing.T) {
	ca := newClientCA(t)
	h := admitted(t, ca, &fakeAdmission{}, map[Listener][]string{Vehicle: {"POST /v1/anon"}}, 5*time.Second)
	req, _ := http.NewRequestWithContext(context.Background(), strings.Repeat("X", 4000), h.url(Vehicle, "/"+strings.Repeat("p", 4000)), nil)
	resp, err := h.mtlsClient(nil).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantProblem(t, resp, body, http.StatusForbidden, codes.ClientCertificateRequired)
	evs := h.events.ByCode(codes.ClientCertificateRequired)
	if len(evs) != 1 || evs[0].Source != "127.0.0.1" || len(evs[0].Attrs["method"].(string)) > event.MaxAttrValueBytes ||
		len(evs[0].Attrs["path"].(string)) > event.MaxAttrValueBytes {
		t.Fatalf("events %+v", evs)
	}
}
