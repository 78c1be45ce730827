package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestAuthorityConformance: the TMS access registry (authority.go) on both
// engines: clients' carriers, roles and access, operators, vehicles'
// carriers and their pages, token keys, and the authority version that
// every change of authority moves (and a refused one does not).
func TestAuthorityConformance(t *testing.T) {
	cases := []struct {
		name string
		f    func(t *testing.T, e storetest.Engine)
	}{
		{"client_changes_move_the_version", testAuthClientChanges},
		{"operators", testAuthOperators},
		{"refused_changes_move_nothing", testAuthRefused},
		{"another_handle_sees_the_version", testAuthAnotherHandle},
		{"vehicle_carriers_and_pages", testAuthVehiclePages},
		{"join_token_names_a_carrier", testAuthJoinTokenCarrier},
		{"token_keys_rotate_and_prune", testTokenKeys},
		{"token_keys_refused", testTokenKeysRefused},
		{"first_token_key_race_has_one_winner", testTokenKeyRace},
		{"rotation_race_has_one_winner", testTokenKeyRotationRace},
		{"migration_runs_again", testAuthMigrationAgain},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.f(t, e) })
		}
	})
}

// authVersion reads the authority version.
func authVersion(t *testing.T, st store.Store) int64 {
	t.Helper()
	v, err := st.AuthorityVersion(ctx)
	if err != nil {
		t.Fatalf("AuthorityVersion: %v", err)
	}
	return v
}

