package webhook

import "time"

// Limits and defaults of the webhook sender, in one place.
const (
	// DefaultTimeout bounds one POST, from dialling to the last byte of
	// the (bounded) response. A receiver should answer at once and work
	// afterwards; ten seconds leaves room for a slow TLS handshake.
	DefaultTimeout = 10 * time.Second

	// DefaultLease is how long a claimed message is held by one sender.
	// It must exceed the request timeout with room to record the outcome,
	// or another replica could claim and send the message while the first
	// is still sending it (Config.valid checks Lease >= 2*Timeout).
	DefaultLease = 60 * time.Second

	// DefaultMaxAttempts is how many attempts a message gets before it is
	// a dead letter. With DefaultBaseBackoff and DefaultMaxBackoff, twelve
	// attempts span about nine hours.
	DefaultMaxAttempts = 12

	// DefaultMaxAge gives up a message a day after it was enqueued,
	// whatever its attempts: a command transition that old is news to
	// nobody, and the TMS can read the command's state.
	DefaultMaxAge = 24 * time.Hour

	// DefaultBaseBackoff is the delay after a first failure; it doubles
	// with each attempt up to DefaultMaxBackoff, and the actual delay is
	// drawn between half of it and all of it (jitter, so that a receiver
	// coming back is not hit by every replica's retries at once).
	DefaultBaseBackoff = 5 * time.Second
	DefaultMaxBackoff  = 2 * time.Hour

	// DefaultBatch is how many messages one claim takes. They are sent one
	// after another, so a batch holds its lease for at most
	// Batch*Timeout in the worst case; the lease is checked per message
	// (a message whose lease ran out is not sent, it is left to the
	// next claim).
	DefaultBatch = 16

	// DefaultInterval is how often Run polls the outbox.
	DefaultInterval = time.Second

	// MaxResponseBody is how much of a receiver's answer is read (then
	// discarded): enough to reuse the connection for a normal answer,
	// never unbounded memory or time for a hostile one.
	MaxResponseBody = 64 << 10

	// MinSecret and MaxSecret bound a webhook secret's length in bytes,
	// the same rule as an HS256 frame secret (RFC 7518 §3.2: at least the
	// hash's size).
	MinSecret = 32
	MaxSecret = 64

	// MaxURL bounds a webhook URL's length.
	MaxURL = 2048

	// ReplayTolerance is the clock difference Verify accepts between a
	// request's Webhook-Timestamp and the receiver's clock.
	ReplayTolerance = 5 * time.Minute
)
