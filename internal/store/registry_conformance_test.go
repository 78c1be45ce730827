package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestRegistryFeedConformance: the registry change feed (registry.go) on
// both engines. Every registry write appends exactly one change naming its
// vehicle, in its own transaction; failed writes append none; versions are
// contiguous across handles and concurrent writers; old changes are pruned
// by later writes, which a reader sees as a gap.
func TestRegistryFeedConformance(t *testing.T) {
	cases := []struct {
		name string
		f    func(t *testing.T, e storetest.Engine)
	}{
		{"every_registry_write_appends_a_change", testFeedEveryWrite},
		{"failed_writes_append_nothing", testFeedFailedWrites},
		{"after_and_limit", testFeedAfterAndLimit},
		{"another_handle_sees_the_changes", testFeedAnotherHandle},
		{"pruned_changes_leave_a_gap", testFeedPruned},
		{"concurrent_writers_get_contiguous_versions", testFeedConcurrent},
		{"migration_runs_again", testFeedMigrationAgain},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.f(t, e) })
		}
	})
}

// feed reads every change after after, and latest.
func feed(t *testing.T, st store.Store, after int64) ([]store.RegistryChange, int64) {
	t.Helper()
	cs, latest, err := st.RegistryChanges(ctx, after, store.MaxPage)
	if err != nil {
		t.Fatalf("RegistryChanges(%d): %v", after, err)
	}
	return cs, latest
}

// wantFeed asserts the changes after after name vehicles, with versions
// after+1, after+2, ... and latest the last of them.
func wantFeed(t *testing.T, st store.Store, after int64, vehicles ...string) []store.RegistryChange {
	t.Helper()
	cs, latest := feed(t, st, after)
	if len(cs) != len(vehicles) || latest != after+int64(len(vehicles)) {
		t.Fatalf("after %d: %d changes, latest %d; want %d changes %v, latest %d: %+v", after, len(cs), latest, len(vehicles), vehicles, after+int64(len(vehicles)), cs)
	}
	for i, c := range cs {
		if c.Version != after+int64(i)+1 || c.VehicleID != vehicles[i] {
			t.Fatalf("change %d = %+v, want version %d vehicle %s", i, c, after+int64(i)+1, vehicles[i])
		}
	}
	return cs
}

func testFeedEveryWrite(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	wantFeed(t, st, 0) // an empty feed: no change, latest 0
	start := time.Now()
	at := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name string
		do   func() error
	}{
		{"CreateVehicle", func() error {
			return st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: at})
		}},
		{"AddVehicleKey", func() error {
			return st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: "T1", KID: "k1", Alg: "Ed25519", Material: make([]byte, 44), CreatedAt: at})
		}},
		{"RetireVehicleKey", func() error { return st.RetireVehicleKey(ctx, "T1", "k1", at) }},
		{"SetVehicleStatus", func() error { return st.SetVehicleStatus(ctx, "T1", store.VehicleSuspended) }},
		{"SealVehicleKey", func() error {
			secret := []byte("0123456789abcdef0123456789abcdef")
			insertClearSecret(t, cfg, "T1", "h1", secret) // as an older version wrote it: no change
			return st.SealVehicleKey(ctx, "T1", "h1", secret, []byte("sealed:opaque"))
		}},
		{"CreateVehicle of another vehicle", func() error {
			return st.CreateVehicle(ctx, store.Vehicle{ID: "T2", Status: store.VehicleActive, CreatedAt: at})
		}},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if _, latest := feed(t, st, 0); latest != int64(i+1) {
			t.Fatalf("after %s the feed is at %d, want %d", s.name, latest, i+1)
		}
	}
	end := time.Now()
	cs := wantFeed(t, st, 0, "T1", "T1", "T1", "T1", "T1", "T2")
	for _, c := range cs {
		// PostgreSQL stamps with the server's clock, here on this machine.
		if c.At.Before(start.Add(-time.Minute)) || c.At.After(end.Add(time.Minute)) {
			t.Fatalf("change %+v stamped outside [%v, %v]", c, start, end)
		}
	}
	// The vehicle status version is its own counter, as before.
	if v, err := st.VehicleStatusVersion(ctx); err != nil || v != 1 {
		t.Fatalf("VehicleStatusVersion = %d, %v; want 1", v, err)
	}
}

