package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/problem"
)

// TestAttackTMSReadWithoutAReaderCertificate: a TMS read route answers
// only TMS clients and operators, and only for an {id} that can name a
// vehicle; every other caller gets its problem code and the handler never
// runs.
func TestAttackTMSReadWithoutAReaderCertificate(t *testing.T) {
	var ran int
	mux := http.NewServeMux()
	h := func(w http.ResponseWriter, r *http.Request) {
		ran++
		WriteJSON(w, r, http.StatusOK, map[string]string{"id": r.PathValue("id")})
	}
	// The test's peer function trusts a header; in the gateway it is
	// pki.Peer, the verified certificate.
	peer := func(r *http.Request) (principal.Principal, bool) {
		p, err := principal.ParseURI(r.Header.Get("X-Test-Peer"))
		return p, err == nil
	}
	mux.Handle("GET /v1/vehicles/{id}/state", TMSRead(peer, h))
	mux.Handle("GET /v1/fleet/state", TMSRead(peer, h))

	for _, tc := range []struct {
		name, peer, path string
		status           int
		code             string // "" when the handler runs
	}{
		{"no client certificate", "", "/v1/vehicles/truck-1/state", 403, codes.Forbidden},
		{"a vehicle certificate reads another vehicle's state", "urn:fifthwheel:vehicle:truck-2", "/v1/vehicles/truck-1/state", 403, codes.Forbidden},
		{"a vehicle certificate reads the fleet", "urn:fifthwheel:vehicle:truck-2", "/v1/fleet/state", 403, codes.Forbidden},
		{"a gateway certificate", "urn:fifthwheel:gateway:gw-1", "/v1/fleet/state", 403, codes.Forbidden},
		{"vehicle id with a path separator, escaped", "urn:fifthwheel:client:acme", "/v1/vehicles/..%2Fetc/state", 400, codes.BadVehicleID},
		{"vehicle id over the length limit", "urn:fifthwheel:client:acme", "/v1/vehicles/" + strings.Repeat("a", principal.MaxIDLen+1) + "/state", 400, codes.BadVehicleID},
		{"vehicle id with a quote", "urn:fifthwheel:operator:alice", "/v1/vehicles/truck'1/state", 400, codes.BadVehicleID},
		{"TMS client", "urn:fifthwheel:client:acme", "/v1/vehicles/truck-1/state", 200, ""},
		{"operator, fleet", "urn:fifthwheel:operator:alice", "/v1/fleet/state", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ran
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.peer != "" {
				r.Header.Set("X-Test-Peer", tc.peer)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code == "" {
				if ran != before+1 {
					t.Fatal("the handler did not run")
				}
				return
			}
			var b problem.Body
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Code != tc.code {
				t.Fatalf("problem %+v (%v), want code %q", b, err, tc.code)
			}
			if ran != before {
				t.Fatal("the handler ran for a refused request")
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, httptest.NewRequest(http.MethodGet, "/x", nil), http.StatusCreated, map[string]any{"a": "<b>", "n": 1})
	if w.Code != http.StatusCreated || w.Body.String() != `{"a":"<b>","n":1}`+"\n" /* no HTML escaping: frames are returned byte for byte */ {
		t.Fatalf("%d %q", w.Code, w.Body)
	}
	for k, v := range map[string]string{"Content-Type": ContentType, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if got := w.Header().Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}

	// A value that does not encode: a bare 500 problem, nothing of the value.
	w = httptest.NewRecorder()
	WriteJSON(w, httptest.NewRequest(http.MethodGet, "/x", nil), http.StatusOK, map[string]any{"c": make(chan int)})
	var b problem.Body
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != problem.ContentType {
		t.Fatalf("%d %q %v", w.Code, w.Body, err)
	}
}
