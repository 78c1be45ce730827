package event_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	dir := t.TempDir()
	file, err := event.NewFileSink(filepath.Join(dir, "events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	bus := event.NewBus(nil, nil, mem, file)
	err = bus.Emit(context.Background(), event.Event{
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
	file.Close()
	raw, _ := os.ReadFile(filepath.Join(dir, "events.jsonl"))
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

func (failingSink) Write(context.Context, []event.Event) error { return errors.New("disk full") }

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
