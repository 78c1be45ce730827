package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (s *sqliteStore) SetClientWebhook(ctx context.Context, w ClientWebhook) error {
	if len(w.Sealed) == 0 {
		return ErrClearSecret
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRow(`SELECT 1 FROM clients WHERE id=?`, w.Client).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: client %s", ErrNotFound, w.Client)
		} else if err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO client_webhooks(client,url,secret,updated_us,updated_by) VALUES(?,?,?,?,?)
			ON CONFLICT(client) DO UPDATE SET url=excluded.url, secret=excluded.secret, updated_us=excluded.updated_us, updated_by=excluded.updated_by`,
			w.Client, w.URL, w.Sealed, w.UpdatedAt.UnixMicro(), w.UpdatedBy)
		return err
	})
}

func (s *sqliteStore) GetClientWebhook(ctx context.Context, client string) (ClientWebhook, error) {
	w := ClientWebhook{Client: client}
	var us int64
	err := s.rdb.QueryRowContext(ctx, `SELECT url,secret,updated_us,updated_by FROM client_webhooks WHERE client=?`, client).
		Scan(&w.URL, &w.Sealed, &us, &w.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		return ClientWebhook{}, fmt.Errorf("%w: webhook of client %s", ErrNotFound, client)
	}
	w.UpdatedAt = time.UnixMicro(us).UTC()
	return w, err
}

func (s *sqliteStore) ClearClientWebhook(ctx context.Context, client string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.Exec(`DELETE FROM client_webhooks WHERE client=?`, client)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: webhook of client %s", ErrNotFound, client)
		}
		return nil
	})
}

func (s *sqliteStore) CarrierWebhookClients(ctx context.Context, carrier string) ([]string, error) {
	if carrier == "" {
		return nil, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT c.id FROM clients c JOIN client_webhooks w ON w.client = c.id WHERE c.carrier=? ORDER BY c.id`, carrier)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
