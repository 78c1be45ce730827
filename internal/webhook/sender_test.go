package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

var (
	ctx    = context.Background()
	t0     = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	secret = []byte("0123456789abcdef0123456789abcdef-webhook")
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// endpoints is a fixed client → endpoint map.
type endpoints map[string]webhook.Endpoint

func (e endpoints) Endpoint(_ context.Context, client string) (webhook.Endpoint, error) {
	ep, ok := e[client]
	if !ok {
		return webhook.Endpoint{}, webhook.ErrNoEndpoint
	}
	return ep, nil
}

// events records the events emitted.
type events struct {
	mu  sync.Mutex
	evs []event.Event
}

func (e *events) Emit(_ context.Context, evs ...event.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, evs...)
	return nil
}

func (e *events) codes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		out = append(out, ev.Code)
	}
	return out
}

func (e *events) last() event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.evs[len(e.evs)-1]
}

// received is one request a receiver got.
type received struct {
	header http.Header
	body   []byte
}

// receiver is an httptest TLS server answering with status(n) to its n-th
// request (from 1) and recording every request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{status: status}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{req.Header.Clone(), body})
		n := len(r.got)
		r.mu.Unlock()
		w.WriteHeader(r.status(n))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

func always(code int) func(int) int { return func(int) int { return code } }

// newSender returns a Sender trusting srv, allowed to dial loopback, with
// a manual clock at t0.
func newSender(t *testing.T, st store.Store, eps endpoints, srv *httptest.Server, cfg webhook.Config) (*webhook.Sender, *clock, *events) {
	t.Helper()
	clk := &clock{now: t0}
	evs := &events{}
	cfg.AllowPrivate = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	s, err := webhook.NewSender(cfg, webhook.Deps{Outbox: st, Endpoints: eps, Events: evs, Now: clk.Now, RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk, evs
}

func enqueue(t *testing.T, st store.Store, client, body string, at time.Time) int64 {
	t.Helper()
	id, err := st.EnqueueWebhook(ctx, store.WebhookMessage{Client: client, EventType: "command.transition", Body: []byte(body), NextAttemptAt: at, CreatedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// independentVerify is the receiver's recipe written from the
// documentation without package webhook's code.
func independentVerify(key []byte, h http.Header, body []byte, now time.Time) bool {
	id, ts, sig := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	var sec int64
	if _, err := fmt.Sscanf(ts, "%d", &sec); err != nil || fmt.Sprint(sec) != ts {
		return false
	}
	if d := now.Unix() - sec; d > 300 || d < -300 {
		return false
	}
	m := hmac.New(sha256.New, key)
	io.WriteString(m, id+"."+ts+".")
	m.Write(body)
	want := "v1=" + hex.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(sig), []byte(want))
}

func TestSenderSignsAndDelivers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		rcv := newReceiver(t, always(http.StatusNoContent))
		s, clk, evs := newSender(t, st, endpoints{"acme": {URL: rcv.URL + "/hook", Secret: secret}}, rcv.Server, webhook.Config{})
		body := `{"type":"command.transition","command":{"id":"c1","state":"queued"}}`
		id := enqueue(t, st, "acme", body, t0)
		if n, err := s.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("RunOnce: %d, %v", n, err)
		}
		got := rcv.requests()
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		r := got[0]
		if string(r.body) != body || r.header.Get("Webhook-Id") != fmt.Sprint(id) ||
			r.header.Get("Webhook-Timestamp") != fmt.Sprint(t0.Unix()) || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("request: %v %q", r.header, r.body)
		}
		if !independentVerify(secret, r.header, r.body, clk.Now()) {
			t.Fatalf("the signature does not verify independently: %v", r.header)
		}
		if gotID, err := webhook.Verify(secret, r.header, r.body, clk.Now()); err != nil || gotID != fmt.Sprint(id) {
			t.Fatalf("Verify: %q, %v", gotID, err)
		}
		// Delivered: never sent again.
		clk.Add(48 * time.Hour)
		if n, err := s.RunOnce(ctx); err != nil || n != 0 || len(rcv.requests()) != 1 {
			t.Fatalf("a delivered message was sent again: %d, %v", n, err)
		}
		if c := evs.codes(); len(c) != 0 {
			t.Fatalf("events on a clean delivery: %v", c)
		}
	})
}

