package enroll

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/frame"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// noStore fails every call: the refusals below must not reach the store.
type noStore struct{ t *testing.T }

func (s noStore) fail() error { s.t.Error("store reached"); return store.ErrClosed }
func (s noStore) GetVehicle(context.Context, string) (store.Vehicle, error) {
	return store.Vehicle{}, s.fail()
}
func (s noStore) CreateVehicle(context.Context, store.Vehicle) error      { return s.fail() }
func (s noStore) SetVehicleCarrier(context.Context, string, string) error { return s.fail() }
func (s noStore) GetVehicleKey(context.Context, string, string) (store.VehicleKey, error) {
	return store.VehicleKey{}, s.fail()
}
func (s noStore) AddVehicleKey(context.Context, store.VehicleKey) error { return s.fail() }
func (s noStore) GetJoinToken(context.Context, []byte) (store.JoinTokenRow, error) {
	return store.JoinTokenRow{}, s.fail()
}

// TestRefusedBeforeAnyState: requests refused on their form alone answer
// problem+json with their code, record one event each and touch neither
// the CA nor the store. (Refusals that need the CA, and the accepted paths,
// are tested end to end over TLS in cmd/fifthwheel.)
func TestRefusedBeforeAnyState(t *testing.T) {
	mem := &event.MemorySink{}
	api := &API{Store: noStore{t}, Events: event.NewBus(nil, nil, mem)}
	routes := api.Routes()
	for _, tc := range []struct {
		name, route, ctype, body string
		status                   int
		code                     string
	}{
		{"renewal without a verified certificate", "POST /v1/pki/renew", "application/json", `{"csr":"x"}`, 403, codes.Unauthenticated},
		{"enrollment not as JSON", "POST /v1/pki/enroll", "text/plain", `token=x`, 415, codes.UnsupportedMediaType},
		{"enrollment with duplicate members", "POST /v1/pki/enroll", "application/json", `{"token":"a","token":"b","csr":"x"}`, 400, codes.MalformedRequest},
		{"enrollment with trailing data", "POST /v1/pki/enroll", "application/json", `{"token":"a","csr":"x"} {}`, 400, codes.MalformedRequest},
		{"enrollment without a CSR", "POST /v1/pki/enroll", "application/json", `{"token":"a"}`, 400, codes.MalformedRequest},
		{"enrollment with an oversized body", "POST /v1/pki/enroll", "application/json", `{"token":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, codes.RequestTooLarge},
		{"enrollment with an unusable frame key", "POST /v1/pki/enroll", "application/json",
			`{"token":"a","csr":"x","frame_key":{"alg":"Ed25519","public_key":"nope"}}`, 400, string(frame.CodeBadKey)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(mem.ByCode(tc.code))
			path := strings.TrimPrefix(tc.route, "POST ")
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(tc.body))
			r.Header.Set("Content-Type", tc.ctype)
			w := httptest.NewRecorder()
			routes[tc.route].ServeHTTP(w, r)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), `"code":"`+tc.code+`"`) ||
				w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s", w.Code, w.Body)
			}
			if n := len(mem.ByCode(tc.code)); n != before+1 {
				t.Fatalf("%d events, want 1", n-before)
			}
		})
	}
}
