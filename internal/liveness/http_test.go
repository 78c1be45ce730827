package liveness

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/internal/principal"
)

// fakeRegistry shows the vehicles of one carrier, as authz would to a
// client of that carrier.
type fakeRegistry struct {
	all     []RegisteredVehicle // by id
	carrier string
	err     error
}

func (f fakeRegistry) Vehicles(_ *http.Request, after string, limit int) ([]RegisteredVehicle, error) {
	var out []RegisteredVehicle
	for _, v := range f.all {
		if v.Carrier == f.carrier && v.ID > after && len(out) < limit {
			out = append(out, v)
		}
	}
	return out, f.err
}

func (f fakeRegistry) Vehicle(_ *http.Request, id string) (RegisteredVehicle, bool, error) {
	for _, v := range f.all {
		if v.ID == id && v.Carrier == f.carrier {
			return v, true, f.err
		}
	}
	return RegisteredVehicle{}, false, f.err
}

func readAPI(t *testing.T, reg Registry) (*ReadAPI, *harness) {
	t.Helper()
	h := newHarness(t, Config{}, nil)
	client := func(*http.Request) (principal.Principal, bool) {
		return principal.Principal{Kind: principal.Client, ID: "tms-a"}, true
	}
	return &ReadAPI{Monitor: h.m, Peer: client, Registry: reg}, h
}

func get(t *testing.T, a *ReadAPI, pattern, target string, v any) int {
	t.Helper()
	mux := http.NewServeMux()
	for p, h := range a.Routes() {
		mux.Handle(p, h)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	if v != nil && w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v", target, err)
		}
	}
	return w.Code
}

var fleetAB = fakeRegistry{carrier: "acme", all: []RegisteredVehicle{
	{ID: "a-1", Carrier: "acme", Status: "active"},
	{ID: "a-2", Carrier: "acme", Status: "active"},
	{ID: "a-3", Carrier: "acme", Status: "suspended"},
	{ID: "b-1", Carrier: "bolt", Status: "active"},
}}

// TestVehicleStateNeverConnected: a registered vehicle of the caller's
// carrier that never connected is 200 never_connected; another carrier's
// and an unknown id are the same 404.
func TestVehicleStateNeverConnected(t *testing.T) {
	a, h := readAPI(t, fleetAB)
	h.connect("a-1", 0)
	var sv StateView
	if code := get(t, a, "", "/v1/vehicles/a-2/state", &sv); code != http.StatusOK || sv.State != NeverConnected {
		t.Fatalf("a-2: %d %+v, want 200 never_connected", code, sv)
	}
	if code := get(t, a, "", "/v1/vehicles/a-1/state", &sv); code != http.StatusOK || sv.State != Online {
		t.Fatalf("a-1: %d %+v, want 200 online", code, sv)
	}
	for _, id := range []string{"b-1", "nobody"} {
		if code := get(t, a, "", "/v1/vehicles/"+id+"/state", nil); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", id, code)
		}
	}
}

// TestFleetStateShowsOnlyTheCallersVehicles: the fleet document lists the
// caller's vehicles, connected or not, and counts only those.
func TestFleetStateShowsOnlyTheCallersVehicles(t *testing.T) {
	a, h := readAPI(t, fleetAB)
	h.connect("a-1", 0)
	h.connect("b-1", 0) // connected, but another carrier's
	var doc struct {
		Counts   map[string]int `json:"counts"`
		Vehicles []StateView    `json:"vehicles"`
	}
	if code := get(t, a, "", "/v1/fleet/state", &doc); code != http.StatusOK {
		t.Fatalf("fleet: %d", code)
	}
	var ids []string
	for _, v := range doc.Vehicles {
		ids = append(ids, v.VehicleID)
	}
	if !slices.Equal(ids, []string{"a-1", "a-2", "a-3"}) {
		t.Errorf("vehicles %v, want a-1 a-2 a-3", ids)
	}
	if doc.Counts["online"] != 1 || doc.Counts["never_connected"] != 2 || len(doc.Counts) != 2 {
		t.Errorf("counts %v, want online 1, never_connected 2", doc.Counts)
	}
}

// TestVehicleListPages: cursor pagination over the caller's vehicles; a
// malformed cursor or limit is 400 and a registry failure 503.
func TestVehicleListPages(t *testing.T) {
	a, _ := readAPI(t, fleetAB)
	type page struct {
		Vehicles   []VehicleView `json:"vehicles"`
		NextCursor string        `json:"next_cursor"`
	}
	var got []string
	target := "/v1/vehicles?limit=2"
	for range 5 {
		var p page
		if code := get(t, a, "", target, &p); code != http.StatusOK {
			t.Fatalf("%s: %d", target, code)
		}
		for _, v := range p.Vehicles {
			got = append(got, v.ID+"/"+v.State.State.String())
		}
		if p.NextCursor == "" {
			break
		}
		target = "/v1/vehicles?limit=2&cursor=" + p.NextCursor
	}
	if want := []string{"a-1/never_connected", "a-2/never_connected", "a-3/never_connected"}; !slices.Equal(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=***", "cursor=" + strings.Repeat("A", 200)} {
		if code := get(t, a, "", "/v1/vehicles?"+q, nil); code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}
	broken := fleetAB
	broken.err = errors.New("store down")
	b, _ := readAPI(t, broken)
	for _, p := range []string{"/v1/vehicles", "/v1/fleet/state", "/v1/vehicles/a-1/state"} {
		if code := get(t, b, "", p, nil); code != http.StatusServiceUnavailable {
			t.Errorf("%s with the registry down: %d, want 503", p, code)
		}
	}
}
