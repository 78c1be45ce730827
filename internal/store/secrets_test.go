package store_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// insertClearSecret writes an HS256 key in the clear, as a fifthwheel
// before schema version 5 did (the store refuses to now).
func insertClearSecret(t *testing.T, cfg store.Config, vehicle, kid string, secret []byte) {
	t.Helper()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	storetest.Exec(t, cfg,
		`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created_us) VALUES(?,?,'HS256',?,'active',?)`,
		`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created) VALUES($1,$2,'HS256',$3,'active',$4)`,
		vehicle, kid, secret, storetest.Timestamp(cfg, at))
}

// TestSecretsConformance: the store writes a secret only sealed, lists the
// secrets older versions left in the clear, and swaps each for its sealed
// form only if the row still holds exactly that clear secret, leaving no
// clear copy in what it keeps (SQLite files; the PostgreSQL table).
func TestSecretsConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		at := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		secret := []byte("0123456789abcdef0123456789abcdef")

		clear := store.VehicleKey{VehicleID: "T1", KID: "h1", Alg: store.SecretAlg, Material: secret, CreatedAt: at}
		if err := st.AddVehicleKey(ctx, clear); !errors.Is(err, store.ErrClearSecret) {
			t.Fatalf("clear secret: %v, want ErrClearSecret", err)
		}
		if _, err := st.GetVehicleKey(ctx, "T1", "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused key was stored: %v", err)
		}
		sealed := clear
		sealed.Material, sealed.Sealed = []byte("sealed:opaque-to-the-store"), true
		if err := st.AddVehicleKey(ctx, sealed); err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetVehicleKey(ctx, "T1", "h1"); err != nil || !got.Sealed || !bytes.Equal(got.Material, sealed.Material) {
			t.Fatalf("sealed key read back: %+v, %v", got, err)
		}
		pub := store.VehicleKey{VehicleID: "T1", KID: "k1", Alg: "Ed25519", Material: make([]byte, 44), CreatedAt: at}
		if err := st.AddVehicleKey(ctx, pub); err != nil {
			t.Fatal(err)
		}
		if ks, err := st.ListVehicleKeys(ctx, "T1"); err != nil || len(ks) != 2 || !ks[0].Sealed || ks[1].Sealed {
			t.Fatalf("ListVehicleKeys = %+v, %v", ks, err)
		}
		if ks, err := st.ListClearSecrets(ctx); err != nil || len(ks) != 0 {
			t.Fatalf("ListClearSecrets with none = %+v, %v", ks, err)
		}

		// A secret an older version stored in the clear.
		insertClearSecret(t, cfg, "T2", "h-legacy", secret)
		ks, err := st.ListClearSecrets(ctx)
		if err != nil || len(ks) != 1 || ks[0].VehicleID != "T2" || ks[0].Sealed || !bytes.Equal(ks[0].Material, secret) {
			t.Fatalf("ListClearSecrets = %+v, %v", ks, err)
		}
		box := []byte("sealed:legacy")
		if err := st.SealVehicleKey(ctx, "T2", "h-legacy", []byte("not the stored secret............"), box); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("seal with another clear value: %v, want ErrConflict", err)
		}
		if err := st.SealVehicleKey(ctx, "T2", "nope", secret, box); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("seal of a missing key: %v, want ErrNotFound", err)
		}
		if err := st.SealVehicleKey(ctx, "T2", "h-legacy", secret, box); err != nil {
			t.Fatal(err)
		}
		if err := st.SealVehicleKey(ctx, "T2", "h-legacy", secret, box); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("sealing twice: %v, want ErrConflict", err)
		}
		if got, err := st.GetVehicleKey(ctx, "T2", "h-legacy"); err != nil || !got.Sealed || !bytes.Equal(got.Material, box) {
			t.Fatalf("after sealing: %+v, %v", got, err)
		}
		if ks, err := st.ListClearSecrets(ctx); err != nil || len(ks) != 0 {
			t.Fatalf("ListClearSecrets after sealing = %+v, %v", ks, err)
		}
		if where := storetest.FindBytes(t, cfg, secret); where != "" {
			t.Fatalf("the clear secret is still in %s", where)
		}
	})
}

// TestMigration0006KeepsLegacySecrets: a store at schema version 5 with an
// HS256 secret and an Ed25519 key migrates to the current version with both
// rows intact, the secret listed as clear (to be sealed by the gateway's
// first start with the KEK) and the public key not.
func TestMigration0006KeepsLegacySecrets(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st, err := store.Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		// Back to schema version 5, as an older fifthwheel left it.
		downgradeTo6(t, cfg)
		storetest.Exec(t, cfg, `ALTER TABLE vehicle_keys DROP COLUMN sealed`, `ALTER TABLE vehicle_keys DROP COLUMN sealed`)
		storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 6`, `DELETE FROM schema_migrations WHERE version >= 6`)
		secret := bytes.Repeat([]byte{0xA5}, 40)
		insertClearSecret(t, cfg, "T1", "h-old", secret)
		at := storetest.Timestamp(cfg, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
		storetest.Exec(t, cfg,
			`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created_us) VALUES('T1','k-old','Ed25519',?,'active',?)`,
			`INSERT INTO vehicle_keys(vehicle_id,kid,alg,material,status,created) VALUES('T1','k-old','Ed25519',$1,'active',$2)`,
			make([]byte, 44), at)

		st = storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
			t.Fatalf("schema version %d, %v", v, err)
		}
		ks, err := st.ListVehicleKeys(ctx, "T1")
		if err != nil || len(ks) != 2 || ks[0].KID != "h-old" || ks[0].Sealed || !bytes.Equal(ks[0].Material, secret) ||
			ks[1].KID != "k-old" || ks[1].Sealed {
			t.Fatalf("keys after the migration: %+v, %v", ks, err)
		}
		if cs, err := st.ListClearSecrets(ctx); err != nil || len(cs) != 1 || cs[0].KID != "h-old" {
			t.Fatalf("ListClearSecrets after the migration = %+v, %v", cs, err)
		}
	})
}
