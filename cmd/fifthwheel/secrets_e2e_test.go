package main

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAttackHS256SecretReadFromStoreThroughServe: through the binary's own
// wiring (the serve command and the CLI, in-process), on SQLite and on
// PostgreSQL with two gateways sharing the CA directory: an HS256 secret
// added with `vehicle key add` is not in the store in the clear and frames
// signed with it are accepted by either gateway; a secret an older version
// left in the clear is sealed when a gateway starts, after which it is no
// longer in the store in the clear and its frames are still accepted.
func TestAttackHS256SecretReadFromStoreThroughServe(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		data := filepath.Join(t.TempDir(), "d")
		start := func() *gateway { return startGateway(t, data, []string{"--data", data}, nil) }
		testHS256Sealed(t, start, nil)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := storetest.PostgresConfig(t).URL
		env := sharedCAEnv(t)
		testHS256Sealed(t, func() *gateway { return pgGateway(t, url, env) }, func() *gateway { return pgGateway(t, url, env) })
	})
}

// testHS256Sealed runs the scenario with gateway a (which adds the key) and
// gateway b (which receives the frames; a itself if startB is nil); each
// start function starts a new gateway on the same state.
func testHS256Sealed(t *testing.T, startA, startB func() *gateway) {
	a := startA()
	b := a
	if startB != nil {
		b = startB()
	}
	truck, _ := a.issue("vehicle", "truck-1")
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	secretFile := filepath.Join(t.TempDir(), "hs.secret")
	if err := os.WriteFile(secretFile, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	kid := strings.TrimSpace(a.mustCLI("vehicle", "key", "add", "truck-1", "--alg", "HS256", "--secret-file", secretFile, "--kid", "hs-1"))
	hs, err := frame.NewHS256Key(secret)
	if err != nil {
		t.Fatal(err)
	}
	send := func(g *gateway, k frameKey, from int) {
		t.Helper()
		status, body, err := post(t, g.client(truck), "https://"+g.addrs.Vehicle+"/v1/vehicle/telemetry", k.batch(t, "truck-1", from, 2, time.Now()))
		var res batchResponse
		if err != nil || status != http.StatusOK || json.Unmarshal(body, &res) != nil || len(res.Results) != 2 ||
			res.Results[0].Verdict != "accepted" || res.Results[1].Verdict != "accepted" {
			t.Fatalf("HS256 batch under %s: %d %s %v", k.kid, status, body, err)
		}
	}
	send(b, frameKey{kid: kid, signer: hs}, 0)
	cfg := a.storeConfig()
	if where := storetest.FindBytes(t, cfg, secret); where != "" {
		t.Fatalf("the HS256 secret added with the CLI is readable in the clear in %s", where)
	}

	// An older version left a secret in the clear; the gateways are
	// upgraded (stopped, started again).
	a.stop()
	b.stop()
	legacy := make([]byte, 40)
	_, _ = rand.Read(legacy)
	storetest.Exec(t, cfg,
		`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created_us) VALUES('truck-1','hs-legacy','HS256',?,'active',?)`,
		`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created) VALUES('truck-1','hs-legacy','HS256',$1,'active',$2)`,
		legacy, storetest.Timestamp(cfg, time.Now()))
	if where := storetest.FindBytes(t, cfg, legacy); where == "" {
		t.Fatal("the clear legacy secret is not found: the check cannot see a secret")
	}
	a = startA()
	if !strings.Contains(a.logs.String(), "sealed HS256 frame secrets") {
		t.Fatalf("the gateway did not report sealing the clear secret:\n%s", a.logs.String())
	}
	if where := storetest.FindBytes(t, cfg, legacy); where != "" {
		t.Fatalf("the legacy secret is still readable in the clear in %s after a gateway started", where)
	}
	st, err := store.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	k, err := st.GetVehicleKey(t.Context(), "truck-1", "hs-legacy")
	st.Close()
	if err != nil || !k.Sealed {
		t.Fatalf("legacy key after the start: %+v, %v", k, err)
	}
	b = a
	if startB != nil {
		b = startB()
	}
	old, _ := frame.NewHS256Key(legacy)
	send(b, frameKey{kid: "hs-legacy", signer: old}, 2)
	send(a, frameKey{kid: kid, signer: hs}, 4)
}
