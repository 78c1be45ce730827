package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

func (s *pgStore) SetClientWebhook(ctx context.Context, w ClientWebhook) error {
	if len(w.Sealed) == 0 {
		return ErrClearSecret
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id=$1 FOR SHARE`, w.Client).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: client %s", ErrNotFound, w.Client)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO client_webhooks(client,url,secret,updated,updated_by) VALUES($1,$2,$3,$4,$5)
			ON CONFLICT(client) DO UPDATE SET url=excluded.url, secret=excluded.secret, updated=excluded.updated, updated_by=excluded.updated_by`,
			w.Client, w.URL, w.Sealed, w.UpdatedAt.UTC(), w.UpdatedBy)
		return err
	})
}

func (s *pgStore) GetClientWebhook(ctx context.Context, client string) (ClientWebhook, error) {
	w := ClientWebhook{Client: client}
	err := s.pool.QueryRow(ctx, `SELECT url,secret,updated,updated_by FROM client_webhooks WHERE client=$1`, client).
		Scan(&w.URL, &w.Sealed, &w.UpdatedAt, &w.UpdatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return ClientWebhook{}, fmt.Errorf("%w: webhook of client %s", ErrNotFound, client)
	}
	w.UpdatedAt = w.UpdatedAt.UTC()
	return w, err
}

func (s *pgStore) ClearClientWebhook(ctx context.Context, client string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM client_webhooks WHERE client=$1`, client)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: webhook of client %s", ErrNotFound, client)
	}
	return nil
}

func (s *pgStore) CarrierWebhookClients(ctx context.Context, carrier string) ([]string, error) {
	if carrier == "" {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT c.id FROM clients c JOIN client_webhooks w ON w.client = c.id WHERE c.carrier=$1 ORDER BY c.id`, carrier)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
