package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAttackHS256SecretReadFromStore: whoever reads the store (a database
// file, a backup, a PostgreSQL role with SELECT) must not learn a vehicle's
// HS256 secret, which would let them sign frames as that vehicle. On both
// engines: a secret registered as the CLI does is stored sealed and not
// found in the clear; a secret an older version stored in the clear is
// found, then sealed by SealClearSecrets (what serve runs at start) and no
// longer found; frames under both keys verify throughout.
func TestAttackHS256SecretReadFromStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		f := newFleet(t, storetest.OpenConfig(t, cfg))
		ctx := context.Background()
		if err := f.st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: "active", CreatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
		secret := make([]byte, 32)
		rand.Read(secret)

		// Registered as `vehicle key add --alg HS256` does.
		k, err := NewVehicleKey("T1", frame.AlgHS256, secret, "hs-new", f.now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := SealVehicleKey(k, nil); !errors.Is(err, ErrNoSealer) {
			t.Fatalf("sealing without a key: %v", err)
		}
		if err := f.st.AddVehicleKey(ctx, k); !errors.Is(err, store.ErrClearSecret) {
			t.Fatalf("the store took a clear secret: %v", err)
		}
		sk, err := SealVehicleKey(k, f.secrets)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.AddVehicleKey(ctx, sk); err != nil {
			t.Fatal(err)
		}
		if where := storetest.FindBytes(t, cfg, secret); where != "" {
			t.Fatalf("the registered HS256 secret is readable in the clear in %s", where)
		}
		signer, err := frame.NewHS256Key(secret)
		if err != nil {
			t.Fatal(err)
		}
		f.keys["T1/hs-new"] = signer
		if r := f.send(vehicle("T1"), Backfill, f.sign("T1", "hs-new", telemetry("T1", 0, 1, f.now))); r[0].Verdict != "accepted" {
			t.Fatalf("HS256 frame under a sealed key: %+v", r[0])
		}

		// A clear secret left by a version before schema 5.
		legacy := make([]byte, 48)
		rand.Read(legacy)
		storetest.Exec(t, cfg,
			`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created_us) VALUES('T1','hs-old','HS256',?,'active',?)`,
			`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created) VALUES('T1','hs-old','HS256',$1,'active',$2)`,
			legacy, storetest.Timestamp(cfg, f.now))
		if where := storetest.FindBytes(t, cfg, legacy); where == "" {
			t.Fatal("the legacy clear secret is not found: the check cannot see a secret")
		}
		oldSigner, _ := frame.NewHS256Key(legacy)
		f.keys["T1/hs-old"] = oldSigner
		if r := f.send(vehicle("T1"), Backfill, f.sign("T1", "hs-old", telemetry("T1", 0, 2, f.now))); r[0].Verdict != "accepted" {
			t.Fatalf("HS256 frame under a legacy clear key: %+v", r[0])
		}
		if n, err := SealClearSecrets(ctx, f.st, f.secrets); err != nil || n != 1 {
			t.Fatalf("SealClearSecrets = %d, %v; want 1", n, err)
		}
		if n, err := SealClearSecrets(ctx, f.st, f.secrets); err != nil || n != 0 {
			t.Fatalf("SealClearSecrets again = %d, %v; want 0", n, err)
		}
		if where := storetest.FindBytes(t, cfg, legacy); where != "" {
			t.Fatalf("the legacy secret is still readable in the clear in %s after sealing", where)
		}
		// A fresh pipeline (no cached verifier) opens the sealed row.
		f.p = f.pipeline(f.secrets)
		if r := f.send(vehicle("T1"), Backfill, f.sign("T1", "hs-old", telemetry("T1", 0, 3, f.now)),
			f.sign("T1", "hs-new", telemetry("T1", 0, 4, f.now))); r[0].Verdict != "accepted" || r[1].Verdict != "accepted" {
			t.Fatalf("HS256 frames after sealing: %+v", r)
		}
	})
}

// TestSealedSecretWithoutItsKeyFailsClosed: a pipeline that cannot open a
// sealed secret (another secrets key: a wrong KEK's, or a replaced file;
// or none at all) acknowledges nothing and stores nothing: the call fails
// as unavailable, and no frame is taken as verified by the sealed bytes.
func TestSealedSecretWithoutItsKeyFailsClosed(t *testing.T) {
	f := newFleet(t, storetest.Engines()[0].Open(t))
	f.enroll("T1", "k1")
	f.enrollHS256("T1", "hs")
	env := f.sign("T1", "hs", telemetry("T1", 0, 1, f.now))
	for name, secrets := range map[string]SecretSealer{"another secrets key": newSecretsKey(t), "no secrets key": nil} {
		t.Run(name, func(t *testing.T) {
			p := f.pipeline(secrets)
			res, err := p.Process(context.Background(), vehicle("T1"), Backfill, BatchKinds, [][]byte{env})
			if !errors.Is(err, ErrUnavailable) || res != nil {
				t.Fatalf("Process = %+v, %v; want ErrUnavailable", res, err)
			}
			if name == "another secrets key" && !strings.Contains(err.Error(), "cannot decrypt") {
				t.Fatalf("the cause is not the key's: %v", err)
			}
			if f.stored("T1") != 0 {
				t.Fatal("a frame was stored")
			}
		})
	}
	// Sealed bytes are never a key, whatever opens (or not) them.
	k, err := f.st.GetVehicleKey(context.Background(), "T1", "hs")
	if err != nil || !k.Sealed {
		t.Fatalf("stored key: %+v, %v", k, err)
	}
	if _, err := VerifierFor(k); err == nil {
		t.Fatal("VerifierFor used sealed bytes as a key")
	}
	// A sealed secret moved to another row does not open there.
	moved := k
	moved.KID = "hs-moved"
	if _, err := OpenVehicleKey(moved, f.secrets); !errors.Is(err, pki.ErrKeyDecrypt) {
		t.Fatalf("a sealed secret opened under another kid: %v", err)
	}
	if opened, err := OpenVehicleKey(k, f.secrets); err != nil || opened.Sealed || bytes.Equal(opened.Material, k.Material) {
		t.Fatalf("OpenVehicleKey = %+v, %v", opened, err)
	}
}
