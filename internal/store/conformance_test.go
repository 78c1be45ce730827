package store_test

import (
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

// The conformance suite: identical cases against both engines.

func TestConformance(t *testing.T) {
	cases := []struct {
		name string
		f    func(t *testing.T, e storetest.Engine)
	}{
		{"migrated", testMigrated},
		{"events", testEvents},
		{"events_batch_atomic", testEventsBatchAtomic},
		{"vehicles", testVehicles},
		{"clients", testClients},
		{"settings", testSettings},
		{"concurrent_writers", testConcurrentWriters},
		{"survives_reopen", testSurvivesReopen},
		{"schema_too_new", testSchemaTooNew},
		{"closed", testClosed},
	}
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { c.f(t, e) })
		}
	})
}

var ctx = context.Background()

func testMigrated(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st := storetest.OpenConfig(t, cfg)
	v, err := st.SchemaVersion(ctx)
	if err != nil || v != store.LatestVersion() {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, store.LatestVersion())
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	// A second open of a current store migrates nothing and succeeds.
	again := storetest.OpenConfig(t, store.Config{DataDir: cfg.DataDir, URL: cfg.URL, NoMigrate: true})
	if v2, _ := again.SchemaVersion(ctx); v2 != v {
		t.Fatalf("reopened at version %d, want %d", v2, v)
	}
	if st.Engine() != e.Name {
		t.Fatalf("Engine() = %q, want %q", st.Engine(), e.Name)
	}
}

func ev(id, code, subject string, at time.Time) store.EventRow {
	return store.EventRow{ID: id, Time: at, Class: "test", Verdict: "reject", Code: code, Subject: subject, Body: []byte(`{"id":"` + id + `"}`)}
}

func testEvents(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 123456000, time.UTC)
	in := []store.EventRow{ev("a", "bad_signature", "urn:fifthwheel:vehicle:T1", t0), ev("b", "replay", "urn:fifthwheel:vehicle:T2", t0.Add(time.Second)),
		ev("c", "bad_signature", "urn:fifthwheel:vehicle:T2", t0.Add(2*time.Second))}
	if err := st.AppendEvents(ctx, in); err != nil {
		t.Fatal(err)
	}
	all, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil || len(all) != 3 {
		t.Fatalf("ListEvents = %d rows, %v", len(all), err)
	}
	for i, r := range all {
		if r.ID != in[i].ID || !r.Time.Equal(in[i].Time) || r.Code != in[i].Code || string(r.Body) != string(in[i].Body) || r.Subject != in[i].Subject {
			t.Errorf("row %d = %+v, want %+v", i, r, in[i])
		}
		if i > 0 && r.Seq <= all[i-1].Seq {
			t.Errorf("seq not increasing: %d after %d", r.Seq, all[i-1].Seq)
		}
	}
	byCode, _ := st.ListEvents(ctx, store.EventFilter{Code: "bad_signature"})
	if len(byCode) != 2 || byCode[0].ID != "a" || byCode[1].ID != "c" {
		t.Errorf("filter by code: %v", ids(byCode))
	}
	bySubj, _ := st.ListEvents(ctx, store.EventFilter{Subject: "urn:fifthwheel:vehicle:T2", Code: "replay"})
	if len(bySubj) != 1 || bySubj[0].ID != "b" {
		t.Errorf("filter by subject+code: %v", ids(bySubj))
	}
	page, _ := st.ListEvents(ctx, store.EventFilter{AfterSeq: all[0].Seq, Limit: 1})
	if len(page) != 1 || page[0].ID != "b" {
		t.Errorf("page after first: %v", ids(page))
	}
}

func ids(rs []store.EventRow) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// A batch with a duplicate id is refused as a whole: nothing of it lands.
func testEventsBatchAtomic(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	now := time.Now().UTC()
	if err := st.AppendEvents(ctx, []store.EventRow{ev("x", "c", "s", now)}); err != nil {
		t.Fatal(err)
	}
	err := st.AppendEvents(ctx, []store.EventRow{ev("y", "c", "s", now), ev("x", "c", "s", now)})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate id: err = %v, want ErrConflict", err)
	}
	all, _ := st.ListEvents(ctx, store.EventFilter{})
	if len(all) != 1 || all[0].ID != "x" {
		t.Fatalf("after refused batch: %v, want [x]", ids(all))
	}
}

