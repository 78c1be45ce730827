package webhook_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/sealtest"
	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
	"github.com/fifthwheel/fifthwheel/internal/webhook"
)

func TestStoreEndpointsOpensSealedSecrets(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	g := sealtest.New(t)
	for _, id := range []string{"acme", "beta"} {
		if err := st.CreateClient(ctx, store.Client{ID: id, Name: id, Status: store.ClientActive, CreatedAt: t0, Carrier: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{webhook.MinSecret - 1, webhook.MaxSecret + 1} {
		if _, err := webhook.SealSecret(g, "acme", make([]byte, n)); !errors.Is(err, webhook.ErrSecretSize) {
			t.Fatalf("a %d-byte secret: %v", n, err)
		}
	}
	sealed, err := webhook.SealSecret(g, "acme", secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetClientWebhook(ctx, store.ClientWebhook{Client: "acme", URL: "https://tms.example/h", Sealed: sealed, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	eps := webhook.StoreEndpoints{Store: st, Secrets: g}
	ep, err := eps.Endpoint(ctx, "acme")
	if err != nil || string(ep.Secret) != string(secret) || ep.URL != "https://tms.example/h" {
		t.Fatalf("Endpoint: %+v, %v", ep, err)
	}
	if _, err := eps.Endpoint(ctx, "beta"); !errors.Is(err, webhook.ErrNoEndpoint) {
		t.Fatalf("a client without a webhook: %v", err)
	}
}

// TestAttackWebhookSecretCopiedToAnotherClient: whoever can write the
// store copies acme's sealed secret to its own client's row, hoping the
// gateway signs that client's messages with acme's secret (or to learn
// it): the secret is sealed for acme and does not open for beta.
func TestAttackWebhookSecretCopiedToAnotherClient(t *testing.T) {
	st := storetest.Engines()[0].Open(t)
	g := sealtest.New(t)
	for _, id := range []string{"acme", "beta"} {
		if err := st.CreateClient(ctx, store.Client{ID: id, Name: id, Status: store.ClientActive, CreatedAt: t0, Carrier: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := webhook.SealSecret(g, "acme", secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetClientWebhook(ctx, store.ClientWebhook{Client: "beta", URL: "https://evil.example/h", Sealed: sealed, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if ep, err := (webhook.StoreEndpoints{Store: st, Secrets: g}).Endpoint(ctx, "beta"); err == nil {
		t.Fatalf("acme's secret opened for beta: %+v", ep)
	}
}
