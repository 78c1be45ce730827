package event_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// Secrets placed in attributes never reach a sink: by wrapper type, by key
// name, or by shape (bearer header, JWT, PEM private key).
func TestEventsNeverCarrySecrets(t *testing.T) {
	const jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJl"
	const pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49\n-----END EC PRIVATE KEY-----"
	mem := &event.MemorySink{}
	st := storetest.Engines()[0].Open(t)
	bus := event.NewBus(nil, nil, mem, event.NewStoreSink(st))
	err := bus.Emit(context.Background(), event.Event{
		Class: event.ClassAuthentication, Activity: "token", Verdict: event.Reject, Code: "token_binding_mismatch",
		Actor: principal.Principal{Kind: principal.Client, ID: "acme"},
		Attrs: map[string]any{
			"access_token": "opaque-value-1", // key names a secret
			"header":       "Bearer " + jwt,  // bearer header
			"presented":    jwt,              // JWT shape
			"key":          pem,              // PEM private key
			"hmac":         event.Secret{},   // explicit wrapper
			"nested":       map[string]any{"client_secret": "s3cr3t-value"},
			"list":         []string{"ok", jwt},
			"unsupported":  struct{ Token string }{"struct-held-value"},
			"reason":       "binding mismatch",
			"cert_sha256":  "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := st.ListEvents(context.Background(), store.EventFilter{})
	var raw []byte
	for _, r := range rows {
		raw = append(raw, r.Body...)
	}
	memJSON, _ := json.Marshal(mem.Events())
	for _, out := range []string{string(raw), string(memJSON)} {
		for _, secret := range []string{"opaque-value-1", jwt, "PRIVATE KEY", "s3cr3t-value", "struct-held-value"} {
			if strings.Contains(out, secret) {
				t.Errorf("secret %q reached a sink:\n%s", secret, out)
			}
		}
		for _, kept := range []string{"binding mismatch", "9f86d081884c7d", "urn:fifthwheel:client:acme", "token_binding_mismatch"} {
			if !strings.Contains(out, kept) {
				t.Errorf("non-secret %q missing from sink output:\n%s", kept, out)
			}
		}
	}
}

func TestBusFillsAndStoreSinkPersists(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		st := e.Open(t)
		bus := event.NewBus(nil, nil, event.NewStoreSink(st))
		if err := bus.Emit(context.Background(),
			event.Event{Class: event.ClassTelemetry, Activity: "frame", Verdict: event.Reject, Code: "bad_signature", Resource: "urn:fifthwheel:vehicle:T1"},
			event.Event{Class: event.ClassSystem, Activity: "start", Code: "gateway_started"}); err != nil {
			t.Fatal(err)
		}
		rows, err := st.ListEvents(context.Background(), store.EventFilter{})
		if err != nil || len(rows) != 2 {
			t.Fatalf("%d rows, %v", len(rows), err)
		}
		var got map[string]any
		if err := json.Unmarshal(rows[0].Body, &got); err != nil {
			t.Fatal(err)
		}
		if rows[0].Code != "bad_signature" || rows[0].Subject != "urn:fifthwheel:vehicle:T1" || got["id"] == "" || got["time"] == "" || got["severity"] != float64(1) {
			t.Fatalf("row %+v body %v", rows[0], got)
		}
		if rows[1].Verdict != "info" {
			t.Fatalf("default verdict = %q, want info", rows[1].Verdict)
		}
	})
}

type failingSink struct{}

func (failingSink) Write(context.Context, []event.Encoded) error { return errors.New("disk full") }

// A sink failure is reported to the caller (who fails closed), not dropped.
func TestSinkFailureIsReported(t *testing.T) {
	mem := &event.MemorySink{}
	err := event.NewBus(nil, nil, failingSink{}, mem).Emit(context.Background(), event.Event{Code: "x"})
	if !errors.Is(err, event.ErrSink) {
		t.Fatalf("err = %v, want ErrSink", err)
	}
	if len(mem.Events()) != 1 {
		t.Fatal("other sinks must still receive the event")
	}
}

// spySink keeps what it was given, encodings included.
type spySink struct{ got []event.Encoded }

func (s *spySink) Write(_ context.Context, evs []event.Encoded) error {
	s.got = append(s.got, evs...)
	return nil
}

// TestOtherSinksGetTheStoredBody: an event is encoded once. What the
// bus's other sinks are given is byte for byte the store row's body, which
// is the event's JSON (json.Marshal of the event), on both paths: Emit, and
// Prepare/Delivered (a row committed in the caller's transaction, then
// handed to the other sinks). (The events file is no longer a bus sink: it
// tails the store, package siem.)
func TestOtherSinksGetTheStoredBody(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		st := e.Open(t)
		spy := &spySink{}
		mem := &event.MemorySink{}
		bus := event.NewBus(nil, nil, event.NewStoreSink(st), spy, mem)
		ev := func(code string) event.Event {
			return event.Event{Class: event.ClassTelemetry, Activity: "frame", Verdict: event.Reject, Code: code,
				Actor: principal.Principal{Kind: principal.Vehicle, ID: "T1"}, Resource: "urn:fifthwheel:vehicle:T1",
				Attrs: map[string]any{"seq": int64(7), "detail": `<"quoted" & escaped>`, "at": time.Unix(1, 5),
					"nested": map[string]any{"b": 2, "a": []string{"x", "y"}}}}
		}
		if err := bus.Emit(ctx, ev("bad_signature"), ev("replay")); err != nil {
			t.Fatal(err)
		}
		p, err := bus.Prepare(ev("gnss_fix_lost"), ev("position_jump"))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AppendEvents(ctx, p.Rows[1:]); err != nil { // the caller's transaction committed the second
			t.Fatal(err)
		}
		if err := bus.Delivered(ctx, p, []int{1}); err != nil {
			t.Fatal(err)
		}
		rows, err := st.ListEvents(ctx, store.EventFilter{})
		if err != nil {
			t.Fatal(err)
		}
		kept := mem.Events()
		if len(rows) != 3 || len(spy.got) != 3 || len(kept) != 3 {
			t.Fatalf("%d rows, %d given to the spy, %d events; want 3 of each", len(rows), len(spy.got), len(kept))
		}
		for i, r := range rows {
			if string(spy.got[i].Row.Body) != string(r.Body) {
				t.Errorf("event %d: given\n%s\nstored body\n%s", i, spy.got[i].Row.Body, r.Body)
			}
			want, _ := json.Marshal(kept[i])
			if string(r.Body) != string(want) {
				t.Errorf("event %d: body\n%s\nwant\n%s", i, r.Body, want)
			}
		}
	})
}

// TestEventsEncodedOnce: every sink of a bus gets the same encoding (the
// same bytes, not an equal copy), and Delivered hands on the encoding
// Prepare made for the caller's transaction instead of encoding again.
func TestEventsEncodedOnce(t *testing.T) {
	ctx := context.Background()
	a, b := &spySink{}, &spySink{}
	bus := event.NewBus(nil, nil, a, b)
	if err := bus.Emit(ctx, event.Event{Code: "x", Attrs: map[string]any{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	if len(a.got) != 1 || len(b.got) != 1 || &a.got[0].Row.Body[0] != &b.got[0].Row.Body[0] {
		t.Fatal("the sinks were given different encodings of one event")
	}
	p, err := bus.Prepare(event.Event{Code: "y"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.Delivered(ctx, p, []int{0}); err != nil {
		t.Fatal(err)
	}
	if len(a.got) != 2 || &a.got[1].Row.Body[0] != &p.Rows[0].Body[0] {
		t.Fatal("Delivered encoded the event again instead of handing on the committed row's bytes")
	}

}
