package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestPostgresRevocationNotifies: a revocation committed through one store
// handle (another replica) wakes a Listen on another, and an aborted
// revocation (unknown serial) does not.
func TestPostgresRevocationNotifies(t *testing.T) {
	cfg := storetest.PostgresDatabaseConfig(t) // its own database: NOTIFY is per database
	a := storetest.OpenConfig(t, cfg)
	b := storetest.OpenConfig(t, cfg)
	n, ok := b.(store.Notifier)
	if !ok {
		t.Fatal("the PostgreSQL engine does not implement store.Notifier")
	}
	ctx := context.Background()
	wake := listen(t, n, store.RevocationChannel)

	now := time.Now().UTC().Truncate(time.Second)
	row := store.CertRow{Serial: "80000000000000000000000000000001", Kind: "vehicle", ID: "truck-1", Profile: "vehicle",
		NotBefore: now, NotAfter: now.Add(time.Hour), IssuerKeyID: "00112233445566778899aabbccddeeff", DER: []byte{1}}
	if err := a.RecordIssued(ctx, row, store.IssueBasis{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.RevokeCert(ctx, "80000000000000000000000000000009", 1, now); err == nil {
		t.Fatal("revoked an unknown serial")
	}
	start := time.Now()
	if _, _, err := a.RevokeCert(ctx, row.Serial, 1, now); err != nil {
		t.Fatal(err)
	}
	wantOneNotification(t, wake, "revocation", start)
}

// TestSQLiteIsNotANotifier: SQLite has no push channel; the revocation set
// polls it.
func TestSQLiteIsNotANotifier(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	if _, ok := st.(store.Notifier); ok {
		t.Fatal("SQLite claims to push notifications")
	}
}

// TestPostgresVehicleStatusNotifies: a suspension committed through one
// store handle (another replica, the CLI) wakes a Listen on
// VehicleStatusChannel on another, and a refused one (unknown vehicle) does
// not.
func TestPostgresVehicleStatusNotifies(t *testing.T) {
	cfg := storetest.PostgresDatabaseConfig(t) // its own database: NOTIFY is per database
	a := storetest.OpenConfig(t, cfg)
	b := storetest.OpenConfig(t, cfg)
	n := b.(store.Notifier)
	ctx := context.Background()
	wake := listen(t, n, store.VehicleStatusChannel)
	if err := a.CreateVehicle(ctx, store.Vehicle{ID: "truck-1", Status: "active", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := a.SetVehicleStatus(ctx, "truck-9", "suspended"); err == nil {
		t.Fatal("suspended an unknown vehicle")
	}
	start := time.Now()
	if err := a.SetVehicleStatus(ctx, "truck-1", "suspended"); err != nil {
		t.Fatal(err)
	}
	wantOneNotification(t, wake, "suspension", start)
}

// listen runs n.Listen on channel until the test ends, waits until the
// subscription is active, and returns the channel each notification wakes.
// When the test ends, Listen must return nil after its context is cancelled.
func listen(t *testing.T, n store.Notifier, channel string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wake := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() { done <- n.Listen(ctx, channel, func() { wake <- struct{}{} }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen after cancel: %v", err)
		}
	})
	select {
	case <-wake: // the subscription is active
	case err := <-done:
		t.Fatalf("Listen: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Listen did not report its subscription")
	}
	return wake
}

// wantOneNotification checks that the committed change (what) started at
// start wakes wake exactly once.
func wantOneNotification(t *testing.T, wake <-chan struct{}, what string, start time.Time) {
	t.Helper()
	select {
	case <-wake:
		t.Logf("notified %v after the %s's commit started", time.Since(start), what)
	case <-time.After(5 * time.Second):
		t.Fatalf("no notification for a committed %s", what)
	}
	select {
	case <-wake:
		t.Fatalf("more than one notification for one %s", what)
	case <-time.After(200 * time.Millisecond):
	}
}
