package siem_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/siem"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// receiver is a SIEM's webhook endpoint: it verifies every request with
// package webhook's Verify and keeps the event ids it accepted, in order.
type receiver struct {
	mu       sync.Mutex
	failNext int  // answer 503 to this many requests
	down     bool // answer 503 to every request
	ids      []string
	requests int
	badSig   int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if _, err := webhook.Verify(secret, req.Header, body, time.Now()); err != nil {
		r.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if r.down || r.failNext > 0 {
		r.failNext--
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	var b siem.Body
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	for _, raw := range b.Events {
		var ev struct {
			Metadata struct {
				UID string `json:"uid"`
			} `json:"metadata"`
			Unmapped struct {
				Code string `json:"code"`
			} `json:"unmapped"`
		}
		_ = json.Unmarshal(raw, &ev)
		r.ids = append(r.ids, ev.Metadata.UID)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ids)
}

func (r *receiver) set(f func(r *receiver)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

// distinctInOrder returns the ids without repeats, and whether the first
// occurrences kept the order of want.
func distinct(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func appendEvents(t *testing.T, st store.Store, prefix string, from, n int) []string {
	t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		ev := event.Event{ID: fmt.Sprintf("%s-%04d", prefix, i), Time: time.Now().UTC(), Class: event.ClassTelemetry, Activity: "frame",
			Severity: codes.SeverityHigh, Verdict: event.Reject, Code: codes.Replay, Resource: "urn:fifthwheel:vehicle:t1"}
		row, err := event.Row(ev)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AppendEvents(ctx, []store.EventRow{row}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tlsReceiver starts r on a TLS server with a certificate from its own
// CA, and returns the client TLS configuration that trusts that CA.
func tlsReceiver(t *testing.T, r http.Handler) (*httptest.Server, *tls.Config) {
	ca := newTestCA(t)
	srv := httptest.NewUnstartedServer(r)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.server}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &tls.Config{RootCAs: ca.pool}
}

func fastRun(holder string) siem.RunConfig {
	return siem.RunConfig{Holder: holder, Poll: 10 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}
}

// TestWebhookFailsThenRecovers: the receiver answers 503 for a while;
// every event arrives, in order, each batch signed.
func TestWebhookFailsThenRecovers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		rcv := &receiver{failNext: 4}
		srv, tc := tlsReceiver(t, rcv)
		bus := event.NewBus(nil, nil, event.NewStoreSink(st))
		w, err := siem.NewWebhook(siem.WebhookConfig{URL: srv.URL, Secret: secret, TLS: tc, Batch: 7, MaxAttempts: 100},
			siem.WebhookDeps{Store: st, Events: bus})
		if err != nil {
			t.Fatal(err)
		}
		want := appendEvents(t, st, "a", 0, 20)
		runCtx, cancel := contextWithCancel()
		done := make(chan struct{})
		go func() { siem.Run(runCtx, st, fastRun("h1"), w); close(done) }()
		waitFor(t, "the first events", func() bool { return len(distinct(rcv.got())) >= 10 })
		rcv.set(func(r *receiver) { r.failNext = 3 })
		want = append(want, appendEvents(t, st, "b", 0, 15)...)
		waitFor(t, "every event", func() bool { return len(distinct(rcv.got())) >= len(want) })
		// The cursor moves just after the receiver answered: stop once it
		// has (as serve's Stop drains), so the restart below starts after.
		waitFor(t, "the cursor", func() bool { return cursorOf(st, "sink:webhook") >= store.StreamPos(len(want)) })
		cancel()
		<-done
		if got := distinct(rcv.got()); !slices.Equal(got, want) {
			t.Fatalf("received %v\nwant     %v", got, want)
		}
		if got := rcv.got(); !slices.Equal(got, want) {
			t.Errorf("events repeated although every failure was a clean 503: %v", got)
		}
		if rcv.badSig != 0 {
			t.Errorf("%d requests failed the signature check", rcv.badSig)
		}
		// After a restart the sink resumes from its cursor: nothing again.
		more := appendEvents(t, st, "c", 0, 3)
		runCtx, cancel = contextWithCancel()
		done = make(chan struct{})
		go func() { siem.Run(runCtx, st, fastRun("h2"), w); close(done) }()
		want = append(want, more...)
		waitFor(t, "the events after the restart", func() bool { return len(distinct(rcv.got())) >= len(want) })
		cancel()
		<-done
		if got := rcv.got(); !slices.Equal(got, want) {
			t.Fatalf("after a restart: %v\nwant %v", got, want)
		}
	})
}

// TestWebhookDeadLetter: a batch the receiver refuses MaxAttempts times is
// stored as a dead letter (both engines), recorded by one event, and the
// sink moves on to the next events.
func TestWebhookDeadLetter(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		rcv := &receiver{down: true}
		srv, tc := tlsReceiver(t, rcv)
		bus := event.NewBus(nil, nil, event.NewStoreSink(st))
		w, err := siem.NewWebhook(siem.WebhookConfig{URL: srv.URL, Secret: secret, TLS: tc, Batch: 5, MaxAttempts: 3},
			siem.WebhookDeps{Store: st, Events: bus})
		if err != nil {
			t.Fatal(err)
		}
		lost := appendEvents(t, st, "lost", 0, 5)
		runCtx, cancel := contextWithCancel()
		done := make(chan struct{})
		go func() { siem.Run(runCtx, st, fastRun("h1"), w); close(done) }()
		var dls []store.SIEMDeadLetter
		waitFor(t, "the dead letter", func() bool {
			dls, _ = st.SIEMDeadLetters(ctx, "sink:webhook", 0, 0)
			return len(dls) >= 1
		})
		rcv.set(func(r *receiver) { r.down = false })
		after := appendEvents(t, st, "after", 0, 4)
		waitFor(t, "the events after the dead letter", func() bool {
			got := rcv.got()
			return len(got) > 0 && slices.Contains(got, after[len(after)-1])
		})
		cancel()
		<-done
		d := dls[0]
		if d.FirstEvent != lost[0] || d.LastEvent != lost[4] || d.Count != 5 || d.Attempts != 3 || d.LastError == "" {
			t.Fatalf("dead letter %+v", d)
		}
		var body siem.Body
		if err := json.Unmarshal(d.Body, &body); err != nil || len(body.Events) != 5 {
			t.Fatalf("dead letter body: %v %d", err, len(body.Events))
		}
		evs, err := st.ListEvents(ctx, store.EventFilter{Code: codes.SIEMDeadLettered})
		if err != nil || len(evs) != 1 {
			t.Fatalf("%d siem_dead_lettered events, want 1 (%v)", len(evs), err)
		}
		got := rcv.got()
		for _, id := range lost {
			if slices.Contains(got, id) {
				t.Errorf("dead-lettered event %s was delivered", id)
			}
		}
		// The sink went on: the dead letter's own event and the later
		// events arrived, in stream order.
		wantAfter := append([]string{evs[0].ID}, after...)
		if !slices.Equal(distinct(got), wantAfter) {
			t.Fatalf("after the dead letter: %v, want %v", distinct(got), wantAfter)
		}
	})
}

