package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/agent"
	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/enroll"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest/forge"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// The unauthenticated event flood (issue 15, item 2), and its bounds.
const (
	// floodFor is how long the attacking source sends, as fast as it can.
	floodFor = 10 * time.Second
	// floodSource is the attacker's loopback address; the truck connects
	// from 127.0.0.1.
	floodSource = "127.0.0.2"
	// floodEventBudget bounds what the flood may add to the events file
	// and the store's events table together (row bytes: the body and the
	// indexed columns). With aggregation each kind of refusal from the
	// source costs at most event.AggregateIndividually events and one
	// summary per 10 s window, at most ~1 KB each (attributes bounded): the
	// ~6 kinds this flood makes, over two windows, in both the file and
	// the table, come to ~120 KB at most (~30 KB measured). Before the
	// defence the same flood added several MB: one event per forged
	// handshake (~62 KB each with every SAN copied) and per request.
	floodEventBudget = 256 << 10
	// The attacker's concurrency: handshakes with a forged certificate,
	// requests to a route that needs a certificate, and enrollments with
	// an unknown join token, the last two on one HTTP/2 connection.
	floodHandshakers = 4
	floodRequesters  = 8
	floodEnrollers   = 4
)

// TestAttackUnauthenticatedEventFlood: on both store engines, a gateway
// started by serve's own wiring faces one source without any credential
// sending, for floodFor and as fast as it can, (a) TLS handshakes with a
// self-signed certificate carrying 500 URI SANs, (b) HTTP/2 requests without
// a certificate to POST /v1/vehicle/telemetry and (c) enrollments with an
// unknown join token. The events file and the store's events table grow by
// at most floodEventBudget together, every refused request is refused (403,
// 401 or 429, never served), and a truck connected over the vehicle session
// from another address keeps getting its heartbeat acks: no comm_lost for
// it at the gateway, and its agent never starts the safe-state maneuver nor
// loses its session.
func TestAttackUnauthenticatedEventFlood(t *testing.T) {
	// Sequential (no t.Parallel), its engines one after the other: the flood
	// takes every core, and a neighbour's truck would miss its heartbeats.
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			g := engineGateway(t, engine)
			truck := startTruck(t, g, "truck-1", truckOptions{untilResumed: true,
				agent: agent.Config{ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}})
			fileBefore := fileSize(t, filepath.Join(g.data, "events.jsonl"))
			_, seqBefore := eventRowsAfter(t, g, 0)

			f := flood(t, g)
			t.Logf("%s: the flood made %d forged handshakes, request answers %v (%d unanswered), enrollment answers %v (%d unanswered)",
				engine, f.handshakes.Load(), f.requests.counts(), f.requests.errors.Load(), f.enrolls.counts(), f.enrolls.errors.Load())
			if f.handshakes.Load() == 0 || f.requests.total() == 0 || f.enrolls.total() == 0 {
				t.Fatal("the flood did not get through to the gateway: nothing was measured")
			}
			for code := range f.requests.counts() {
				if code != http.StatusForbidden && code != http.StatusTooManyRequests {
					t.Errorf("a request without a certificate was answered %d", code)
				}
			}
			for code := range f.enrolls.counts() {
				if code != http.StatusUnauthorized && code != http.StatusTooManyRequests {
					t.Errorf("an enrollment with an unknown token was answered %d", code)
				}
			}

			// The truck: supervised throughout, at the gateway and on board.
			time.Sleep(2 * time.Second) // a missed heartbeat would be declared by now (3 × 1 s, from the last ack)
			for _, k := range []agent.EventKind{agent.EventStopping, agent.EventSafeState, agent.EventDisconnected} {
				if evs := truck.events.find(k); len(evs) > 0 {
					t.Errorf("the truck's agent reported %s during the flood: %+v", k, evs[0])
				}
			}
			if m := truck.a.Status().Mode; m != agent.ModeDriving {
				t.Errorf("the truck is %v after the flood, want driving", m)
			}
			t.Logf("%s: the truck's agent missed %d heartbeat acks during the flood (3 in a row stop it)",
				engine, len(truck.events.find(agent.EventHeartbeatMissed)))
			for _, e := range g.events(codes.CommLost) {
				if e.Seq > seqBefore {
					t.Errorf("comm_lost during the flood: %s", e.Body)
				}
			}

			// Stopping the gateway records the last summaries; then measure.
			g.stop()
			rows, _ := eventRowsAfter(t, g, seqBefore)
			fileGrowth := fileSize(t, filepath.Join(g.data, "events.jsonl")) - fileBefore
			var rowBytes int64
			byCode := map[string]int{}
			refusals := map[string]int{} // what the rows stand for: 1 each, or a summary's count
			for _, r := range rows {
				rowBytes += int64(len(r.Body) + len(r.ID) + len(r.Class) + len(r.Verdict) + len(r.Code) + len(r.Subject) + 16)
				byCode[r.Code]++
				var ev struct {
					Attrs struct {
						Aggregated bool `json:"aggregated"`
						Count      int  `json:"count"`
					} `json:"attrs"`
				}
				if err := json.Unmarshal(r.Body, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Attrs.Aggregated {
					refusals[r.Code] += ev.Attrs.Count
				} else {
					refusals[r.Code]++
				}
			}
			t.Logf("%s: events recorded during the flood: %d rows, %d bytes in the store, %d bytes in the events file, by code %v",
				engine, len(rows), rowBytes, fileGrowth, byCode)
			if rowBytes+fileGrowth > floodEventBudget {
				t.Fatalf("the flood added %d bytes of events (store %d, file %d), want ≤ %d",
					rowBytes+fileGrowth, rowBytes, fileGrowth, floodEventBudget)
			}
			// Aggregated, not lost: the events add up to the refusals the
			// attacker saw, plus at most the requests it got no answer to.
			for _, c := range []struct {
				code   string
				counts *statusCounts
				status int
			}{{"client_certificate_required", &f.requests, http.StatusForbidden}, {"token_unknown", &f.enrolls, http.StatusUnauthorized}} {
				got, saw, unanswered := refusals[c.code], c.counts.counts()[c.status], int(c.counts.errors.Load())
				if got < saw || got > saw+unanswered {
					t.Errorf("%s events stand for %d refusals; the attacker got %d, and no answer to %d", c.code, got, saw, unanswered)
				}
			}
			if refusals["tls_unknown_authority"] == 0 {
				t.Error("the forged handshakes left no event")
			}
			t.Logf("%s: tls_unknown_authority events stand for %d refused handshakes", engine, refusals["tls_unknown_authority"])
		})
	}
}