func testVehicles(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	v := store.Vehicle{ID: "TRK-2", Status: "active", CreatedAt: at, Labels: map[string]string{"depot": "DAL"}, Carrier: "acme-freight"}
	if err := st.CreateVehicle(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "TRK-1", Status: "active", CreatedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVehicle(ctx, v); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate vehicle: %v, want ErrConflict", err)
	}
	got, err := st.GetVehicle(ctx, "TRK-2")
	if err != nil || got.ID != v.ID || got.Status != v.Status || !got.CreatedAt.Equal(at) || got.Labels["depot"] != "DAL" || got.Carrier != "acme-freight" {
		t.Fatalf("GetVehicle = %+v, %v", got, err)
	}
	if _, err := st.GetVehicle(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing vehicle: %v, want ErrNotFound", err)
	}
	list, err := st.ListVehicles(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "TRK-1" || list[0].Carrier != "" || list[1].ID != "TRK-2" || list[1].Carrier != "acme-freight" {
		t.Fatalf("ListVehicles = %+v, %v", list, err)
	}
	v0, err := st.VehicleStatusVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetVehicleStatus(ctx, "TRK-1", "suspended"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetVehicle(ctx, "TRK-1"); got.Status != "suspended" {
		t.Fatalf("status = %q", got.Status)
	}
	// The status version moves with the change (replicas poll it), and
	// only with a change that happened.
	if v1, err := st.VehicleStatusVersion(ctx); err != nil || v1 <= v0 {
		t.Fatalf("VehicleStatusVersion after a suspension = %d, %v; want > %d", v1, err, v0)
	}
	v1, _ := st.VehicleStatusVersion(ctx)
	if err := st.SetVehicleStatus(ctx, "nope", "suspended"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("status of missing vehicle: %v, want ErrNotFound", err)
	}
	if v2, err := st.VehicleStatusVersion(ctx); err != nil || v2 != v1 {
		t.Fatalf("VehicleStatusVersion after a refused change = %d, %v; want %d", v2, err, v1)
	}
}

func testClients(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	c := store.Client{ID: "acme", Name: "ACME TMS", Status: "active", CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
		Carrier: "acme-freight", Roles: []string{"dispatcher", "planner"}, AllowedSources: []string{"192.0.2.0/24"}, Hours: "06:00-20:00"}
	if err := st.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateClient(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate client: %v", err)
	}
	got, err := st.GetClient(ctx, "acme")
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("GetClient = %+v, %v; want %+v", got, err, c)
	}
	if _, err := st.GetClient(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing client: %v", err)
	}
	if list, err := st.ListClients(ctx); err != nil || len(list) != 1 || !reflect.DeepEqual(list[0], c) {
		t.Fatalf("ListClients = %v, %v", list, err)
	}
}

func testSettings(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	if _, err := st.GetSetting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing setting: %v", err)
	}
	for _, v := range []string{"one", "two"} {
		if err := st.PutSetting(ctx, "k", []byte(v)); err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetSetting(ctx, "k"); err != nil || string(got) != v {
			t.Fatalf("GetSetting = %q, %v; want %q", got, err, v)
		}
	}
}

func testConcurrentWriters(t *testing.T, e storetest.Engine) {
	st := e.Open(t)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	errc := make(chan error, writers*each*2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				errc <- st.AppendEvents(ctx, []store.EventRow{ev(id, "c", "s", time.Now())})
				if i%10 == 0 {
					errc <- st.PutSetting(ctx, fmt.Sprintf("w%d", w), []byte(id))
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := st.ListEvents(ctx, store.EventFilter{Limit: store.MaxPage})
	if err != nil || len(all) != writers*each {
		t.Fatalf("got %d events, %v; want %d", len(all), err, writers*each)
	}
	seen := map[string]bool{}
	for i, r := range all {
		if seen[r.ID] {
			t.Fatalf("event %s stored twice", r.ID)
		}
		seen[r.ID] = true
		if i > 0 && r.Seq <= all[i-1].Seq {
			t.Fatalf("seq not strictly increasing at %d", i)
		}
	}
}

func testSurvivesReopen(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateVehicle(ctx, store.Vehicle{ID: "V", Status: "active", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2 := storetest.OpenConfig(t, cfg)
	if _, err := st2.GetVehicle(ctx, "V"); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
}

func testClosed(t *testing.T, e storetest.Engine) {
	cfg := e.New(t)
	st, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := st.PutSetting(ctx, "k", []byte("v")); err == nil {
		t.Fatal("write after Close succeeded")
	}
}
