package webhook

import (
	"context"
	"errors"
	"fmt"

	"github.com/fifthwheel/fifthwheel/internal/store"
)

// Webhook secrets at rest. Whoever reads a client's webhook secret can
// sign webhooks its receiver accepts, so the store keeps it only sealed
// under a SecretSealer (in the gateway: the secrets key of the CA
// directory, the one that seals HS256 frame secrets). The additional data
// binds a sealed secret to its client, so a sealed value copied to another
// client's row does not open.

// SecretSealer seals and opens secrets with authenticated additional data
// (pki.KeyEncrypter fits).
type SecretSealer interface {
	Encrypt(plaintext, aad []byte) ([]byte, error)
	Decrypt(ciphertext, aad []byte) ([]byte, error)
}

// ErrSecretSize: a webhook secret of fewer than MinSecret or more than
// MaxSecret bytes.
var ErrSecretSize = fmt.Errorf("webhook: a secret must be %d to %d random bytes", MinSecret, MaxSecret)

func secretAAD(client string) []byte {
	return []byte("fifthwheel webhook-secret v1\x00" + client)
}

// SealSecret checks secret's size and seals it for client.
func SealSecret(s SecretSealer, client string, secret []byte) ([]byte, error) {
	if len(secret) < MinSecret || len(secret) > MaxSecret {
		return nil, ErrSecretSize
	}
	if s == nil {
		return nil, errors.New("webhook: no secrets key to seal the secret")
	}
	return s.Encrypt(secret, secretAAD(client))
}

// OpenSecret opens a secret SealSecret sealed for client.
func OpenSecret(s SecretSealer, client string, sealed []byte) ([]byte, error) {
	if s == nil {
		return nil, errors.New("webhook: no secrets key to open the secret")
	}
	secret, err := s.Decrypt(sealed, secretAAD(client))
	if err != nil {
		return nil, fmt.Errorf("webhook: open the secret of client %s: %w", client, err)
	}
	if len(secret) < MinSecret || len(secret) > MaxSecret {
		return nil, ErrSecretSize
	}
	return secret, nil
}

// StoreEndpoints looks clients' webhooks up in the store and opens their
// secrets: the Endpoints of a gateway.
type StoreEndpoints struct {
	Store   store.WebhookStore
	Secrets SecretSealer
}

// Endpoint implements Endpoints. A secret that does not open is an error
// (the message is retried, then a dead letter): never an unsigned request.
func (e StoreEndpoints) Endpoint(ctx context.Context, client string) (Endpoint, error) {
	w, err := e.Store.GetClientWebhook(ctx, client)
	if errors.Is(err, store.ErrNotFound) {
		return Endpoint{}, ErrNoEndpoint
	}
	if err != nil {
		return Endpoint{}, err
	}
	secret, err := OpenSecret(e.Secrets, client, w.Sealed)
	if err != nil {
		return Endpoint{}, err
	}
	return Endpoint{URL: w.URL, Secret: secret}, nil
}