// ---- the attacker ----

// statusCounts counts answers by status; errors counts requests that got
// none (in flight when the flood stopped, or on a connection that broke):
// the server may or may not have refused them.
type statusCounts struct {
	mu     sync.Mutex
	m      map[int]int
	errors atomic.Int64
}

func (s *statusCounts) add(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[int]int{}
	}
	s.m[code]++
}

func (s *statusCounts) counts() map[int]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[int]int{}
	for k, v := range s.m {
		out[k] = v
	}
	return out
}

func (s *statusCounts) total() (n int) {
	for _, v := range s.counts() {
		n += v
	}
	return n
}

type floodResult struct {
	handshakes atomic.Int64
	requests   statusCounts
	enrolls    statusCounts
}

// flood runs the attacking source against g for floodFor and returns what
// it did. Everything it starts has stopped when it returns.
func flood(t *testing.T, g *gateway) *floodResult {
	t.Helper()
	res := &floodResult{}
	forged := forge.SelfSignedWithSANs(t, 500)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(floodSource)}, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), floodFor)
	defer cancel()

	h2 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: g.tlsConfig(tls.Certificate{}), ForceAttemptHTTP2: true, DialContext: dialer.DialContext,
		MaxConnsPerHost: 1}}
	defer h2.CloseIdleConnections()
	enrollBody := jsonBody(t, enroll.EnrollRequest{Token: "fwjoin1_" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
		CSR: csr(t, mustP256(t), "urn:fifthwheel:vehicle:truck-x")})

	var wg sync.WaitGroup
	for range floodHandshakers {
		wg.Go(func() {
			tc := g.tlsConfig(forged)
			for ctx.Err() == nil {
				conn, err := tls.DialWithDialer(dialer, "tcp", g.addrs.Vehicle, tc)
				if err != nil {
					continue
				}
				res.handshakes.Add(1)
				// TLS 1.3: the refusal arrives after the client's
				// handshake; read it so the server has processed ours.
				_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, _ = conn.Read(make([]byte, 1))
				conn.Close()
			}
		})
	}
	post := func(path string, body []byte, into *statusCounts) {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+g.addrs.Vehicle+path, strings.NewReader(string(body)))
			req.Header.Set("Content-Type", "application/json")
			resp, err := h2.Do(req)
			if err != nil {
				into.errors.Add(1) // the flood's own end, or a connection the server closed
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			into.add(resp.StatusCode)
		}
	}
	for range floodRequesters {
		wg.Go(func() { post("/v1/vehicle/telemetry", []byte(`{"frames":[]}`), &res.requests) })
	}
	for range floodEnrollers {
		wg.Go(func() { post("/v1/pki/enroll", enrollBody, &res.enrolls) })
	}
	wg.Wait()
	return res
}

func mustP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ---- measuring ----

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// eventRowsAfter returns every event row of g's store after seq, and the
// last seq.
func eventRowsAfter(t *testing.T, g *gateway, seq int64) ([]store.EventRow, int64) {
	t.Helper()
	st, err := store.Open(context.Background(), g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out []store.EventRow
	for {
		page, err := st.ListEvents(context.Background(), store.EventFilter{AfterSeq: seq, Limit: store.MaxPage})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out, seq
		}
		out = append(out, page...)
		seq = page[len(page)-1].Seq
	}
}