func TestSenderRetriesWithBackoffThenDelivers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		rcv := newReceiver(t, func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusOK
		})
		base := 10 * time.Second
		s, clk, evs := newSender(t, st, endpoints{"acme": {URL: rcv.URL, Secret: secret}}, rcv.Server, webhook.Config{BaseBackoff: base, MaxBackoff: time.Hour})
		enqueue(t, st, "acme", `{"n":1}`, t0)
		for attempt, wait := range []time.Duration{base, 2 * base} {
			if n, err := s.RunOnce(ctx); err != nil || n != 0 {
				t.Fatalf("attempt %d: %d, %v", attempt+1, n, err)
			}
			if c := evs.codes(); len(c) != attempt+1 || c[attempt] != codes.WebhookDeliveryFailed {
				t.Fatalf("events after attempt %d: %v", attempt+1, c)
			}
			if ev := evs.last(); ev.Attrs["reason"] != "status" || ev.Attrs["status"] != http.StatusServiceUnavailable {
				t.Fatalf("failure event: %+v", ev.Attrs)
			}
			// Not before half the back-off (the jitter's floor) ...
			clk.Add(wait/2 - time.Millisecond)
			if _, err := s.RunOnce(ctx); err != nil || len(rcv.requests()) != attempt+1 {
				t.Fatalf("retried before the back-off: %d requests, %v", len(rcv.requests()), err)
			}
			// ... and by the full back-off.
			clk.Add(wait/2 + time.Millisecond)
		}
		if n, err := s.RunOnce(ctx); err != nil || n != 1 {
			t.Fatalf("third attempt: %d, %v", n, err)
		}
		got := rcv.requests()
		if len(got) != 3 || got[0].header.Get("Webhook-Id") != got[2].header.Get("Webhook-Id") ||
			got[0].header.Get("Webhook-Timestamp") == got[2].header.Get("Webhook-Timestamp") {
			t.Fatalf("attempts must share the id and carry their own timestamp: %d requests", len(got))
		}
		for _, r := range got {
			if _, err := webhook.Verify(secret, r.header, r.body, clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestSenderDeadLettersAfterMaxAttempts(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		rcv := newReceiver(t, always(http.StatusInternalServerError))
		s, clk, evs := newSender(t, st, endpoints{"acme": {URL: rcv.URL, Secret: secret}}, rcv.Server,
			webhook.Config{MaxAttempts: 3, BaseBackoff: time.Second, MaxBackoff: time.Second})
		enqueue(t, st, "acme", `{"n":1}`, t0)
		for range 6 {
			if _, err := s.RunOnce(ctx); err != nil {
				t.Fatal(err)
			}
			clk.Add(time.Minute)
		}
		want := []string{codes.WebhookDeliveryFailed, codes.WebhookDeliveryFailed, codes.WebhookDeadLettered}
		if c := evs.codes(); fmt.Sprint(c) != fmt.Sprint(want) || len(rcv.requests()) != 3 {
			t.Fatalf("events %v after %d requests, want %v after 3", c, len(rcv.requests()), want)
		}
		// The dead letter is kept: it still exists (MarkWebhookDead finds it).
		if err := st.MarkWebhookDead(ctx, 1); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
	})
}

func TestSenderDeadLettersAfterMaxAge(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		rcv := newReceiver(t, always(http.StatusBadGateway))
		s, clk, evs := newSender(t, st, endpoints{"acme": {URL: rcv.URL, Secret: secret}}, rcv.Server,
			webhook.Config{MaxAge: time.Hour, BaseBackoff: time.Minute, MaxBackoff: time.Minute})
		enqueue(t, st, "acme", `{"n":1}`, t0)
		if _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Hour)
		if _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		clk.Add(2 * time.Hour)
		if _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		want := []string{codes.WebhookDeliveryFailed, codes.WebhookDeadLettered}
		if c := evs.codes(); fmt.Sprint(c) != fmt.Sprint(want) || len(rcv.requests()) != 2 {
			t.Fatalf("events %v after %d requests, want %v after 2", c, len(rcv.requests()), want)
		}
	})
}

