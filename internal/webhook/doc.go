// Package webhook pushes the outbox's messages to each TMS client's
// webhook (issue 20, "Push, so TMS engineers need not poll"): command
// transitions and the vehicle states that matter to dispatch.
//
// A Sender claims due messages from the store's outbox with a lease
// (store.ClaimWebhooks; on PostgreSQL with SKIP LOCKED, so two replicas
// never hold the same message at once), POSTs each message's JSON body to
// its client's https URL, and marks it delivered on a 2xx answer. Anything
// else (another status, a redirect, a timeout, a refused address) is a
// failure: the message is rescheduled with exponential back-off and
// jitter, and after MaxAttempts attempts or MaxAge since it was enqueued
// it is marked dead and kept in the store (the dead letters). Every
// failure and every dead letter is an event (codes.WebhookDeliveryFailed,
// codes.WebhookDeadLettered).
//
// # Delivery is at least once
//
// A receiver may see a message more than once: the gateway may crash
// after the receiver answered and before the store recorded it, or the
// answer may be lost. Every attempt of one message carries the same
// Webhook-Id, so a receiver deduplicates on it. Messages are sent in
// outbox order per claim, but a retried message can arrive after a later
// one: each body carries its own time and the command's state, and a
// receiver that needs order reads GET /v1/commands/{id}.
//
// # Security model
//
// Each client's webhook has its own secret of 32 to 64 random bytes
// (the same rule as the HS256 frame secrets), sealed at rest under the
// gateway's secrets key. Each request carries three headers:
//
//	Webhook-Id:        the message id (decimal), the same on every attempt
//	Webhook-Timestamp: the attempt's time, Unix seconds (decimal)
//	Webhook-Signature: v1=<hex HMAC-SHA256(secret, id + "." + timestamp + "." + body)>
//
// hex is lowercase. The signature proves that the body, the id and the
// timestamp come from someone who holds the client's secret (the gateway,
// or the client itself) and were not altered. It proves nothing about
// freshness by itself; the receiver gets that from the timestamp and the
// id:
//
//  1. Reject a request whose Webhook-Timestamp differs from the
//     receiver's clock by more than a tolerance (five minutes is the
//     usual choice; ReplayTolerance). Because the timestamp is signed, an
//     old body cannot be replayed with a fresh timestamp.
//  2. Compute the HMAC over the exact received bytes of id "." timestamp
//     "." body, before any JSON parsing, and compare it with the
//     signature's hex in constant time. Several "v1=" values separated by
//     spaces may appear (reserved for secret rotation); one match is
//     enough.
//  3. Remember the ids accepted within the tolerance and drop a repeat:
//     a replay within the window, or an at-least-once redelivery.
//
// Verify implements this recipe for Go receivers (and is what the tests
// check against an independent implementation). The scheme follows the
// Standard Webhooks specification's layout (id, timestamp, signed content
// "id.timestamp.body"), with a hex "v1=" signature.
//
// The body is not encrypted beyond TLS: the URL must be https, and the
// gateway verifies the server's certificate against the system roots.
//
// # Outbound requests (SSRF)
//
// A webhook URL is an operator's setting, but the gateway would still
// become a way to reach its own network if a URL named an internal
// address. So the Sender fails closed: only https URLs; redirects are
// never followed (a 3xx is a failure); and the address actually dialled,
// after DNS resolution, is checked in the dialer's Control hook (which
// also defeats DNS rebinding between a check and the connection):
// loopback, private (RFC 1918, RFC 4193), link-local, CGNAT
// (100.64.0.0/10), unspecified, multicast and other non-global addresses
// are refused unless Config.AllowPrivate is set (off by default; tests
// and deployments whose TMS lives on a private network set it). Responses
// are read up to MaxResponseBody and discarded; each request has a
// timeout.
//
// # Compatibility
//
// The headers, the signed content and the "v1=" prefix are a contract
// with receivers: a new scheme would get a new prefix, sent alongside v1
// during a transition.
package webhook