// TestAttackWebhookImpostorReceiver: a server whose certificate does not
// chain to the configured CA (a DNS or routing hijack of the SIEM's
// address) gets nothing.
func TestAttackWebhookImpostorReceiver(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	rcv := &receiver{}
	srv, _ := tlsReceiver(t, rcv)
	_, otherCA := tlsReceiver(t, &receiver{}) // trusts another server's certificate only
	bus := event.NewBus(nil, nil, event.NewStoreSink(st))
	w, err := siem.NewWebhook(siem.WebhookConfig{URL: srv.URL, Secret: secret, TLS: otherCA, MaxAttempts: 1000},
		siem.WebhookDeps{Store: st, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, "x", 0, 3)
	var mu sync.Mutex
	var errs []error
	runCtx, cancel := contextWithCancel()
	cfg := fastRun("h1")
	cfg.OnError = func(_ string, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	done := make(chan struct{})
	go func() { siem.Run(runCtx, st, cfg, w); close(done) }()
	waitFor(t, "a refused handshake", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) >= 2 })
	cancel()
	<-done
	rcv.set(func(r *receiver) {
		if r.requests != 0 {
			t.Fatalf("the impostor received %d requests", r.requests)
		}
	})
}

// TestAttackWebhookRedirect: a receiver answering with a redirect (to an
// internal address, say) is a failure; the redirect is not followed.
func TestAttackWebhookRedirect(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	target := &receiver{}
	tsrv, tc := tlsReceiver(t, target)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, tsrv.URL, http.StatusTemporaryRedirect)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: tsrv.TLS.Certificates} // the same certificate: trusted by the same pool
	srv.StartTLS()
	defer srv.Close()
	bus := event.NewBus(nil, nil, event.NewStoreSink(st))
	w, err := siem.NewWebhook(siem.WebhookConfig{URL: srv.URL, Secret: secret, TLS: tc, MaxAttempts: 1000},
		siem.WebhookDeps{Store: st, Events: bus})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, "x", 0, 2)
	var mu sync.Mutex
	var errs []error
	runCtx, cancel := contextWithCancel()
	cfg := fastRun("h1")
	cfg.OnError = func(_ string, err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	done := make(chan struct{})
	go func() { siem.Run(runCtx, st, cfg, w); close(done) }()
	waitFor(t, "a failed attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(errs) >= 2 })
	cancel()
	<-done
	target.set(func(r *receiver) {
		if r.requests != 0 {
			t.Fatalf("the redirect was followed: the target received %d requests", r.requests)
		}
	})
}

func cursorOf(st store.Store, name string) store.StreamPos {
	cs, _ := st.StreamConsumers(ctx)
	for _, c := range cs {
		if c.Name == name {
			return c.Pos
		}
	}
	return 0
}