// A client without a webhook (cleared after the message was enqueued):
// its message is a dead letter at once, nothing is sent.
func TestSenderDeadLettersWithoutEndpoint(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	rcv := newReceiver(t, always(http.StatusOK))
	s, _, evs := newSender(t, st, endpoints{}, rcv.Server, webhook.Config{})
	enqueue(t, st, "gone", `{}`, t0)
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if c := evs.codes(); len(c) != 1 || c[0] != codes.WebhookDeadLettered || evs.last().Attrs["reason"] != "no_webhook" {
		t.Fatalf("events: %v", c)
	}
}

// TestAttackWebhookRedirectNotFollowed: a receiver (or whoever controls
// its URL) answers with a redirect to another address, for example an
// internal one: the Sender does not follow it; the attempt fails.
func TestAttackWebhookRedirectNotFollowed(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	target := newReceiver(t, always(http.StatusOK))
	redirector := httptest.NewUnstartedServer(http.RedirectHandler(target.URL+"/internal", http.StatusTemporaryRedirect))
	redirector.TLS = target.TLS // share the test CA's certificate
	redirector.StartTLS()
	t.Cleanup(redirector.Close)
	s, _, evs := newSender(t, st, endpoints{"acme": {URL: redirector.URL, Secret: secret}}, target.Server, webhook.Config{})
	enqueue(t, st, "acme", `{}`, t0)
	if n, err := s.RunOnce(ctx); err != nil || n != 0 {
		t.Fatalf("RunOnce: %d, %v", n, err)
	}
	if got := target.requests(); len(got) != 0 {
		t.Fatalf("the redirect was followed: %d requests at its target", len(got))
	}
	if ev := evs.last(); ev.Code != codes.WebhookDeliveryFailed || ev.Attrs["reason"] != "redirect_not_followed" {
		t.Fatalf("event: %s %v", ev.Code, ev.Attrs)
	}
}

