package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/audit"
	"github.com/fifthwheel/fifthwheel/internal/forensics"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// sequenceVehicle stands in for the audit wiring (issue 21, another
// change): with the gateway stopped, it appends the audit items of the
// vehicle's stored frames and events (the fixed references) and runs the
// sequencer, with the log key sealed under the gateway's secrets key as
// serve keeps it. It returns the log's verifier key.
func sequenceVehicle(t *testing.T, g *gateway, vehicle string) string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kek, err := pki.LoadKeyFileKEK(g.kekFile())
	if err != nil {
		t.Fatal(err)
	}
	secrets, _, err := pki.OpenSecretsKey(g.pkiDir(), kek)
	if err != nil {
		t.Fatal(err)
	}
	key, err := audit.LoadOrCreateKey(ctx, st, secrets, "fifthwheel.test/audit", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var items []audit.Item
	frames, err := st.ListFrames(ctx, vehicle, time.Time{}, time.Now().Add(time.Hour), store.MaxPage)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range frames {
		items = append(items, audit.NewItem(audit.KindFrame, forensics.FrameRef(r.VehicleID, r.Epoch, r.Seq), forensics.FrameEnvelope(r)))
	}
	evs, err := st.ListEvents(ctx, store.EventFilter{Subject: principal.Principal{Kind: principal.Vehicle, ID: vehicle}.String(), Limit: store.MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		items = append(items, audit.NewItem(audit.KindEvent, e.ID, e.Body))
	}
	rows, err := audit.Rows(items...)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAuditItems(ctx, rows); err != nil {
		t.Fatal(err)
	}
	seq, err := audit.NewSequencer(audit.SequencerDeps{Store: st, Key: key}, audit.SequencerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := seq.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	return key.VerifierKey()
}

// TestForensicsBundleCLI: on both engines, a truck sends frames and then a
// replayed one (refused, recorded); `forensics export` writes a bundle
// holding the refusal, `forensics verify` passes offline with the log key;
// custody entries signed by two custodians verify; a copy with one byte
// flipped, or verified with another log's key, fails naming what failed.
func TestForensicsBundleCLI(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			g := engineGateway(t, engine)
			truck, _ := g.issue("vehicle", "truck-9")
			key := g.addFrameKey("truck-9")
			url := "https://" + g.addrs.Vehicle + "/v1/vehicle/telemetry"
			if status, body, err := post(t, g.client(truck), url, key.batch(t, "truck-9", 0, 3, time.Now())); err != nil || status != http.StatusOK {
				t.Fatalf("POST: %v %d %s", err, status, body)
			}
			// The attack: seq 1 again, other bytes.
			if _, body, err := post(t, g.client(truck), url, key.batch(t, "truck-9", 1, 1, time.Now().Add(time.Second))); err != nil || !strings.Contains(string(body), codes.Replay) {
				t.Fatalf("replay: %v %s", err, body)
			}
			g.waitEvent(codes.Replay, "truck-9")
			g.stop()
			vkey := sequenceVehicle(t, g, "truck-9")

			dir := t.TempDir()
			logKey := filepath.Join(dir, "log.key")
			if err := os.WriteFile(logKey, []byte(vkey+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			bundle := filepath.Join(dir, "bundle.tar.gz")
			out := g.mustCLI("forensics", "export", "--vehicle", "truck-9", "--since", "15m", "--case", "CASE-9", "--out", bundle)
			if !strings.Contains(out, "3 frames") || !strings.Contains(out, "items proven") {
				t.Fatalf("export: %s", out)
			}
			if r := cli(t, g.env, append([]string{"forensics", "export", "--vehicle", "truck-9", "--since", "15m", "--case", "CASE-9", "--out", bundle}, g.state...)...); r.code == 0 {
				t.Fatal("export overwrote a bundle")
			}
			g.waitEvent(codes.ForensicBundleExported, "CASE-9")

			out = mustCLI(t, nil, "forensics", "verify", bundle, "--log-key", logKey)
			if !strings.Contains(out, "verified: case CASE-9, vehicle truck-9, exported by urn:fifthwheel:operator:") {
				t.Fatalf("verify: %s", out)
			}
			// The refusal event is in the bundle, proven.
			b, _ := os.ReadFile(bundle)
			if !strings.Contains(out, "ok   inclusion-proof (") || !bundleHas(t, b, `"code":"replay"`) {
				t.Fatalf("the replay's event is not proven in the bundle: %s", out)
			}

			// Custody: two custodians, signed.
			var pubs []string
			for i, who := range []string{"alice", "bob"} {
				k := filepath.Join(dir, who+".key")
				mustCLI(t, nil, "forensics", "custody", "keygen", "--name", who, "--out", k)
				mustCLI(t, nil, "forensics", "custody", "add", bundle, "--by", who, "--action", []string{"transferred", "received"}[i],
					"--note", "evidence bag 7", "--key", k)
				pubs = append(pubs, "--custodian-key", k+".pub")
			}
			out = mustCLI(t, nil, append([]string{"forensics", "verify", bundle, "--log-key", logKey}, pubs...)...)
			if !strings.Contains(out, "ok   custody (2)") {
				t.Fatalf("custody: %s", out)
			}

			// A tampered copy: one byte of the first frame flipped.
			bad := filepath.Join(dir, "bad.tar.gz")
			writeTampered(t, bundle, bad, "frames/0-1.json")
			r := cli(t, nil, append([]string{"forensics", "verify", bad, "--log-key", logKey}, pubs...)...)
			if r.code != exitRuntime || !strings.Contains(r.stdout, "FAIL file-hash frames/0-1.json") || !strings.Contains(r.stderr, "NOT verified") {
				t.Fatalf("tampered: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			// Another log's key.
			_, other, _ := forensics.GenerateCustodianKey("fifthwheel.test")
			otherKey := filepath.Join(dir, "other.key")
			os.WriteFile(otherKey, []byte(other), 0o644)
			if r := cli(t, nil, "forensics", "verify", bundle, "--log-key", otherKey); r.code != exitRuntime || !strings.Contains(r.stdout, "FAIL manifest manifest.sig") {
				t.Fatalf("another log's key: exit %d\n%s", r.code, r.stdout)
			}
		})
	}
}

// bundleHas reports whether a file of the bundle contains s.
func bundleHas(t *testing.T, b []byte, s string) bool {
	t.Helper()
	files, err := forensics.Contents(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range files {
		if strings.Contains(string(d), s) {
			return true
		}
	}
	return false
}

// writeTampered writes to dst a copy of the bundle src with one byte of
// the file at path flipped.
func writeTampered(t *testing.T, src, dst, path string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := forensics.Tamper(b, path, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, bad, 0o600); err != nil {
		t.Fatal(err)
	}
}
