package enroll

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/codes"
	"github.com/fifthwheel/fifthwheel/internal/event"
	"github.com/fifthwheel/fifthwheel/internal/pki"
	"github.com/fifthwheel/fifthwheel/internal/pki/pkitest"
	"github.com/fifthwheel/fifthwheel/internal/principal"
	"github.com/fifthwheel/fifthwheel/internal/store"
)

// usedTokenStore knows one join token, already used by truck-1, and that
// truck-1 has a key under kid "k1".
type usedTokenStore struct{ noStore }

func (usedTokenStore) GetJoinToken(context.Context, []byte) (store.JoinTokenRow, error) {
	now := time.Now()
	return store.JoinTokenRow{VehicleID: "truck-1", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), UsedAt: now.Add(-time.Minute)}, nil
}

func (usedTokenStore) GetVehicleKey(_ context.Context, vehicleID, kid string) (store.VehicleKey, error) {
	return store.VehicleKey{VehicleID: vehicleID, KID: kid, Alg: "Ed25519", Material: []byte("another key"), Status: store.KeyActive}, nil
}

// TestAttackUsedJoinTokenProbesVehicleKids: a join token that is spent (or
// expired) proves nothing: whoever holds an old one (a provisioning log, a
// retired truck) must be told token_used, as without a frame key, and
// recorded as a peer that proved nothing (with its source, aggregated). The
// frame key's kid check ran on any token the store knew: it answered 409
// kid_conflict, telling the holder which kids the vehicle uses, and
// recorded the refusal in the vehicle's name, one event each.
func TestAttackUsedJoinTokenProbesVehicleKids(t *testing.T) {
	mem := &event.MemorySink{}
	bus := event.NewBus(nil, nil, mem)
	reg := pki.NewMemRegistry()
	ca := pkitest.NewCA(t, pki.Config{}, pki.Deps{Registry: reg, Events: bus})
	tok, err := ca.CreateJoinToken(context.Background(), "truck-1", 0, principal.Principal{Kind: principal.Operator, ID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	api := &API{CA: ca, Store: usedTokenStore{noStore{t}}, Events: bus}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	body, _ := json.Marshal(EnrollRequest{Token: tok.Secret, CSR: "not a csr",
		FrameKey: &FrameKey{Alg: "Ed25519", PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), KID: "k1"}})
	r := httptest.NewRequest(http.MethodPost, "/v1/pki/enroll", strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	api.Routes()["POST /v1/pki/enroll"].ServeHTTP(w, r)
	if w.Code == http.StatusConflict || strings.Contains(w.Body.String(), codes.KIDConflict) {
		t.Fatalf("a spent token learned of the vehicle's kids: %d %s", w.Code, w.Body)
	}
	for _, ev := range mem.Events() {
		if ev.Verdict == event.Reject && ev.Source == "" {
			t.Fatalf("refusal of a spent token recorded without its source (not aggregated): %+v", ev)
		}
	}
}