// TestAttackWebhookSSRFLoopback: a webhook URL naming the gateway's own
// host (by address or by a name resolving to it) is not dialled unless
// private addresses are allowed.
func TestAttackWebhookSSRFLoopback(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	rcv := newReceiver(t, always(http.StatusOK))
	port := rcv.URL[strings.LastIndex(rcv.URL, ":"):]
	evs := &events{}
	pool := rcv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, u := range []string{rcv.URL, "https://localhost" + port, "https://[::ffff:127.0.0.1]" + port} {
		s, err := webhook.NewSender(webhook.Config{}, webhook.Deps{Outbox: st, Events: evs, RootCAs: pool,
			Endpoints: endpoints{"acme": {URL: u, Secret: secret}}, Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		enqueue(t, st, "acme", `{}`, t0)
		if n, err := s.RunOnce(ctx); err != nil || n != 0 {
			t.Fatalf("%s: RunOnce %d, %v", u, n, err)
		}
		if ev := evs.last(); ev.Code != codes.WebhookDeliveryFailed || ev.Attrs["reason"] != "refused_address" {
			t.Fatalf("%s: event %s %v", u, ev.Code, ev.Attrs)
		}
	}
	if got := rcv.requests(); len(got) != 0 {
		t.Fatalf("a loopback receiver was reached: %d requests", len(got))
	}
}

// TestAttackWebhookReplayAndForgery tests the documented verification
// recipe against what an attacker who saw one delivery can do.
func TestAttackWebhookReplayAndForgery(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	rcv := newReceiver(t, always(http.StatusOK))
	s, clk, _ := newSender(t, st, endpoints{"acme": {URL: rcv.URL, Secret: secret}}, rcv.Server, webhook.Config{})
	enqueue(t, st, "acme", `{"command":{"id":"c1","state":"accepted"}}`, t0)
	if _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	seen := rcv.requests()[0]
	later := clk.Now().Add(time.Hour)
	fresh := fmt.Sprint(later.Unix())
	with := func(mut func(h http.Header)) http.Header {
		h := seen.header.Clone()
		mut(h)
		return h
	}
	cases := []struct {
		name string
		h    http.Header
		body []byte
		now  time.Time
		want error
	}{
		{"ReplayedLaterAsIs", seen.header, seen.body, later, webhook.ErrStale},
		{"ReplayedWithFreshTimestamp", with(func(h http.Header) { h.Set("Webhook-Timestamp", fresh) }), seen.body, later, webhook.ErrBadSignature},
		{"TamperedBody", seen.header, []byte(`{"command":{"id":"c1","state":"rejected"}}`), clk.Now(), webhook.ErrBadSignature},
		{"OtherMessageID", with(func(h http.Header) { h.Set("Webhook-Id", "999") }), seen.body, clk.Now(), webhook.ErrBadSignature},
		{"ForgedWithAnotherSecret", with(func(h http.Header) {
			h.Set("Webhook-Signature", webhook.Sign([]byte("not-the-secret-not-the-secret-xx"), h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), seen.body))
		}), seen.body, clk.Now(), webhook.ErrBadSignature},
		{"UnsignedRequest", with(func(h http.Header) { h.Del("Webhook-Signature") }), seen.body, clk.Now(), webhook.ErrMissingHeader},
		{"OtherScheme", with(func(h http.Header) {
			h.Set("Webhook-Signature", strings.Replace(h.Get("Webhook-Signature"), "v1=", "v0=", 1))
		}), seen.body, clk.Now(), webhook.ErrBadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := webhook.Verify(secret, c.h, c.body, c.now); !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
			if independentVerify(secret, c.h, c.body, c.now) {
				t.Fatal("the independent recipe accepts it")
			}
		})
	}
	// The genuine delivery verifies, with a rotation's second value too.
	h := with(func(h http.Header) { h.Set("Webhook-Signature", "v1=00ff "+h.Get("Webhook-Signature")) })
	if _, err := webhook.Verify(secret, h, seen.body, clk.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestTwoSendersNeverDeliverTheSameMessageConcurrently: two replicas,
// each with its own store handle, drain one outbox; every message reaches
// the receiver exactly once (the receiver always answers 2xx, so a second
// delivery could only come from two claims of one message).
func TestTwoSendersNeverDeliverTheSameMessageConcurrently(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		a, b := storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)
		var mu sync.Mutex
		inFlight, count := map[string]int{}, map[string]int{}
		concurrent := 0
		rcv := newReceiver(t, always(http.StatusOK))
		rcv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("Webhook-Id")
			mu.Lock()
			inFlight[id]++
			if inFlight[id] > 1 {
				concurrent++
			}
			count[id]++
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			inFlight[id]--
			mu.Unlock()
		})
		const msgs = 60
		now := time.Now()
		for i := range msgs {
			enqueue(t, a, "acme", fmt.Sprintf(`{"n":%d}`, i), now)
		}
		eps := endpoints{"acme": {URL: rcv.URL, Secret: secret}}
		pool := rcv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		var wg sync.WaitGroup
		total := make([]int, 2)
		for i, st := range []store.Store{a, b} {
			s, err := webhook.NewSender(webhook.Config{AllowPrivate: true, Batch: 4}, webhook.Deps{Outbox: st, Endpoints: eps, Events: &events{}, RootCAs: pool})
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 4 * msgs {
					n, err := s.RunOnce(ctx)
					if err != nil {
						t.Error(err)
						return
					}
					total[i] += n
					mu.Lock()
					done := len(count) == msgs
					mu.Unlock()
					if done {
						return
					}
				}
			}()
		}
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(count) != msgs || concurrent != 0 || total[0]+total[1] != msgs {
			t.Fatalf("%d of %d messages delivered, %d concurrent deliveries, senders counted %v", len(count), msgs, concurrent, total)
		}
		for id, n := range count {
			if n != 1 {
				t.Fatalf("message %s delivered %d times", id, n)
			}
		}
		t.Logf("deliveries per sender: %v", total)
	})
}