func testFeedFailedWrites(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	at := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	key := store.VehicleKey{VehicleID: "T1", KID: "k1", Alg: "Ed25519", Material: make([]byte, 44), CreatedAt: at}
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddVehicleKey(ctx, key); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name string
		err  error
		do   func() error
	}{
		{"vehicle exists", store.ErrConflict, func() error {
			return st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: at})
		}},
		{"kid exists", store.ErrConflict, func() error { return st.AddVehicleKey(ctx, key) }},
		{"clear secret", store.ErrClearSecret, func() error {
			return st.AddVehicleKey(ctx, store.VehicleKey{VehicleID: "T1", KID: "h1", Alg: store.SecretAlg, Material: make([]byte, 32), CreatedAt: at})
		}},
		{"retire unknown key", store.ErrNotFound, func() error { return st.RetireVehicleKey(ctx, "T1", "nope", at) }},
		{"status of unknown vehicle", store.ErrNotFound, func() error { return st.SetVehicleStatus(ctx, "T9", store.VehicleSuspended) }},
		{"seal unknown key", store.ErrNotFound, func() error { return st.SealVehicleKey(ctx, "T1", "nope", []byte("a"), []byte("b")) }},
		{"seal a key that is not that clear secret", store.ErrConflict, func() error { return st.SealVehicleKey(ctx, "T1", "k1", []byte("a"), []byte("b")) }},
	} {
		if err := f.do(); !errors.Is(err, f.err) {
			t.Fatalf("%s: %v, want %v", f.name, err, f.err)
		}
		wantFeed(t, st, 0, "T1", "T1") // unchanged
	}
}

func testFeedAfterAndLimit(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	for i := range 5 {
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: fmt.Sprintf("T%d", i+1), Status: store.VehicleActive, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	cs, latest, err := st.RegistryChanges(ctx, 2, 2)
	if err != nil || len(cs) != 2 || cs[0].Version != 3 || cs[0].VehicleID != "T3" || cs[1].Version != 4 || latest != 5 {
		t.Fatalf("RegistryChanges(2, 2) = %+v, %d, %v; want T3, T4 and latest 5", cs, latest, err)
	}
	wantFeed(t, st, 5)                                             // caught up: nothing, latest 5
	wantFeed(t, st, 3, "T4", "T5")                                 // the rest
	if cs, latest := feed(t, st, 9); len(cs) != 0 || latest != 5 { // a reader ahead of the store (restored) sees latest below its version
		t.Fatalf("after 9: %+v, latest %d", cs, latest)
	}
}

func testFeedAnotherHandle(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	reader := storetest.OpenConfig(t, cfg)
	writer := storetest.OpenConfig(t, cfg) // another process or replica
	if err := writer.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := writer.SetVehicleStatus(ctx, "T1", store.VehicleSuspended); err != nil {
		t.Fatal(err)
	}
	wantFeed(t, reader, 0, "T1", "T1")
}

// backdate moves every stored change two retention periods into the past.
func backdate(t *testing.T, cfg store.Config) {
	t.Helper()
	d := 2 * store.RegistryChangeRetention
	storetest.Exec(t, cfg, `UPDATE registry_changes SET at_us = at_us - ?`, `UPDATE registry_changes SET at = at - $1 * interval '1 microsecond'`, d.Microseconds())
}

func testFeedPruned(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	for _, id := range []string{"T1", "T2", "T3"} {
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: id, Status: store.VehicleActive, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	backdate(t, cfg)
	// Reading prunes nothing: old changes stay until the next write.
	wantFeed(t, st, 0, "T1", "T2", "T3")
	if err := st.SetVehicleStatus(ctx, "T1", store.VehicleSuspended); err != nil {
		t.Fatal(err)
	}
	// The old changes are gone, the new one kept: a reader at version 1
	// finds its next change is not 2 (a gap), a reader at 3 misses nothing.
	cs, latest := feed(t, st, 0)
	if len(cs) != 1 || cs[0].Version != 4 || cs[0].VehicleID != "T1" || latest != 4 {
		t.Fatalf("after pruning: %+v, latest %d; want only version 4", cs, latest)
	}
	wantFeed(t, st, 3, "T1")
}

func testFeedConcurrent(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	handles := []store.Store{storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)}
	const writers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := handles[w%len(handles)]
			for i := range each {
				id := fmt.Sprintf("W%d-%d", w, i)
				if err := st.CreateVehicle(ctx, store.Vehicle{ID: id, Status: store.VehicleActive, CreatedAt: time.Now()}); err != nil {
					errs <- err
					return
				}
				if err := st.SetVehicleStatus(ctx, id, store.VehicleSuspended); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	cs, latest := feed(t, handles[0], 0)
	if latest != 2*writers*each || len(cs) != 2*writers*each {
		t.Fatalf("%d changes, latest %d; want %d", len(cs), latest, 2*writers*each)
	}
	per := map[string]int{}
	for i, c := range cs {
		if c.Version != int64(i+1) {
			t.Fatalf("change %d has version %d: not contiguous", i, c.Version)
		}
		per[c.VehicleID]++
	}
	for id, n := range per {
		if n != 2 {
			t.Fatalf("vehicle %s has %d changes, want 2", id, n)
		}
	}
}

// testFeedMigrationAgain: migration 0008 can run again on a store that has
// it (tests roll a store back by deleting schema_migrations rows) and keeps
// the feed's version.
func testFeedMigrationAgain(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 8`, `DELETE FROM schema_migrations WHERE version >= 8`)
	st = storetest.OpenConfig(t, cfg)
	if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
		t.Fatalf("schema version %d, %v", v, err)
	}
	wantFeed(t, st, 0, "T1")
}
