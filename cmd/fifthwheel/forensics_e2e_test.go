package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/drill"
	"github.com/fifthwheel/fifthwheel/internal/forensics"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// logKeyOf returns the verifier key of the gateway's audit log.
func logKeyOf(t *testing.T, g *gateway) string {
	t.Helper()
	st, err := store.Open(context.Background(), g.storeConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.GetAuditLogKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rec.Verifier
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

			dir := t.TempDir()
			bundle := filepath.Join(dir, "bundle.tar.gz")
			out := g.mustCLI("forensics", "export", "--vehicle", "truck-9", "--since", "15m", "--case", "CASE-9", "--out", bundle)
			if !strings.Contains(out, "3 frames") || !strings.Contains(out, "items proven") {
				t.Fatalf("export: %s", out)
			}
			if r := cli(t, g.env, append([]string{"forensics", "export", "--vehicle", "truck-9", "--since", "15m", "--case", "CASE-9", "--out", bundle}, g.state...)...); r.code == 0 {
				t.Fatal("export overwrote a bundle")
			}
			g.waitEvent(codes.ForensicBundleExported, "CASE-9")
			logKey := filepath.Join(dir, "log.key")
			if err := os.WriteFile(logKey, []byte(logKeyOf(t, g)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}

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

var forensicsDrills = []string{"forensic-bundle-verified-offline", "tampered-bundle-refused"}

// TestDrillForensicsPass: against the in-process gateway, the bundle of
// the attacked drill vehicle verifies offline with its refusal proven, and
// its tampered copy is refused naming the file.
func TestDrillForensicsPass(t *testing.T) {
	rep := runDrills(t, nil, forensicsDrills, exitOK)
	if rep.Summary.Pass != len(forensicsDrills) {
		t.Fatalf("summary %+v", rep.Summary)
	}
}

// TestDrillForensicsFailWithAVerifierThatAcceptsEverything: with the
// offline verifier replaced by one that accepts every bundle (test-only
// hook), both drills fail: the tampered copy is not refused, and the
// refusal event is not proven.
func TestDrillForensicsFailWithAVerifierThatAcceptsEverything(t *testing.T) {
	rep := runDrills(t, func(tg *drill.Target) {
		tg.VerifyBundle = func([]byte, note.Verifier) *forensics.Result {
			return &forensics.Result{Checks: []forensics.Check{{Name: forensics.CheckBundle, OK: true}}}
		}
	}, forensicsDrills, exitRuntime)
	if rep.Summary.Fail != len(forensicsDrills) {
		t.Fatalf("summary %+v, want both forensics drills failed", rep.Summary)
	}
	for _, d := range rep.Drills {
		for _, c := range d.Checks {
			if !c.OK && !strings.Contains(c.What, "bundle") {
				t.Errorf("%s failed on %q, not on its bundle check", d.Name, c.What)
			}
		}
	}
}
