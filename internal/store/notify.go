package store

import "context"

// Notifier is implemented by engines that push change notifications:
// PostgreSQL, through LISTEN/NOTIFY (RevocationChannel,
// VehicleStatusChannel, AuthorityChannel, CommandsChannel). SQLite has no
// such channel; its readers poll (a revocation is noticed at the next RevocationVersion poll,
// a suspension at the next VehicleStatusVersion poll, a change of a
// client's or operator's authority at the next AuthorityVersion poll, a
// queued command at the next ListQueuedCommands poll).
//
// Notifications only shorten the wait: callers must poll as well, since a
// notification sent while the listening connection was down is lost.
type Notifier interface {
	// Listen subscribes to channel on a dedicated connection, calls fn once
	// the subscription is active (whatever happened before it may have been
	// missed, so fn should refresh), then once per notification. It blocks
	// until ctx is done (and returns nil) or the connection fails (and
	// returns the error; the caller retries after a pause). fn runs on
	// Listen's goroutine and must not block.
	Listen(ctx context.Context, channel string, fn func()) error
}

// PayloadNotifier is a Notifier that also hands over each notification's
// payload (CommandsChannel carries the vehicle id, so the replica holding
// its session delivers without looking at every other vehicle).
type PayloadNotifier interface {
	// ListenPayload is Listen with the payload: fn gets "" once the
	// subscription is active (refresh everything), then each
	// notification's payload.
	ListenPayload(ctx context.Context, channel string, fn func(payload string)) error
}
