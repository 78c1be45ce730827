package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// auditRows writes, through the store as the gateway does, frames V/0/seqs,
// the events evs and (if cmd is set) a command with its first transition,
// then sequences them as one leaf.
func auditRows(t *testing.T, st store.Store, seq *audit.Sequencer, seqs []int64, evs []string, cmd string) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var recs []store.FrameRecord
	for _, s := range seqs {
		raw := []byte(fmt.Sprintf(`{"seq":%d}`, s))
		h := sha256.Sum256(raw)
		recs = append(recs, store.FrameRecord{VehicleID: "V", Seq: s, Kind: "telemetry", TS: at, ReceivedAt: at,
			Alg: "Ed25519", KID: "k", Hash: h[:], Raw: raw, Sig: []byte("s"), Verdict: "accepted"})
	}
	if _, err := st.AppendFrames(ctx, recs, 0); err != nil {
		t.Fatal(err)
	}
	for _, id := range evs {
		auditEvent(t, st, id)
	}
	if cmd != "" {
		c := store.Command{ID: cmd, Vehicle: "V", Carrier: "acme", RequestedBy: "urn:x", Type: "route_update", Payload: []byte(`{}`),
			RiskClass: "elevated", ApprovalsRequired: 1, State: store.CommandPendingApproval, ExpiresAt: at.Add(time.Hour), CreatedAt: at}
		if err := st.CreateCommand(ctx, c, "urn:x", "requested", nil); err != nil {
			t.Fatal(err)
		}
	}
	if r, err := seq.Step(ctx); err != nil || r.Leaves != 1 {
		t.Fatalf("step: %+v, %v", r, err)
	}
}

// TestAttackAuditVerifyCLINamesTamper: on both engines, through the CLI:
// `audit key`, `audit checkpoint --save`, `audit tail`, then `audit verify
// --since` passes (and so it does for the saved checkpoint with a
// witness's cosignature added); after frame, event and command rows and an audit item
// are tampered with directly in the database, it exits 1 and names each
// one with its leaf and position.
func TestAttackAuditVerifyCLINamesTamper(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		ctx := context.Background()
		scfg := e.New(t)
		st, err := store.Open(ctx, scfg)
		if err != nil {
			t.Fatal(err)
		}
		key, err := audit.LoadOrCreateKey(ctx, st, newGCMSealer(t), "test.invalid/audit", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		seq, err := audit.NewSequencer(audit.SequencerDeps{Store: st, Key: key}, audit.SequencerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		// Leaf 0: V/0/1, V/0/2, ev-1, c-1, c-1/1. Leaf 1: V/0/3, ev-2.
		auditRows(t, st, seq, []int64{1, 2}, []string{"ev-1"}, "c-1")
		state := []string{"--data", scfg.DataDir}
		if scfg.URL != "" {
			state = []string{"--store", scfg.URL}
		}
		saved := filepath.Join(t.TempDir(), "cp.txt")
		out := mustCLI(t, nil, append([]string{"audit", "checkpoint", "--save", saved}, state...)...)
		if b, _ := os.ReadFile(saved); string(b) != out || !strings.HasPrefix(out, "test.invalid/audit\n1\n") {
			t.Fatalf("checkpoint printed:\n%s\nsaved:\n%s", out, b)
		}
		auditRows(t, st, seq, []int64{3}, []string{"ev-2"}, "")
		st.Close()

		if got := mustCLI(t, nil, append([]string{"audit", "key"}, state...)...); got != key.VerifierKey()+"\n" {
			t.Fatalf("audit key = %q, want %q", got, key.VerifierKey())
		}
		keyFile := filepath.Join(t.TempDir(), "log.vkey")
		if err := os.WriteFile(keyFile, []byte(key.VerifierKey()+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		tail := mustCLI(t, nil, append([]string{"audit", "tail", "-n", "1"}, state...)...)
		if !strings.Contains(tail, "size 2, 0 items pending") || !strings.Contains(tail, "V/0/3") || !strings.Contains(tail, "ev-2") || strings.Contains(tail, "ev-1") {
			t.Fatalf("tail -n 1:\n%s", tail)
		}
		verify := append([]string{"audit", "verify", "--since", saved, "--log-key", keyFile}, state...)
		if got := mustCLI(t, nil, verify...); !strings.HasPrefix(got, "verified: size 2 extends size 1") {
			t.Fatalf("verify: %s", got)
		}
		// The saved checkpoint as a witness cosigned it (an extra signature
		// line from a key the gateway does not know): accepted, ignored.
		wskey, _, err := note.GenerateKey(rand.Reader, "witness.example/w1")
		if err != nil {
			t.Fatal(err)
		}
		wsigner, err := note.NewSigner(wskey)
		if err != nil {
			t.Fatal(err)
		}
		savedNote, _ := os.ReadFile(saved)
		wnote, err := note.Sign(&note.Note{Text: string(savedNote[:bytes.LastIndex(savedNote, []byte("\n\n"))+1])}, wsigner)
		if err != nil {
			t.Fatal(err)
		}
		cosigned := filepath.Join(t.TempDir(), "cp-cosigned.txt")
		if err := os.WriteFile(cosigned, append(savedNote, wnote[bytes.LastIndex(wnote, []byte("\n\n"))+2:]...), 0o644); err != nil {
			t.Fatal(err)
		}
		if got := mustCLI(t, nil, append([]string{"audit", "verify", "--since", cosigned, "--log-key", keyFile}, state...)...); !strings.HasPrefix(got, "verified: size 2 extends size 1") {
			t.Fatalf("verify --since a cosigned checkpoint: %s", got)
		}

		storetest.Exec(t, scfg, `UPDATE frames SET raw=X'7b7d' WHERE seq=2`, `UPDATE frames SET raw='\x7b7d'::bytea WHERE seq=2`)
		storetest.Exec(t, scfg, `DELETE FROM events WHERE id='ev-1'`, `DELETE FROM events WHERE id='ev-1'`)
		storetest.Exec(t, scfg, `UPDATE commands SET payload=X'7b7d7d' WHERE id='c-1'`, `UPDATE commands SET payload='\x7b7d7d'::bytea WHERE id='c-1'`)
		storetest.Exec(t, scfg, `DELETE FROM audit_items WHERE ref='ev-2'`, `DELETE FROM audit_items WHERE ref='ev-2'`)
		r := cli(t, nil, verify...)
		if r.code != 1 {
			t.Fatalf("verify of a tampered log: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"item_edited leaf=0 pos=1", "item_source_missing leaf=0 pos=2", "item_edited leaf=0 pos=3", "item_deleted leaf=1", "NOT VERIFIED"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("verify output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
}
