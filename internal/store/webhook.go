package store

import (
	"context"
	"time"
)

// WebhookStore holds each TMS client's webhook (issue 20, "Push"): where
// the gateway POSTs the client's outbox messages and the HMAC secret it
// signs them with. The store keeps the secret only sealed (the caller
// seals it under the secrets key; ErrClearSecret refuses an empty one).
type WebhookStore interface {
	// SetClientWebhook sets (or replaces) a client's webhook; ErrNotFound
	// if the client does not exist, ErrClearSecret if w.Sealed is empty.
	SetClientWebhook(ctx context.Context, w ClientWebhook) error
	// GetClientWebhook returns a client's webhook or ErrNotFound.
	GetClientWebhook(ctx context.Context, client string) (ClientWebhook, error)
	// ClearClientWebhook removes a client's webhook; ErrNotFound if it has
	// none.
	ClearClientWebhook(ctx context.Context, client string) error
	// CarrierWebhookClients returns, ordered by id, the clients of carrier
	// that have a webhook (carrier "": none).
	CarrierWebhookClients(ctx context.Context, carrier string) ([]string, error)
}

// ClientWebhook is one client's webhook. Sealed is its secret as the
// caller sealed it.
type ClientWebhook struct {
	Client    string
	URL       string
	Sealed    []byte
	UpdatedAt time.Time
	UpdatedBy string
}