func testAuthClientChanges(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	if v := authVersion(t, st); v != 0 {
		t.Fatalf("a new store's authority version is %d, want 0", v)
	}
	at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	want := store.Client{ID: "acme", Name: "ACME", Status: store.ClientActive, CreatedAt: at, Carrier: "acme-freight"}
	steps := []struct {
		name   string
		do     func() error
		change func()
	}{
		{"CreateClient", func() error { return st.CreateClient(ctx, want) }, func() {}},
		{"SetClientRoles", func() error { return st.SetClientRoles(ctx, "acme", []string{"dispatcher", "planner"}) },
			func() { want.Roles = []string{"dispatcher", "planner"} }},
		{"SetClientAccess", func() error {
			return st.SetClientAccess(ctx, "acme", []string{"192.0.2.0/24", "2001:db8::/32"}, "06:00-20:00")
		},
			func() { want.AllowedSources, want.Hours = []string{"192.0.2.0/24", "2001:db8::/32"}, "06:00-20:00" }},
		{"SetClientStatus", func() error { return st.SetClientStatus(ctx, "acme", store.ClientSuspended) },
			func() { want.Status = store.ClientSuspended }},
		{"SetClientRoles to none", func() error { return st.SetClientRoles(ctx, "acme", nil) }, func() { want.Roles = nil }},
		{"SetClientAccess to any", func() error { return st.SetClientAccess(ctx, "acme", nil, "") },
			func() { want.AllowedSources, want.Hours = nil, "" }},
		{"SetClientStatus back", func() error { return st.SetClientStatus(ctx, "acme", store.ClientActive) },
			func() { want.Status = store.ClientActive }},
		{"SetClientCarrier", func() error { return st.SetClientCarrier(ctx, "acme", "beta-haul") },
			func() { want.Carrier = "beta-haul" }},
	}
	for i, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		s.change()
		if v := authVersion(t, st); v != int64(i+1) {
			t.Fatalf("after %s the authority version is %d, want %d", s.name, v, i+1)
		}
		got, err := st.GetClient(ctx, "acme")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("after %s: GetClient = %+v, %v; want %+v", s.name, got, err, want)
		}
	}
	// A client with no roles reads as none, not as an empty role.
	if err := st.CreateClient(ctx, store.Client{ID: "bare", Name: "bare", Status: store.ClientActive, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	list, err := st.ListClients(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "acme" || list[1].ID != "bare" || len(list[1].Roles) != 0 || list[1].Carrier != "" || len(list[1].AllowedSources) != 0 {
		t.Fatalf("ListClients = %+v, %v", list, err)
	}
	// Vehicle status changes are not authority changes.
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetVehicleStatus(ctx, "T1", store.VehicleSuspended); err != nil {
		t.Fatal(err)
	}
	if v := authVersion(t, st); v != int64(len(steps)+1) {
		t.Fatalf("authority version %d, want %d", v, len(steps)+1)
	}
}

func testAuthOperators(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	at := time.Date(2026, 12, 5, 1, 2, 3, 4000, time.UTC)
	o := store.Operator{ID: "alice", Name: "Alice", Status: store.OperatorActive, CreatedAt: at}
	if err := st.CreateOperator(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOperator(ctx, store.Operator{ID: "bob", Name: "Bob", Status: store.OperatorActive, Roles: []string{"auditor"}, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOperator(ctx, o); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate operator: %v, want ErrConflict", err)
	}
	got, err := st.GetOperator(ctx, "alice")
	if err != nil || !reflect.DeepEqual(got, o) {
		t.Fatalf("GetOperator = %+v, %v; want %+v", got, err, o)
	}
	if err := st.SetOperatorRoles(ctx, "alice", []string{"approver", "security-admin"}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOperatorStatus(ctx, "alice", store.OperatorSuspended); err != nil {
		t.Fatal(err)
	}
	got, err = st.GetOperator(ctx, "alice")
	if err != nil || got.Status != store.OperatorSuspended || !reflect.DeepEqual(got.Roles, []string{"approver", "security-admin"}) {
		t.Fatalf("GetOperator after changes = %+v, %v", got, err)
	}
	list, err := st.ListOperators(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "alice" || list[1].ID != "bob" || !reflect.DeepEqual(list[1].Roles, []string{"auditor"}) {
		t.Fatalf("ListOperators = %+v, %v", list, err)
	}
	if v := authVersion(t, st); v != 4 {
		t.Fatalf("authority version %d after 2 creations and 2 changes, want 4", v)
	}
}

func testAuthRefused(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	at := time.Now()
	if err := st.CreateClient(ctx, store.Client{ID: "acme", Name: "ACME", Status: store.ClientActive, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateOperator(ctx, store.Operator{ID: "alice", Name: "Alice", Status: store.OperatorActive, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "T1", Status: store.VehicleActive, CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	before := authVersion(t, st)
	_, feedBefore := feed(t, st, 0)
	for _, f := range []struct {
		name string
		err  error
		do   func() error
	}{
		{"client exists", store.ErrConflict, func() error {
			return st.CreateClient(ctx, store.Client{ID: "acme", Name: "x", Status: store.ClientActive, CreatedAt: at})
		}},
		{"operator exists", store.ErrConflict, func() error {
			return st.CreateOperator(ctx, store.Operator{ID: "alice", Name: "x", Status: store.OperatorActive, CreatedAt: at})
		}},
		{"status of unknown client", store.ErrNotFound, func() error { return st.SetClientStatus(ctx, "nope", store.ClientSuspended) }},
		{"roles of unknown client", store.ErrNotFound, func() error { return st.SetClientRoles(ctx, "nope", []string{"planner"}) }},
		{"carrier of unknown client", store.ErrNotFound, func() error { return st.SetClientCarrier(ctx, "nope", "c1") }},
		{"access of unknown client", store.ErrNotFound, func() error { return st.SetClientAccess(ctx, "nope", nil, "") }},
		{"status of unknown operator", store.ErrNotFound, func() error { return st.SetOperatorStatus(ctx, "nope", store.OperatorSuspended) }},
		{"roles of unknown operator", store.ErrNotFound, func() error { return st.SetOperatorRoles(ctx, "nope", nil) }},
		{"carrier of unknown vehicle", store.ErrNotFound, func() error { return st.SetVehicleCarrier(ctx, "nope", "c1") }},
		{"unknown operator", store.ErrNotFound, func() error { _, err := st.GetOperator(ctx, "nope"); return err }},
	} {
		if err := f.do(); !errors.Is(err, f.err) {
			t.Fatalf("%s: %v, want %v", f.name, err, f.err)
		}
		if v := authVersion(t, st); v != before {
			t.Fatalf("%s moved the authority version from %d to %d", f.name, before, v)
		}
		if _, latest := feed(t, st, 0); latest != feedBefore {
			t.Fatalf("%s moved the registry feed", f.name)
		}
	}
	if c, err := st.GetClient(ctx, "acme"); err != nil || c.Name != "ACME" {
		t.Fatalf("the client changed: %+v, %v", c, err)
	}
}

func testAuthAnotherHandle(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	reader := storetest.OpenConfig(t, cfg)
	writer := storetest.OpenConfig(t, cfg) // another replica, or the CLI
	if err := writer.CreateClient(ctx, store.Client{ID: "acme", Name: "ACME", Status: store.ClientActive, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := writer.SetClientStatus(ctx, "acme", store.ClientSuspended); err != nil {
		t.Fatal(err)
	}
	if v := authVersion(t, reader); v != 2 {
		t.Fatalf("the other handle reads authority version %d, want 2", v)
	}
	if c, err := reader.GetClient(ctx, "acme"); err != nil || c.Status != store.ClientSuspended {
		t.Fatalf("the other handle reads %+v, %v", c, err)
	}
}

func testAuthVehiclePages(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	at := time.Now()
	fleet := map[string]string{"A1": "a", "A2": "a", "A3": "a", "B1": "b", "B2": "b", "N1": ""}
	for id, c := range fleet {
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: id, Status: store.VehicleActive, CreatedAt: at, Carrier: c}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(scope store.CarrierScope, after string, limit int) []string {
		t.Helper()
		vs, err := st.ListVehiclesPage(ctx, scope, after, limit)
		if err != nil {
			t.Fatalf("ListVehiclesPage: %v", err)
		}
		ids := []string{}
		for _, v := range vs {
			if scope != store.AllCarriers() && v.Carrier != fleet[v.ID] {
				t.Fatalf("vehicle %s read with carrier %q, stored %q", v.ID, v.Carrier, fleet[v.ID])
			}
			ids = append(ids, v.ID)
		}
		return ids
	}
	for _, c := range []struct {
		name  string
		scope store.CarrierScope
		after string
		limit int
		want  []string
	}{
		{"carrier a", store.OnlyCarrier("a"), "", 0, []string{"A1", "A2", "A3"}},
		{"carrier a, first page", store.OnlyCarrier("a"), "", 2, []string{"A1", "A2"}},
		{"carrier a, next page", store.OnlyCarrier("a"), "A2", 2, []string{"A3"}},
		{"carrier a, past the end", store.OnlyCarrier("a"), "A3", 2, []string{}},
		{"carrier b", store.OnlyCarrier("b"), "", 0, []string{"B1", "B2"}},
		{"a carrier that is a prefix matches nothing", store.OnlyCarrier("A"), "", 0, []string{}},
		{"unknown carrier", store.OnlyCarrier("zz"), "", 0, []string{}},
		{"no carrier sees nothing", store.OnlyCarrier(""), "", 0, []string{}},
		{"the zero scope sees nothing", store.CarrierScope{}, "", 0, []string{}},
		{"every carrier", store.AllCarriers(), "", 0, []string{"A1", "A2", "A3", "B1", "B2", "N1"}},
		{"every carrier, after A3", store.AllCarriers(), "A3", 2, []string{"B1", "B2"}},
	} {
		if got := page(c.scope, c.after, c.limit); !reflect.DeepEqual(got, c.want) {
			t.Fatalf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	// Moving a vehicle to another carrier is an authority change and a
	// registry change.
	v0 := authVersion(t, st)
	_, f0 := feed(t, st, 0)
	if err := st.SetVehicleCarrier(ctx, "N1", "b"); err != nil {
		t.Fatal(err)
	}
	fleet["N1"] = "b"
	if got := page(store.OnlyCarrier("b"), "", 0); !reflect.DeepEqual(got, []string{"B1", "B2", "N1"}) {
		t.Fatalf("carrier b after the move: %v", got)
	}
	if v := authVersion(t, st); v != v0+1 {
		t.Fatalf("SetVehicleCarrier: authority version %d, want %d", v, v0+1)
	}
	wantFeed(t, st, f0, "N1")
}

// TestVehiclePageLimit: a page is bounded by MaxPage whatever the caller
// asks, and 0 asks for DefaultPage. (SQLite only: the bound is computed
// before the engine, and DefaultPage+1 rows are enough to see it.)
func TestVehiclePageLimit(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	for i := range store.DefaultPage + 1 {
		if err := st.CreateVehicle(ctx, store.Vehicle{ID: fmt.Sprintf("V%04d", i), Status: store.VehicleActive, CreatedAt: time.Now(), Carrier: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	if vs, err := st.ListVehiclesPage(ctx, store.OnlyCarrier("c"), "", 0); err != nil || len(vs) != store.DefaultPage {
		t.Fatalf("limit 0: %d vehicles, %v; want %d", len(vs), err, store.DefaultPage)
	}
	if vs, err := st.ListVehiclesPage(ctx, store.OnlyCarrier("c"), "", -1); err != nil || len(vs) != store.DefaultPage {
		t.Fatalf("limit -1: %d vehicles, %v; want %d", len(vs), err, store.DefaultPage)
	}
	if vs, err := st.ListVehiclesPage(ctx, store.OnlyCarrier("c"), "", store.MaxPage+5); err != nil || len(vs) != store.DefaultPage+1 {
		t.Fatalf("limit past MaxPage: %d vehicles, %v; want all %d", len(vs), err, store.DefaultPage+1)
	}
}

func testAuthJoinTokenCarrier(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	now := time.Now().UTC().Truncate(time.Second)
	for _, tok := range []store.JoinTokenRow{
		{Hash: bytes.Repeat([]byte{1}, 32), VehicleID: "T1", Carrier: "acme-freight", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
		{Hash: bytes.Repeat([]byte{2}, 32), VehicleID: "T2", CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
	} {
		if err := st.CreateJoinToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := st.GetJoinToken(ctx, tok.Hash)
		if err != nil || got.Carrier != tok.Carrier || got.VehicleID != tok.VehicleID {
			t.Fatalf("GetJoinToken = %+v, %v; want carrier %q", got, err, tok.Carrier)
		}
	}
}

// tokenKey returns a key named kid created at at.
func tokenKey(kid string, at time.Time) store.TokenKey {
	return store.TokenKey{KID: kid, Alg: "EdDSA", Public: []byte("pkix:" + kid), Sealed: []byte("sealed:" + kid), CreatedAt: at}
}

func kids(ks []store.TokenKey) []string {
	out := []string{}
	for _, k := range ks {
		out = append(out, k.KID)
	}
	return out
}

func testTokenKeys(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if ks, err := st.ListTokenKeys(ctx); err != nil || len(ks) != 0 {
		t.Fatalf("a new store has keys: %+v, %v", ks, err)
	}
	if err := st.AddTokenKey(ctx, tokenKey("k1", t0), time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	ks, err := st.ListTokenKeys(ctx)
	if err != nil || len(ks) != 1 || !reflect.DeepEqual(ks[0], tokenKey("k1", t0)) {
		t.Fatalf("after the first key: %+v, %v", ks, err)
	}
	// A second "first key" loses: an active key exists.
	if err := st.AddTokenKey(ctx, tokenKey("k2", t0.Add(time.Minute)), time.Time{}, time.Time{}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a first key beside an active one: %v, want ErrConflict", err)
	}
	// Rotation: k2 becomes active, k1 retired and published until its last
	// token expires.
	t1, until1 := t0.Add(time.Hour), t0.Add(time.Hour+15*time.Minute)
	if err := st.AddTokenKey(ctx, tokenKey("k2", t1), t1, until1); err != nil {
		t.Fatal(err)
	}
	t2, until2 := t1.Add(time.Hour), t1.Add(time.Hour+15*time.Minute)
	if err := st.AddTokenKey(ctx, tokenKey("k3", t2), t2, until2); err != nil {
		t.Fatal(err)
	}
	ks, err = st.ListTokenKeys(ctx)
	if err != nil || !reflect.DeepEqual(kids(ks), []string{"k3", "k2", "k1"}) {
		t.Fatalf("keys = %v, %v; want newest first", kids(ks), err)
	}
	if !ks[0].RetiredAt.IsZero() || !ks[0].PublishUntil.IsZero() {
		t.Fatalf("the new key is not active: %+v", ks[0])
	}
	if !ks[1].RetiredAt.Equal(t2) || !ks[1].PublishUntil.Equal(until2) {
		t.Fatalf("k2 = %+v; want retired at %v, published until %v", ks[1], t2, until2)
	}
	if !ks[2].RetiredAt.Equal(t1) || !ks[2].PublishUntil.Equal(until1) { // a retired key keeps its first retirement
		t.Fatalf("k1 = %+v; want retired at %v, published until %v", ks[2], t1, until1)
	}
	if !bytes.Equal(ks[0].Sealed, []byte("sealed:k3")) || !bytes.Equal(ks[0].Public, []byte("pkix:k3")) || ks[0].Alg != "EdDSA" {
		t.Fatalf("k3 read back as %+v", ks[0])
	}
	// Pruning: nothing before k1's publication ends; at it, k1; the active
	// key never.
	for _, p := range []struct {
		now  time.Time
		n    int
		left []string
	}{
		{until1.Add(-time.Microsecond), 0, []string{"k3", "k2", "k1"}},
		{until1, 1, []string{"k3", "k2"}},
		{until2.Add(time.Hour * 24 * 365), 1, []string{"k3"}},
		{until2.Add(time.Hour * 24 * 365), 0, []string{"k3"}},
	} {
		n, err := st.PruneTokenKeys(ctx, p.now)
		if err != nil || n != p.n {
			t.Fatalf("PruneTokenKeys(%v) = %d, %v; want %d", p.now, n, err, p.n)
		}
		if ks, err := st.ListTokenKeys(ctx); err != nil || !reflect.DeepEqual(kids(ks), p.left) {
			t.Fatalf("after pruning at %v: %v, %v; want %v", p.now, kids(ks), err, p.left)
		}
	}
}

func testTokenKeysRefused(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	t0 := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	if err := st.AddTokenKey(ctx, tokenKey("k1", t0), time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	unsealed := tokenKey("k2", t0)
	unsealed.Sealed = nil
	noPub := tokenKey("k2", t0)
	noPub.Public = nil
	for _, f := range []struct {
		name string
		err  error
		k    store.TokenKey
	}{
		{"unsealed private key", store.ErrClearSecret, unsealed},
		{"no public key", nil, noPub},
		{"kid exists", store.ErrConflict, tokenKey("k1", t0.Add(time.Hour))},
	} {
		err := st.AddTokenKey(ctx, f.k, t0.Add(time.Hour), t0.Add(2*time.Hour))
		if err == nil || (f.err != nil && !errors.Is(err, f.err)) {
			t.Fatalf("%s: %v, want %v", f.name, err, f.err)
		}
		// Nothing changed: k1 alone, still active.
		ks, err := st.ListTokenKeys(ctx)
		if err != nil || len(ks) != 1 || ks[0].KID != "k1" || !ks[0].RetiredAt.IsZero() {
			t.Fatalf("after %s: %+v, %v", f.name, ks, err)
		}
	}
}

// raceKeys runs n AddTokenKey calls at once across two handles and returns
// how many succeeded; every failure must be ErrConflict.
func raceKeys(t *testing.T, cfg store.Config, n int, rotate bool) int {
	t.Helper()
	handles := []store.Store{storetest.OpenConfig(t, cfg), storetest.OpenConfig(t, cfg)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	start := make(chan struct{})
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var retire, until time.Time
			if rotate {
				retire, until = at, at.Add(15*time.Minute)
			}
			err := handles[i%2].AddTokenKey(ctx, tokenKey(fmt.Sprintf("r%d", i), at), retire, until)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("racer %d: %v, want ErrConflict", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	return won
}

func activeKeys(t *testing.T, st store.Store) []string {
	t.Helper()
	ks, err := st.ListTokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range ks {
		if k.RetiredAt.IsZero() {
			out = append(out, k.KID)
		}
	}
	return out
}

func testTokenKeyRace(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	if won := raceKeys(t, cfg, 8, false); won != 1 {
		t.Fatalf("%d replicas created the first key, want exactly 1", won)
	}
	if act := activeKeys(t, storetest.OpenConfig(t, cfg)); len(act) != 1 {
		t.Fatalf("active keys %v, want one", act)
	}
}

// testTokenKeyRotationRace: replicas rotating at once never leave two
// active keys: at least one wins, every loser gets ErrConflict.
func testTokenKeyRotationRace(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	if err := st.AddTokenKey(ctx, tokenKey("k0", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)), time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if won := raceKeys(t, cfg, 8, true); won < 1 {
		t.Fatal("no rotation won")
	}
	if act := activeKeys(t, st); len(act) != 1 || act[0] == "k0" {
		t.Fatalf("active keys after racing rotations: %v, want one new key", act)
	}
}

// testAuthMigrationAgain: migration 0009 can run again on a store that has
// it and keeps what it holds; a client and a vehicle written by an older
// binary (without the new columns' values) read with no carrier and no
// roles.
func testAuthMigrationAgain(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, store.Client{ID: "acme", Name: "ACME", Status: store.ClientActive, CreatedAt: time.Now(), Carrier: "c1", Roles: []string{"planner"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.AddTokenKey(ctx, tokenKey("k1", time.Now()), time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	storetest.Exec(t, cfg, `INSERT INTO clients(id,name,status,created_us) VALUES('old','Old','active',0)`,
		`INSERT INTO clients(id,name,status,created) VALUES('old','Old','active',now())`)
	storetest.Exec(t, cfg, `INSERT INTO vehicles(id,status,created_us) VALUES('T-old','active',0)`,
		`INSERT INTO vehicles(id,status,created) VALUES('T-old','active',now())`)
	storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 9`, `DELETE FROM schema_migrations WHERE version >= 9`)
	st = storetest.OpenConfig(t, cfg)
	if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if c, err := st.GetClient(ctx, "acme"); err != nil || c.Carrier != "c1" || !reflect.DeepEqual(c.Roles, []string{"planner"}) {
		t.Fatalf("client after the migration ran again: %+v, %v", c, err)
	}
	if c, err := st.GetClient(ctx, "old"); err != nil || c.Carrier != "" || c.Roles != nil || c.AllowedSources != nil || c.Hours != "" {
		t.Fatalf("a client of an older binary: %+v, %v", c, err)
	}
	if v, err := st.GetVehicle(ctx, "T-old"); err != nil || v.Carrier != "" {
		t.Fatalf("a vehicle of an older binary: %+v, %v", v, err)
	}
	if v := authVersion(t, st); v != 1 {
		t.Fatalf("authority version %d after the migration ran again, want 1 (kept)", v)
	}
	if act := activeKeys(t, st); len(act) != 1 || act[0] != "k1" {
		t.Fatalf("token keys after the migration ran again: %v", act)
	}
}

// TestPostgresAuthorityNotifies: an authority change committed through one
// store handle (the CLI, another replica) wakes a Listen on
// AuthorityChannel on another, and a refused one does not.
func TestPostgresAuthorityNotifies(t *testing.T) {
	cfg := storetest.PostgresDatabaseConfig(t) // its own database: NOTIFY is per database
	a := storetest.OpenConfig(t, cfg)
	b := storetest.OpenConfig(t, cfg)
	n := b.(store.Notifier)
	ctx := context.Background()
	if err := a.CreateClient(ctx, store.Client{ID: "acme", Name: "ACME", Status: store.ClientActive, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	wake := listen(t, n, store.AuthorityChannel)
	if err := a.SetClientStatus(ctx, "nope", store.ClientSuspended); err == nil {
		t.Fatal("suspended an unknown client")
	}
	start := time.Now()
	if err := a.SetClientStatus(ctx, "acme", store.ClientSuspended); err != nil {
		t.Fatal(err)
	}
	wantOneNotification(t, wake, "client suspension", start)
	start = time.Now()
	if err := a.SetClientRoles(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	wantOneNotification(t, wake, "role removal", start)
}

// TestMigration0009FromVersion8: a store of schema version 8, with a client,
// a vehicle and a join token written then, migrates (SQLite through the
// runner's add-column lines) with them readable: no carrier, no roles, any
// source, any time.
func TestMigration0009FromVersion8(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		st.Close()
		for _, q := range []string{
			`DROP INDEX vehicles_carrier`,
			`ALTER TABLE clients DROP COLUMN carrier`, `ALTER TABLE clients DROP COLUMN roles`,
			`ALTER TABLE clients DROP COLUMN allowed_sources`, `ALTER TABLE clients DROP COLUMN hours`,
			`ALTER TABLE vehicles DROP COLUMN carrier`, `ALTER TABLE join_tokens DROP COLUMN carrier`,
			`DROP TABLE operators`, `DROP TABLE token_keys`, `DROP TABLE authority_state`,
			`DELETE FROM schema_migrations WHERE version >= 9`,
		} {
			storetest.Exec(t, cfg, q, q)
		}
		storetest.Exec(t, cfg, `INSERT INTO clients(id,name,status,created_us) VALUES('old','Old','active',0)`,
			`INSERT INTO clients(id,name,status,created) VALUES('old','Old','active',now())`)
		storetest.Exec(t, cfg, `INSERT INTO vehicles(id,status,created_us) VALUES('T-old','active',0)`,
			`INSERT INTO vehicles(id,status,created) VALUES('T-old','active',now())`)
		hash := bytes.Repeat([]byte{7}, 32)
		storetest.Exec(t, cfg, `INSERT INTO join_tokens(hash,vehicle_id,created_us,expires_us) VALUES(?,'T-new',0,1)`,
			`INSERT INTO join_tokens(hash,vehicle_id,created,expires) VALUES($1,'T-new',now(),now())`, hash)

		st = storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if c, err := st.GetClient(ctx, "old"); err != nil || c.Carrier != "" || c.Roles != nil || c.AllowedSources != nil || c.Hours != "" {
			t.Fatalf("a client of version 8: %+v, %v", c, err)
		}
		if v, err := st.GetVehicle(ctx, "T-old"); err != nil || v.Carrier != "" {
			t.Fatalf("a vehicle of version 8: %+v, %v", v, err)
		}
		if tok, err := st.GetJoinToken(ctx, hash); err != nil || tok.Carrier != "" || tok.VehicleID != "T-new" {
			t.Fatalf("a join token of version 8: %+v, %v", tok, err)
		}
		if v := authVersion(t, st); v != 0 {
			t.Fatalf("authority version %d, want 0", v)
		}
		if err := st.SetClientRoles(ctx, "old", []string{"planner"}); err != nil {
			t.Fatal(err)
		}
		if vs, err := st.ListVehiclesPage(ctx, store.AllCarriers(), "", 0); err != nil || len(vs) != 1 {
			t.Fatalf("ListVehiclesPage after the migration: %+v, %v", vs, err)
		}
	})
}
