package pki

import (
	"context"
	"log/slog"
	"time"
)

// pollFeed runs refresh every interval, and at once when wake fires, until
// ctx is done: the loop behind the store-fed feeds (RevocationSet,
// SuspensionWatch), which poll a cheap change counter and are woken early
// by PostgreSQL LISTEN/NOTIFY. Failures are logged when they start (warn,
// with failMsg and attrs) and when they end, not at every poll.
func pollFeed(ctx context.Context, interval time.Duration, wake <-chan struct{}, refresh func(context.Context) error,
	log *slog.Logger, name, failMsg string, attrs ...any) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		err := refresh(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			log.Warn(failMsg, append([]any{slog.Any("err", err)}, attrs...)...)
		case err == nil && failing:
			log.Info(name + " recovered")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
	}
}
