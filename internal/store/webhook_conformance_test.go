package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fifthwheel/fifthwheel/internal/store"
	"github.com/fifthwheel/fifthwheel/internal/store/storetest"
)

// TestClientWebhookConformance: clients' webhooks (migration 0011) on both
// engines.
func TestClientWebhookConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, e storetest.Engine) {
		cfg := e.New(t)
		st := storetest.OpenConfig(t, cfg)
		at := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
		for _, c := range []store.Client{
			{ID: "acme", Name: "ACME", Status: store.ClientActive, CreatedAt: at, Carrier: "acme-freight"},
			{ID: "beta", Name: "Beta", Status: store.ClientActive, CreatedAt: at, Carrier: "acme-freight"},
			{ID: "other", Name: "Other", Status: store.ClientActive, CreatedAt: at, Carrier: "other-freight"},
		} {
			if err := st.CreateClient(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		w := store.ClientWebhook{Client: "acme", URL: "https://tms.example/hook", Sealed: []byte("sealed-1"), UpdatedAt: at, UpdatedBy: "urn:fifthwheel:operator:ann"}
		if _, err := st.GetClientWebhook(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("webhook before it was set: %v", err)
		}
		if err := st.SetClientWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetClientWebhook(ctx, "acme"); err != nil || got.URL != w.URL || string(got.Sealed) != "sealed-1" || !got.UpdatedAt.Equal(at) || got.UpdatedBy != w.UpdatedBy {
			t.Fatalf("GetClientWebhook: %+v, %v", got, err)
		}
		// Replacing it keeps one row with the new values.
		w2 := w
		w2.URL, w2.Sealed, w2.UpdatedAt, w2.UpdatedBy = "https://tms.example/hook2", []byte("sealed-2"), at.Add(time.Hour), "urn:fifthwheel:operator:bob"
		if err := st.SetClientWebhook(ctx, w2); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.GetClientWebhook(ctx, "acme"); got.URL != w2.URL || string(got.Sealed) != "sealed-2" || got.UpdatedBy != w2.UpdatedBy || !got.UpdatedAt.Equal(w2.UpdatedAt) {
			t.Fatalf("after replace: %+v", got)
		}
		// Refusals change nothing.
		clear := w
		clear.Client, clear.Sealed = "beta", nil
		if err := st.SetClientWebhook(ctx, clear); !errors.Is(err, store.ErrClearSecret) {
			t.Fatalf("a clear secret: %v, want ErrClearSecret", err)
		}
		ghost := w
		ghost.Client = "ghost"
		if err := st.SetClientWebhook(ctx, ghost); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("an unknown client: %v, want ErrNotFound", err)
		}
		if _, err := st.GetClientWebhook(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the unknown client's webhook was stored: %v", err)
		}
		other := w
		other.Client = "other"
		if err := st.SetClientWebhook(ctx, other); err != nil {
			t.Fatal(err)
		}
		// Per carrier: only the clients of that carrier with a webhook.
		if got, err := st.CarrierWebhookClients(ctx, "acme-freight"); err != nil || len(got) != 1 || got[0] != "acme" {
			t.Fatalf("CarrierWebhookClients: %v, %v", got, err)
		}
		if got, err := st.CarrierWebhookClients(ctx, ""); err != nil || len(got) != 0 {
			t.Fatalf("carrier \"\": %v, %v", got, err)
		}
		// Another handle (replica) sees it.
		if got, err := storetest.OpenConfig(t, cfg).GetClientWebhook(ctx, "other"); err != nil || got.URL != w.URL {
			t.Fatalf("from another handle: %+v, %v", got, err)
		}
		if err := st.ClearClientWebhook(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		if err := st.ClearClientWebhook(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("clearing twice: %v, want ErrNotFound", err)
		}
		if got, _ := st.CarrierWebhookClients(ctx, "acme-freight"); len(got) != 0 {
			t.Fatalf("after clear: %v", got)
		}
		// Migration 0011 runs again and keeps the rows.
		st.Close()
		storetest.Exec(t, cfg, `DELETE FROM schema_migrations WHERE version >= 11`, `DELETE FROM schema_migrations WHERE version >= 11`)
		st = storetest.OpenConfig(t, cfg)
		if v, err := st.SchemaVersion(ctx); err != nil || v != store.LatestVersion() || v < 11 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if got, err := st.GetClientWebhook(ctx, "other"); err != nil || string(got.Sealed) != "sealed-1" {
			t.Fatalf("after the migration ran again: %+v, %v", got, err)
		}
	})
}
