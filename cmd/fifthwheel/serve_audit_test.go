package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/config"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// gcmSealer is a secrets key for tests: AES-256-GCM, nonce first.
type gcmSealer struct{ aead cipher.AEAD }

func newGCMSealer(t testing.TB) gcmSealer {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	b, err := aes.NewCipher(k)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return gcmSealer{a}
}

func (g gcmSealer) Encrypt(p, aad []byte) ([]byte, error) {
	n := make([]byte, g.aead.NonceSize())
	_, _ = rand.Read(n)
	return g.aead.Seal(n, n, p, aad), nil
}

func (g gcmSealer) Decrypt(c, aad []byte) ([]byte, error) {
	if len(c) < g.aead.NonceSize() {
		return nil, errors.New("short")
	}
	return g.aead.Open(nil, c[:g.aead.NonceSize()], c[g.aead.NonceSize():], aad)
}

// captureEmitter records the events emitted to it.
type captureEmitter struct {
	mu  sync.Mutex
	evs []event.Event
}

func (c *captureEmitter) Emit(_ context.Context, evs ...event.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, evs...)
	return nil
}

func (c *captureEmitter) byCode(code string) []event.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []event.Event
	for _, e := range c.evs {
		if e.Code == code {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// auditEvent appends one security event through the store (which appends
// its audit item in the same transaction).
func auditEvent(t *testing.T, st store.Store, id string) {
	t.Helper()
	if err := st.AppendEvents(context.Background(), []store.EventRow{{ID: id, Time: time.Now(), Class: "system", Verdict: "info",
		Code: "x", Subject: "s", Body: []byte(fmt.Sprintf(`{"id":%q}`, id))}}); err != nil {
		t.Fatal(err)
	}
}

// startTestAudit starts the audit log as serve does, on a fresh store of
// engine e, and returns the store and what it emitted to.
func startTestAudit(t *testing.T, e storetest.Engine, cfg config.Config) (store.Config, store.Store, *captureEmitter) {
	t.Helper()
	scfg := e.New(t)
	st := storetest.OpenConfig(t, scfg)
	bg, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	events := &captureEmitter{}
	if _, err := startAudit(context.Background(), bg, cfg, st, newGCMSealer(t), events, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	return scfg, st, events
}

func checkpointSize(st store.Store) uint64 {
	cp, err := st.LatestAuditCheckpoint(context.Background())
	if err != nil {
		return 0
	}
	return cp.Size
}

// TestAuditSequencerInServe: serve's sequencer covers new events within a
// second with a signed checkpoint of the default origin, and publishes
// each checkpoint to audit.publish_file, on both engines.
func TestAuditSequencerInServe(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := config.Default()
		cfg.Audit.PublishFile = filepath.Join(t.TempDir(), "checkpoint.txt")
		_, st, _ := startTestAudit(t, e, cfg)
		for id, role := range map[string]string{"aud": "auditor", "disp": "dispatcher"} {
			if err := st.CreateClient(context.Background(), store.Client{ID: id, Name: id, Status: store.ClientActive, CreatedAt: time.Now(), Roles: []string{role}}); err != nil {
				t.Fatal(err)
			}
			if err := st.SetClientWebhook(context.Background(), store.ClientWebhook{Client: id, URL: "https://x.example/h", Sealed: []byte("s"), UpdatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		auditEvent(t, st, "ev-1")
		waitFor(t, "a checkpoint", func() bool { return checkpointSize(st) == 1 })
		if d := time.Since(start); d > time.Second {
			t.Errorf("append to checkpoint took %v", d)
		}
		cp, _ := st.LatestAuditCheckpoint(context.Background())
		if !bytes.HasPrefix(cp.Note, []byte("localhost/fifthwheel/audit\n1\n")) {
			t.Fatalf("checkpoint:\n%s", cp.Note)
		}
		waitFor(t, "the published checkpoint", func() bool {
			b, _ := os.ReadFile(cfg.Audit.PublishFile)
			return bytes.Equal(b, cp.Note)
		})
		// And to the auditor's webhook outbox (not the dispatcher's).
		var got []store.WebhookMessage
		waitFor(t, "the checkpoint in the webhook outbox", func() bool {
			ms, err := st.ClaimWebhooks(context.Background(), time.Now().Add(time.Minute), time.Minute, 10)
			got = append(got, ms...)
			return err == nil && len(got) > 0
		})
		var body audit.CheckpointMessage
		if len(got) != 1 || got[0].Client != "aud" || got[0].EventType != audit.WebhookCheckpoint ||
			json.Unmarshal(got[0].Body, &body) != nil || body.Checkpoint != string(cp.Note) || body.Size != 1 {
			t.Fatalf("outbox: %+v", got)
		}
	})
}

// TestAttackAuditLogTamperedStopsSequencer: the last leaf row deleted in
// the database. The sequencer must not sign a checkpoint over the
// tampered tree (that would fork the log): it stops with a high-severity
// audit_log_inconsistent event, while ingest goes on and its items stay
// pending.
func TestAttackAuditLogTamperedStopsSequencer(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		scfg, st, events := startTestAudit(t, e, config.Default())
		for i := 1; i <= 3; i++ {
			auditEvent(t, st, fmt.Sprintf("ev-%d", i))
			waitFor(t, "a checkpoint", func() bool { return checkpointSize(st) == uint64(i) })
		}
		storetest.Exec(t, scfg, `DELETE FROM audit_leaves WHERE idx=2`, `DELETE FROM audit_leaves WHERE idx=2`)
		auditEvent(t, st, "ev-after") // ingest still works
		waitFor(t, "the audit_log_inconsistent event", func() bool { return len(events.byCode(codes.AuditLogInconsistent)) == 1 })
		if ev := events.byCode(codes.AuditLogInconsistent)[0]; ev.Severity != event.SeverityHigh {
			t.Fatalf("event: %+v", ev)
		}
		auditEvent(t, st, "ev-after-2")
		time.Sleep(600 * time.Millisecond) // two ticks: a running sequencer would have stepped
		if n, _ := st.PendingAuditItems(context.Background()); n != 2 || checkpointSize(st) != 3 {
			t.Fatalf("after the stop: %d pending, checkpoint size %d", n, checkpointSize(st))
		}
		if n := len(events.byCode(codes.AuditLogInconsistent)); n != 1 {
			t.Fatalf("%d events: the sequencer did not stop", n)
		}
	})
}
